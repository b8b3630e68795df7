// The image package codec (format: mcu/PACKAGE.md): write and sign, parse and verify. Shared by
// `rover pack` (tools/pack.ts) and the device side of flashing (boards/flash/device.ts), which checks
// the signature before it marks a slot bootable.
import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';

export const MAGIC = Buffer.from('ROVERPK1', 'latin1');
export const FORMAT_VERSION = 1;

export interface Entry {
  path: string;
  bytes: number;
  sha256: string;
}

export interface PackageHeader {
  format: 'rover-package';
  version: number;
  board: string;
  rig: string;
  signer: { alg: 'ECDSA-P256-SHA256'; keyId: string };
  entries: Entry[];
}

export class PackageError extends Error {}

export const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Key id: SHA-256 of the public key (SubjectPublicKeyInfo, DER), first 16 hex digits. */
export function keyId(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return sha256(pub.export({ type: 'spki', format: 'der' })).slice(0, 16);
}

/** Serialize and sign: MAGIC, u32 header length, header JSON, entry bytes, u32 signature length, signature. */
export function writePackage(files: { path: string; data: Uint8Array }[], meta: { board: string; rig: string }, key: KeyObject): Buffer {
  const header: PackageHeader = {
    format: 'rover-package',
    version: FORMAT_VERSION,
    board: meta.board,
    rig: meta.rig,
    signer: { alg: 'ECDSA-P256-SHA256', keyId: keyId(key) },
    entries: files.map((f) => ({ path: f.path, bytes: f.data.length, sha256: sha256(f.data) })),
  };
  const h = Buffer.from(JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32LE(h.length);
  const body = Buffer.concat([MAGIC, len, h, ...files.map((f) => Buffer.from(f.data))]);
  const sig = sign('sha256', body, { key, dsaEncoding: 'der' });
  const slen = Buffer.alloc(4);
  slen.writeUInt32LE(sig.length);
  return Buffer.concat([body, slen, sig]);
}

/** Parse and check a package against the trusted public key; returns the header and the files. */
export function verifyPackage(pkg: Uint8Array, trusted: KeyObject): { header: PackageHeader; files: Map<string, Uint8Array> } {
  const b = Buffer.from(pkg.buffer, pkg.byteOffset, pkg.byteLength);
  if (b.length < 16 || !b.subarray(0, 8).equals(MAGIC)) throw new PackageError('not a rover package (bad magic)');
  const hlen = b.readUInt32LE(8);
  if (12 + hlen > b.length) throw new PackageError('truncated header');
  let header: PackageHeader;
  try {
    header = JSON.parse(b.subarray(12, 12 + hlen).toString('utf8'));
  } catch {
    throw new PackageError('header is not valid JSON');
  }
  if (header?.format !== 'rover-package' || header.version !== FORMAT_VERSION || !Array.isArray(header.entries)) {
    throw new PackageError(`unsupported package format ${JSON.stringify(header?.format)} v${header?.version}`);
  }
  let off = 12 + hlen;
  const files = new Map<string, Uint8Array>();
  for (const e of header.entries) {
    if (typeof e.path !== 'string' || !Number.isSafeInteger(e.bytes) || e.bytes < 0 || off + e.bytes > b.length) throw new PackageError(`entry ${JSON.stringify(e?.path)}: bad size`);
    const data = b.subarray(off, off + e.bytes);
    if (sha256(data) !== e.sha256) throw new PackageError(`entry ${e.path}: SHA-256 mismatch (content altered)`);
    files.set(e.path, new Uint8Array(data));
    off += e.bytes;
  }
  if (off + 4 > b.length) throw new PackageError('signature missing');
  const slen = b.readUInt32LE(off);
  if (off + 4 + slen !== b.length) throw new PackageError('signature length does not match the file size');
  const want = keyId(trusted);
  if (header.signer?.keyId !== want) throw new PackageError(`signed by key ${header.signer?.keyId}, not by the trusted key ${want}: refused`);
  if (!verify('sha256', b.subarray(0, off), { key: trusted, dsaEncoding: 'der' }, b.subarray(off + 4))) {
    throw new PackageError('signature does not verify: the package was altered or signed by another key');
  }
  return { header, files };
}
