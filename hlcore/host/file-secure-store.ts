// A SecureStore on a host file system: one file per item, mode 0600, in a directory of mode 0700,
// replaced atomically (write a temporary file, fsync, rename). Nothing here prints item contents.
import { chmodSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { checkItemName, type SecureStore } from '../secure-store.ts';

export class FileSecureStore implements SecureStore {
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
  }

  private path(name: string): string {
    checkItemName(name);
    return join(this.dir, name);
  }

  async get(name: string): Promise<Uint8Array | null> {
    const p = this.path(name);
    if (!existsSync(p)) return null;
    return new Uint8Array(readFileSync(p));
  }

  async put(name: string, data: Uint8Array): Promise<void> {
    const p = this.path(name);
    const tmp = `${p}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    chmodSync(tmp, 0o600); // the file may have existed with wider rights
    renameSync(tmp, p);
  }

  async delete(name: string): Promise<void> {
    rmSync(this.path(name), { force: true });
  }
}
