// `rover pack`: the image package for a device — the RT core ELF (Cortex-M4F build of the shipped
// rtcore.wasm), the hlcore bundle, and both app manifests generated from the board and rig data —
// signed with ECDSA P-256. `rover pack --verify` checks a package. Format: mcu/PACKAGE.md.
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CommandError, jsonLine, parse, UsageError } from './cli.ts';
import { loadRig, HardwareError } from '../boards/hardware.ts';
import { ROOT, buildTarget, TargetBuildError } from './build-target.ts';
import { keyId, PackageError, sha256, verifyPackage, writePackage } from '../boards/flash/package.ts';

export { MAGIC, FORMAT_VERSION, keyId, PackageError, verifyPackage, writePackage, type Entry, type PackageHeader } from '../boards/flash/package.ts';

export const DEFAULT_KEY = join(homedir(), '.config', 'rover', 'signing-key.pem');
/** Placeholder tenant (DeviceAuthentication) until --tenant names the real one. */
export const NO_TENANT = '00000000-0000-0000-0000-000000000000';

export const help = `rover pack [--rig FILE] [--out FILE] [--key FILE] [--tenant GUID] [--hub HOST] [--json]
rover pack --verify PACKAGE [--key FILE | --pubkey FILE] [--json]

Builds the device image package (format: mcu/PACKAGE.md):
  rtcore/app.elf            the MT3620 RT core image (rover build --target mt3620, stripped)
  rtcore/rtcore.wasm        the release firmware it was translated from
  rtcore/app_manifest.json  RealTimeCapable; ComponentId from rtcore/app_manifest.json; Gpio from
                            the rig's wiring; AllowedApplicationConnections = the HL app
  hlcore/app_manifest.json  Default; AllowedConnections (DPS, --hub), DeviceAuthentication (--tenant),
                            AllowedApplicationConnections = the RT app
  hlcore/app.mjs            the hlcore bundle (esbuild of hlcore/app.ts; better-sqlite3 installed beside it)
and signs it with ECDSA P-256 / SHA-256.

  --rig FILE     rig file or name in boards/rigs (default rover-hcsr04)
  --out FILE     package file (default build/rover.rpk)
  --key FILE     signing key, PEM (default ~/.config/rover/signing-key.pem). Must live outside the
                 repository. Created on first use (mode 0600) as a development key.
  --tenant GUID  the Azure Sphere tenant for DeviceAuthentication (default ${NO_TENANT})
  --hub HOST     IoT Hub host name to add to AllowedConnections
  --verify PKG   check PKG: layout, every entry's SHA-256, and the signature against the trusted key
                 (the public half of --key, or --pubkey FILE, a PEM public key)
  --json         one JSON object with the result

Exit code 0: package written / package valid; 1: verification failed; 2: bad argument.`;

function checkP256(key: KeyObject, file: string): void {
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new UsageError(`${file}: not an ECDSA P-256 key`);
  }
}

/** The signing key: read it, or create a development key (0600) when it does not exist. */
export function loadOrCreateKey(file: string, log: (s: string) => void = () => {}): KeyObject {
  const abs = resolve(file);
  if (!relative(ROOT, abs).startsWith('..') && !relative(ROOT, abs).startsWith('/')) {
    throw new UsageError(`--key ${file}: the signing key must live outside the repository`);
  }
  if (!existsSync(abs)) {
    mkdirSync(dirname(abs), { recursive: true, mode: 0o700 });
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    writeFileSync(abs, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
    chmodSync(abs, 0o600);
    log(`rover pack: created a development signing key at ${abs} (mode 0600, key id ${keyId(privateKey)}); keep it out of the repository and back it up`);
    return privateKey;
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(readFileSync(abs));
  } catch (e) {
    throw new UsageError(`--key ${file}: not a PEM private key (${(e as Error).message})`);
  }
  checkP256(key, file);
  return key;
}

/** The trusted public key for --verify. */
export function loadPublicKey(file: string): KeyObject {
  let text: Buffer;
  try {
    text = readFileSync(file);
  } catch {
    throw new UsageError(`cannot read key ${file}`);
  }
  let key: KeyObject;
  try {
    key = createPublicKey(text); // accepts a private key PEM too (its public half)
  } catch (e) {
    throw new UsageError(`${file}: not a PEM key (${(e as Error).message})`);
  }
  checkP256(key, file);
  return key;
}

/** App manifests from the repository's component ids and the rig (shared/reference/hardware.md, "App manifests"). */
export function manifests(rigName: string | undefined, opts: { tenant?: string; hub?: string } = {}) {
  const rt = JSON.parse(readFileSync(join(ROOT, 'rtcore', 'app_manifest.json'), 'utf8'));
  const hl = JSON.parse(readFileSync(join(ROOT, 'hlcore', 'app_manifest.json'), 'utf8'));
  const rig = loadRig(rigName);
  const gpio = [...new Set(rig.wiring.values())].sort((a, b) => a - b);
  const tenant = opts.tenant ?? NO_TENANT;
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(tenant)) throw new UsageError(`--tenant: expected a GUID, got '${tenant}'`);
  const allowed = [...(hl.Capabilities?.AllowedConnections ?? [])];
  if (opts.hub && !allowed.includes(opts.hub)) allowed.push(opts.hub);
  const rtManifest = {
    SchemaVersion: 1,
    Name: rt.Name,
    ComponentId: rt.ComponentId,
    EntryPoint: rt.EntryPoint ?? '/bin/app',
    CmdArgs: rt.CmdArgs ?? [],
    Capabilities: { Gpio: gpio, AllowedApplicationConnections: [hl.ComponentId] },
    ApplicationType: 'RealTimeCapable',
  };
  const hlManifest = {
    SchemaVersion: 1,
    Name: hl.Name,
    ComponentId: hl.ComponentId,
    EntryPoint: hl.EntryPoint ?? '/bin/app',
    CmdArgs: hl.CmdArgs ?? [],
    Capabilities: { AllowedConnections: allowed, DeviceAuthentication: tenant, AllowedApplicationConnections: [rt.ComponentId] },
    ApplicationType: 'Default',
  };
  return { rt: rtManifest, hl: hlManifest, rig };
}

/** The hlcore bundle: hlcore/app.ts and everything it imports in one ES module (esbuild), for Node
 *  on the high-level core. better-sqlite3 stays outside: it is a native addon, installed beside the
 *  bundle for the device's architecture. */
export async function hlcoreBundle(): Promise<Uint8Array> {
  const esbuild = await import('esbuild');
  const r = await esbuild.build({
    entryPoints: [join(ROOT, 'hlcore', 'app.ts')],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    external: ['better-sqlite3'],
    write: false,
    legalComments: 'none',
    minify: true,
    logLevel: 'silent',
    // CommonJS dependencies (MQTT.js's own) call require(): give the ES module one.
    banner: { js: "import { createRequire as __rover_cr } from 'node:module'; const require = __rover_cr(import.meta.url);" },
  });
  return r.outputFiles[0].contents;
}

export async function pack(opts: { rig?: string; key: KeyObject; tenant?: string; hub?: string; outDir?: string }): Promise<Buffer> {
  const m = manifests(opts.rig, opts);
  const built = await buildTarget('mt3620', { rig: opts.rig, outDir: opts.outDir });
  const stripped = built.elf.replace(/\.elf$/, '.stripped.elf');
  await promisify(execFile)('arm-none-eabi-strip', ['-o', stripped, built.elf]);
  const enc = (o: unknown) => Buffer.from(JSON.stringify(o, null, 2) + '\n');
  return writePackage([
    { path: 'rtcore/app_manifest.json', data: enc(m.rt) },
    { path: 'rtcore/app.elf', data: readFileSync(stripped) },
    { path: 'rtcore/rtcore.wasm', data: readFileSync(join(ROOT, 'build', 'rtcore.wasm')) },
    { path: 'hlcore/app_manifest.json', data: enc(m.hl) },
    { path: 'hlcore/app.mjs', data: await hlcoreBundle() },
  ], { board: m.rig.board.name, rig: relative(ROOT, m.rig.file) }, opts.key);
}

export async function main(argv: string[]): Promise<number> {
  const a = parse(argv, {
    rig: { type: 'string' }, out: { type: 'string' }, key: { type: 'string' }, pubkey: { type: 'string' },
    tenant: { type: 'string' }, hub: { type: 'string' }, verify: { type: 'string' }, json: { type: 'boolean' },
  }, help);
  if (!a) return 0;
  const v = a.values;
  if (v.verify !== undefined) {
    if (v.key && v.pubkey) throw new UsageError('--key and --pubkey exclude each other');
    const trusted = v.pubkey ? loadPublicKey(v.pubkey) : loadPublicKey(v.key ?? DEFAULT_KEY);
    let pkg: Buffer;
    try {
      pkg = readFileSync(v.verify);
    } catch {
      throw new UsageError(`--verify: cannot read ${v.verify}`);
    }
    try {
      const { header } = verifyPackage(pkg, trusted);
      if (v.json) jsonLine({ valid: true, package: v.verify, keyId: header.signer.keyId, board: header.board, rig: header.rig, entries: header.entries });
      else console.log(`${v.verify}: valid, signed by key ${header.signer.keyId}; ${header.entries.map((e) => `${e.path} (${e.bytes} B)`).join(', ')}`);
      return 0;
    } catch (e) {
      if (!(e instanceof PackageError)) throw e;
      if (v.json) jsonLine({ valid: false, package: v.verify, reason: e.message });
      throw new CommandError(`${v.verify}: ${e.message}`);
    }
  }
  if (v.pubkey) throw new UsageError('--pubkey is for --verify');
  const key = loadOrCreateKey(v.key ?? DEFAULT_KEY, (s) => console.error(s));
  const out = resolve(v.out ?? join(ROOT, 'build', 'rover.rpk'));
  let pkg: Buffer;
  try {
    pkg = await pack({ rig: v.rig, key, tenant: v.tenant, hub: v.hub });
  } catch (e) {
    if (e instanceof HardwareError) throw new UsageError(e.message);
    if (e instanceof TargetBuildError) throw new CommandError(e.message);
    throw e;
  }
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, pkg);
  const { header } = verifyPackage(pkg, key.type === 'private' ? createPublicKey(key) : key);
  if (v.json) jsonLine({ package: out, bytes: pkg.length, keyId: header.signer.keyId, entries: header.entries });
  else {
    console.log(`${out}: ${pkg.length} bytes, signed by key ${header.signer.keyId}`);
    for (const e of header.entries) console.log(`  ${e.path.padEnd(26)} ${String(e.bytes).padStart(7)} B  sha256 ${e.sha256.slice(0, 16)}`);
    if ((v.tenant ?? NO_TENANT) === NO_TENANT) console.error('rover pack: note: DeviceAuthentication is the placeholder tenant; pass --tenant GUID for a real device');
  }
  return 0;
}
