// Device certificates, downloads and proofs from the Security Service emulator, checked by OpenSSL
// (the `openssl` command and node:crypto's OpenSSL binding), not by the code that made them.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ManualClock } from '../../sim/cloud/clock.ts';
import { SecurityService, SecurityServiceError } from '../../sim/cloud/security-service.ts';
import { EC_P256, generateP256, pemBlocks, px, toPem } from '../../sim/cloud/x509.ts';
import { DAY, openssl, opensslCsr, opensslStatus, tempDir, utc } from './_util.ts';

const T0 = utc('2026-03-01T00:00:00Z');
const s = suite('cloud/issuance');
const tmp = tempDir('issue');
const clock = new ManualClock(T0);
let ss: SecurityService;
let csrPem: string; // from OpenSSL, CN=rover-0001
const f = (n: string) => join(tmp.dir, n);
const epoch = (ms: number) => String(Math.floor(ms / 1000));

async function refused(p: Promise<unknown>, code: string, re: RegExp): Promise<void> {
  try {
    await p;
  } catch (e) {
    assert.instance(e, SecurityServiceError);
    assert.is((e as SecurityServiceError).code, code);
    assert.match((e as Error).message, re);
    assert.not.match((e as Error).message, /\n/, 'one line');
    return;
  }
  assert.unreachable(`expected refusal ${code}`);
}

s.before(async () => {
  ss = await SecurityService.createTenant(f('ss'), { clock });
  csrPem = opensslCsr(tmp.dir, 'rover-0001').csrPem;
});
s.after(() => tmp.remove());

s('a device certificate from an OpenSSL CSR: CN, clientAuth EKU, 24 hours, verified by openssl against the downloaded chain', async () => {
  clock.set(T0 + 10 * DAY + 3_723_000);
  const dc = await ss.issueDeviceCertificate(csrPem, 'rover-0001');
  writeFileSync(f('leaf.pem'), toPem(dc.certificate));
  writeFileSync(f('chain.p7b'), await ss.downloadChain());
  const chainPem = openssl(['pkcs7', '-inform', 'DER', '-in', f('chain.p7b'), '-print_certs']);
  writeFileSync(f('chain.pem'), chainPem);
  const subjects = [...chainPem.matchAll(/^subject=(.*)$/gm)].map((m) => m[1]);
  assert.is(subjects.length, 2, 'the .p7b holds the tenant CA and the root');
  assert.match(subjects[0], /Tenant CA 0/);
  assert.match(subjects[1], /Security Service Root/);
  const v = opensslStatus(['verify', '-attime', epoch(clock.now() + 60_000), '-CAfile', f('chain.pem'), f('leaf.pem')]);
  assert.is(v.status, 0, v.out);
  assert.match(v.out, /leaf\.pem: OK/);
  // 24 hours later plus a minute, OpenSSL says it has expired.
  const late = opensslStatus(['verify', '-attime', epoch(clock.now() + DAY + 60_000), '-CAfile', f('chain.pem'), f('leaf.pem')]);
  assert.is.not(late.status, 0);
  assert.match(late.out, /expired/);
  const text = openssl(['x509', '-in', f('leaf.pem'), '-noout', '-subject', '-ext', 'extendedKeyUsage,basicConstraints']);
  assert.match(text, /subject=CN = rover-0001/);
  assert.match(text, /TLS Web Client Authentication/);
  assert.match(text, /CA:FALSE/);
  const x = new X509Certificate(dc.certificate);
  assert.is(Date.parse(x.validTo) - Date.parse(x.validFrom), DAY, 'valid 24 hours (tenant-ca.md)');
  assert.is(Date.parse(x.validFrom), Math.floor(clock.now() / 1000) * 1000);
  // The device's key stays with the device: the certificate carries the CSR's public key.
  const csrKey = openssl(['req', '-in', f('rover-0001.csr'), '-noout', '-pubkey']);
  assert.is(x.publicKey.export({ type: 'spki', format: 'pem' }).toString(), csrKey);
});

s('certificates issued just before and just after an activation come from the old and the new CA', async () => {
  // CA 0 was created at T0 and expires two years later; CA 1 appears 60 days before that, Active 30 days after (2020 policy).
  const ca0End = Date.UTC(2028, 2, 1);
  const activation = ca0End - 60 * DAY + 30 * DAY;
  clock.set(activation - 1000);
  const before = await ss.issueDeviceCertificate(csrPem, 'rover-0001');
  clock.set(activation);
  const after = await ss.issueDeviceCertificate(csrPem, 'rover-0001');
  const cas = await ss.list();
  const old = new X509Certificate(cas[0].der);
  const neu = new X509Certificate(cas[1].der);
  const b = new X509Certificate(before.certificate);
  const a = new X509Certificate(after.certificate);
  assert.ok(b.verify(old.publicKey) && !b.verify(neu.publicKey), 'before: signed by the old CA only');
  assert.ok(a.verify(neu.publicKey) && !a.verify(old.publicKey), 'after: signed by the new CA only');
  assert.is(b.issuer, old.subject);
  assert.is(a.issuer, neu.subject);
  assert.equal([before.issuerIndex, after.issuerIndex], [0, 1]);
  // OpenSSL agrees: the new certificate chains to the new CA's chain and not to the old one.
  writeFileSync(f('after.pem'), toPem(after.certificate));
  writeFileSync(f('new-chain.pem'), after.chain.map((d) => toPem(d)).join(''));
  writeFileSync(f('old-chain.pem'), before.chain.map((d) => toPem(d)).join(''));
  assert.is(opensslStatus(['verify', '-attime', epoch(activation + 1000), '-CAfile', f('new-chain.pem'), f('after.pem')]).status, 0);
  assert.is.not(opensslStatus(['verify', '-attime', epoch(activation + 1000), '-CAfile', f('old-chain.pem'), f('after.pem')]).status, 0);
});

s('download (.cer) is DER OpenSSL reads, with the SHA-1 thumbprint OpenSSL computes; expired CAs are listed but not downloadable', async () => {
  clock.set(Date.UTC(2028, 1, 10)); // CA 1 Active since 2028-01-31, CA 0 retired until 2028-03-01
  for (const ca of await ss.list()) {
    writeFileSync(f(`ca${ca.index}.cer`), await ss.download({ thumbprint: ca.thumbprint }));
    const out = openssl(['x509', '-inform', 'DER', '-in', f(`ca${ca.index}.cer`), '-noout', '-subject', '-fingerprint', '-sha1']);
    assert.match(out, new RegExp(`subject=CN = Rover Tenant CA ${ca.index} `));
    const fp = /Fingerprint=([0-9A-F:]+)/.exec(out)![1].replace(/:/g, '');
    assert.is(ca.thumbprint, fp);
  }
  assert.equal(await ss.download(), (await ss.list())[1].der, 'default: the Active CA');
  clock.set(Date.UTC(2028, 2, 2)); // CA 0 expired
  const list = await ss.list();
  assert.equal(`${list[0].status} ${list[0].label}`, 'Inactive expired');
  await refused(ss.download({ index: 0 }), 'expired', /expired on 2028-03-01.*cannot be downloaded/);
  await refused(ss.downloadChain({ index: 0 }), 'expired', /expired/);
  await refused(ss.download({ thumbprint: '00'.repeat(20) }), 'not-found', /no tenant CA with thumbprint 0{40}/);
});

s('download-proof: subject CN is the code, openssl verifies it against the chosen CA only (-partial_chain)', async () => {
  const t = clock.now();
  const [, ca1] = await ss.list();
  const code = 'A1B2C3D4E5F60718293A4B5C6D7E8F9012345678';
  writeFileSync(f('proof.cer'), await ss.downloadProof(code, { index: 1 }));
  const out = openssl(['x509', '-inform', 'DER', '-in', f('proof.cer'), '-noout', '-subject']);
  assert.is(out.trim(), `subject=CN = ${code}`);
  openssl(['x509', '-inform', 'DER', '-in', f('proof.cer'), '-out', f('proof.pem')]);
  writeFileSync(f('ca1.pem'), toPem(ca1.der));
  const ok = opensslStatus(['verify', '-partial_chain', '-attime', epoch(t + 1000), '-CAfile', f('ca1.pem'), f('proof.pem')]);
  assert.is(ok.status, 0, ok.out);
  writeFileSync(f('root.pem'), toPem(ss.rootCertificate));
  const wrong = opensslStatus(['verify', '-partial_chain', '-attime', epoch(t + 1000), '-CAfile', f('root.pem'), f('proof.pem')]);
  assert.is.not(wrong.status, 0, 'not signed by the root');
  await refused(ss.downloadProof('bad code!', { index: 1 }), 'bad-request', /verification code/);
  await refused(ss.downloadProof(code, { index: 0 }), 'expired', /expired/);
});

s('refusals: bad CSR signature, CN not the device ID, garbage CSR, revoked tenant', async () => {
  const keys = await generateP256();
  const good = new Uint8Array((await px.Pkcs10CertificateRequestGenerator.create({ name: 'CN=rover-0002', keys, signingAlgorithm: EC_P256 })).rawData);
  const ok = await ss.issueDeviceCertificate(good, 'rover-0002');
  assert.ok(new X509Certificate(ok.certificate).subject === 'CN=rover-0002');
  // Flip a bit in the last byte of the signature's s value: still DER, no longer a valid signature.
  const tampered = good.slice();
  tampered[tampered.length - 1] ^= 0x01;
  // (openssl req -verify exits 0 either way; its message tells.)
  assert.match(opensslStatus(['req', '-inform', 'DER', '-in', writeTmp('t.csr', tampered), '-noout', '-verify']).out, /verify failure/, 'OpenSSL also rejects it');
  assert.match(opensslStatus(['req', '-inform', 'DER', '-in', writeTmp('g.csr', good), '-noout', '-verify']).out, /verify OK/);
  await refused(ss.issueDeviceCertificate(tampered, 'rover-0002'), 'bad-csr', /signature does not verify/);
  await refused(ss.issueDeviceCertificate(good, 'rover-0003'), 'cn-mismatch', /CN 'rover-0002' is not the device ID 'rover-0003'/);
  await refused(ss.issueDeviceCertificate('-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n', 'rover-0002'), 'bad-csr', /bad CSR/);
  await refused(ss.issueDeviceCertificate(good.subarray(0, 40), 'rover-0002'), 'bad-csr', /truncated/);
  await ss.revokeTenant();
  await refused(ss.issueDeviceCertificate(good, 'rover-0002'), 'tenant-revoked', /revoked/);
  assert.ok((await ss.list()).every((c) => c.status === 'Revoked'), 'every CA of a revoked tenant is Revoked');
  assert.is(pemBlocks(toPem(ok.chain[0])).length, 1);
});

function writeTmp(name: string, data: Uint8Array): string {
  writeFileSync(f(name), data);
  return f(name);
}

s.run();
