// The simulated device's secure storage: in memory, outliving an HL core restart when the simulator
// hands the same instance to the new hlcore Device (as the flash would). Copies in and out, so no
// caller can alter stored bytes behind the store's back.
import { checkItemName, type SecureStore } from '../hlcore/secure-store.ts';

export class MemorySecureStore implements SecureStore {
  private readonly items = new Map<string, Uint8Array>();

  async get(name: string): Promise<Uint8Array | null> {
    checkItemName(name);
    const v = this.items.get(name);
    return v ? new Uint8Array(v) : null;
  }

  async put(name: string, data: Uint8Array): Promise<void> {
    checkItemName(name);
    this.items.set(name, new Uint8Array(data));
  }

  async delete(name: string): Promise<void> {
    this.items.delete(name);
  }

  /** Item names (never contents), for diagnostics. */
  names(): string[] {
    return [...this.items.keys()].sort();
  }
}
