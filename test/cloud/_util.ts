// Shared helpers for the cloud tests: temp dirs, OpenSSL, the real CLI, and directory hashes.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const repoRoot = new URL('../..', import.meta.url).pathname;
export const DAY = 86_400_000;

export function tempDir(tag: string): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), `rover-${tag}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Runs openssl; returns stdout, or throws with its stderr. */
export function openssl(args: string[], input?: Uint8Array | string): string {
  return execFileSync('/usr/bin/openssl', args, { input, stdio: ['pipe', 'pipe', 'pipe'] }).toString();
}

/** openssl, returning its exit status and output instead of throwing. */
export function opensslStatus(args: string[]): { status: number; out: string } {
  const r = spawnSync('/usr/bin/openssl', args);
  return { status: r.status ?? -1, out: r.stdout.toString() + r.stderr.toString() };
}

/** The real `rover ca` command line, as an operator runs it. */
export function rover(args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'tools/rover.ts', 'ca', ...args], { cwd: repoRoot, encoding: 'utf8' });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** SHA-256 of every file under dir, by relative path, with its mode: to prove a refusal changed nothing. */
export function hashTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!existsSync(dir)) return out;
  const walk = (d: string, rel: string) => {
    for (const n of readdirSync(d).sort()) {
      const p = join(d, n);
      const r = rel ? `${rel}/${n}` : n;
      const st = statSync(p);
      if (st.isDirectory()) walk(p, r);
      else out[r] = `${(st.mode & 0o777).toString(8)} ${createHash('sha256').update(readFileSync(p)).digest('hex')}`;
    }
  };
  walk(dir, '');
  return out;
}

/** A P-256 key and a CSR made by OpenSSL (an implementation independent of ours). */
export function opensslCsr(dir: string, cn: string): { key: string; csrPem: string } {
  const key = join(dir, `${cn}.key`);
  const csr = join(dir, `${cn}.csr`);
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-subj', `/CN=${cn}`, '-out', csr]);
  return { key, csrPem: readFileSync(csr, 'utf8') };
}

export const utc = (s: string) => Date.parse(s);
export const addYearsUtc = (ms: number, n: number) => {
  const d = new Date(ms);
  return Date.UTC(d.getUTCFullYear() + n, d.getUTCMonth(), d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds());
};
