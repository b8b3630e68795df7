// `rover pack`: the signed image package (mcu/PACKAGE.md). Manifests come from the component ids
// and the rig; the signature (ECDSA P-256) covers every byte; a wrong key is refused.
import { suite } from 'uvu';
import { pathToFileURL } from 'node:url';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { pack, verifyPackage, loadOrCreateKey, PackageError, writePackage, keyId, main } from '../../tools/pack.ts';
import { ROOT } from '../../tools/build-target.ts';
import { CommandError, UsageError } from '../../tools/cli.ts';
import { haveTools } from './_qemu.ts';

const p = suite('mcu: rover pack');
const missing = haveTools();
const dir = mkdtempSync(join(tmpdir(), 'rover-pack-'));
p.after(() => rmSync(dir, { recursive: true, force: true }));

let pkg: Buffer;
const keyFile = join(dir, 'cfg', 'rover', 'signing-key.pem');

p('first use creates a development key, mode 0600, and says so', () => {
  const said: string[] = [];
  const k = loadOrCreateKey(keyFile, (s) => said.push(s));
  assert.ok(existsSync(keyFile));
  assert.is(statSync(keyFile).mode & 0o777, 0o600);
  assert.match(said.join('\n'), /created a development signing key at .*signing-key\.pem/);
  assert.is(k.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  const again: string[] = [];
  assert.is(keyId(loadOrCreateKey(keyFile, (s) => again.push(s))), keyId(k), 'second use reads the same key');
  assert.is(again.length, 0);
  assert.throws(() => loadOrCreateKey(join(ROOT, 'build', 'key.pem')), (e: Error) => e instanceof UsageError && /outside the repository/.test(e.message));
});

p('package: ELF, wasm, manifests from the rig; verifies with the key', async () => {
  if (missing) throw new Error(`${missing} not installed (CI installs it: .ci/run)`);
  const key = loadOrCreateKey(keyFile);
  pkg = await pack({ key, rig: 'rover-hcsr04', tenant: '7e4f1c2a-0b1d-4e5f-9a8b-123456789abc', hub: 'rover-hub.azure-devices.net', outDir: join(dir, 'build') });
  const { header, files } = verifyPackage(pkg, createPublicKey(key));
  assert.equal(header.entries.map((e) => e.path), ['rtcore/app_manifest.json', 'rtcore/app.elf', 'rtcore/rtcore.wasm', 'hlcore/app_manifest.json', 'hlcore/app.mjs']);
  const elf = files.get('rtcore/app.elf')!;
  assert.equal([...elf.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46], 'an ELF');
  assert.is(elf[18] | (elf[19] << 8), 40, 'e_machine = EM_ARM');
  assert.ok(Buffer.compare(files.get('rtcore/rtcore.wasm')!, readFileSync(join(ROOT, 'build/rtcore.wasm'))) === 0);

  const rtIds = JSON.parse(readFileSync(join(ROOT, 'rtcore/app_manifest.json'), 'utf8')).ComponentId;
  const hlIds = JSON.parse(readFileSync(join(ROOT, 'hlcore/app_manifest.json'), 'utf8')).ComponentId;
  const rt = JSON.parse(Buffer.from(files.get('rtcore/app_manifest.json')!).toString());
  const hl = JSON.parse(Buffer.from(files.get('hlcore/app_manifest.json')!).toString());
  assert.is(rt.ComponentId, rtIds);
  assert.is(rt.ApplicationType, 'RealTimeCapable');
  assert.is(rt.EntryPoint, '/bin/app');
  // rover-hcsr04 on the Seeed RDB: TRIG/ECHO/VCC at H1.4, H1.6, H1.8 and H1.12, H2.4, H2.6 = GPIO 0, 1, 2, 4, 5, 6
  assert.equal(rt.Capabilities.Gpio, [0, 1, 2, 4, 5, 6]);
  assert.equal(rt.Capabilities.AllowedApplicationConnections, [hlIds]);
  assert.is(hl.ComponentId, hlIds);
  assert.is(hl.ApplicationType, 'Default');
  assert.equal(hl.Capabilities.AllowedApplicationConnections, [rtIds]);
  assert.equal(hl.Capabilities.AllowedConnections, ['global.azure-devices-provisioning.net', 'rover-hub.azure-devices.net']);
  assert.is(hl.Capabilities.DeviceAuthentication, '7e4f1c2a-0b1d-4e5f-9a8b-123456789abc');
  // The hlcore bundle is one ES module that Node loads with only better-sqlite3 beside it (here: the
  // repository's node_modules), exporting the Device and the host implementations.
  const bundle = join(ROOT, 'build', `hlcore-app-${process.pid}.mjs`);
  writeFileSync(bundle, files.get('hlcore/app.mjs')!);
  try {
    const app = await import(pathToFileURL(bundle).href);
    for (const k of ['Device', 'TlsNetworkLink', 'FileSecureStore', 'WallClock', 'SqliteStorage', 'seededRandom']) assert.type(app[k], 'function', k);
    assert.is(app.MODEL_ID, (await import('../../hlcore/pnp.ts')).MODEL_ID);
    assert.not.match(Buffer.from(files.get('hlcore/app.mjs')!).toString(), /from ["']\.\.?\//, 'no relative imports left: self-contained');
  } finally {
    rmSync(bundle, { force: true });
  }
});

p('tampering with any byte is detected', () => {
  if (missing) throw new Error(`${missing} not installed`);
  const pub = createPublicKey(loadOrCreateKey(keyFile));
  // every byte of the magic, length, header, signature length and signature; in the entries (the
  // hlcore bundle makes them megabytes) about 5,000 positions spread over every entry, first and
  // last byte of each included
  const hlen = pkg.readUInt32LE(8);
  let off = 12 + hlen;
  const header = JSON.parse(pkg.subarray(12, 12 + hlen).toString());
  for (const e of header.entries) off += e.bytes;
  const positions: number[] = [];
  const step = Math.max(1, Math.floor((off - 12 - hlen) / 5000));
  for (let i = 0; i < pkg.length; i++) if (i < 12 + hlen || i >= off || (i - 12 - hlen) % step === 0) positions.push(i);
  let at = 12 + hlen;
  for (const e of header.entries) {
    if (e.bytes > 0) positions.push(at, at + e.bytes - 1);
    at += e.bytes;
  }
  let detected = 0;
  for (const i of positions) {
    const t = Buffer.from(pkg);
    t[i] ^= 0x01 << (i % 8);
    try {
      verifyPackage(t, pub);
    } catch (e) {
      if (e instanceof PackageError) detected++;
      else throw e;
    }
  }
  assert.is(detected, positions.length, `${positions.length - detected} of ${positions.length} flips not detected`);
  // A truncated or extended file is refused too.
  assert.throws(() => verifyPackage(pkg.subarray(0, pkg.length - 1), pub), (e: Error) => e instanceof PackageError);
  assert.throws(() => verifyPackage(Buffer.concat([pkg, Buffer.from([0])]), pub), (e: Error) => e instanceof PackageError);
});

p('a package signed by another key is refused, even with the trusted key id written in', () => {
  const trusted = createPublicKey(loadOrCreateKey(keyFile));
  const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
  const files = [{ path: 'a', data: new Uint8Array([1, 2, 3]) }];
  const forged = writePackage(files, { board: 'b', rig: 'r' }, other);
  assert.throws(() => verifyPackage(forged, trusted), /not by the trusted key .*refused/);
  // Swap the key id in the header for the trusted one (same length): the signature still fails.
  const s = forged.toString('latin1').replace(keyId(other), keyId(trusted));
  assert.throws(() => verifyPackage(Buffer.from(s, 'latin1'), trusted), /signature does not verify/);
});

p('rover pack --verify: exit 0 for the right key, a one-line failure for a wrong one', async () => {
  if (missing) throw new Error(`${missing} not installed`);
  const file = join(dir, 'rover.rpk');
  writeFileSync(file, pkg);
  const log = console.log;
  console.log = () => {};
  try {
    assert.is(await main(['--verify', file, '--key', keyFile]), 0);
    const otherKey = join(dir, 'other.pem');
    writeFileSync(otherKey, generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
    await main(['--verify', file, '--key', otherKey]).then(() => assert.unreachable('wrong key accepted'), (e) => {
      assert.instance(e, CommandError);
      assert.match(e.message, /refused/);
    });
  } finally {
    console.log = log;
  }
});

p.run();
