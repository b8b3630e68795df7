// Device identity (hlcore/identity.ts): key made once and kept (0600 on a host), a CSR OpenSSL
// accepts, a 24-hour certificate from the real Security Service emulator (tenant-ca.md, "Chain"),
// renewal at 2/3 of its life and after an auth refusal (rate-limited), the same key throughout.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { ManualClock } from '../../hlcore/manual-clock.ts';
import { DeviceIdentity, type CertificateAuthorityClient } from '../../hlcore/identity.ts';
import { FileSecureStore } from '../../hlcore/host/file-secure-store.ts';
import { MemorySecureStore } from '../../sim/secure-store.ts';
import { SecurityService } from '../../sim/cloud/security-service.ts';

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 0, 1);
const id = suite('hlcore identity');
let dir = '';
id.before.each(() => {
  dir = mkdtempSync(join(tmpdir(), 'hl-identity-'));
});
id.after.each(() => rmSync(dir, { recursive: true, force: true }));

async function service(clock: ManualClock) {
  const svc = await SecurityService.createTenant(join(dir, 'tenant'), { clock });
  let calls = 0;
  const ca: CertificateAuthorityClient = {
    issue: async (csr, deviceId) => {
      calls++;
      const c = await svc.issueDeviceCertificate(csr, deviceId);
      return { certificate: c.certificate, chain: c.chain };
    },
  };
  return { svc, ca, calls: () => calls };
}

id('first boot: P-256 key in the file store (0600 in a 0700 directory); OpenSSL verifies the CSR', async () => {
  const clock = new ManualClock(T0);
  const store = new FileSecureStore(join(dir, 'secure'));
  const { ca } = await service(clock);
  const ident = new DeviceIdentity({ store, ca, clock, deviceId: 'rover-1' });
  await ident.init();
  assert.is(statSync(join(dir, 'secure')).mode & 0o777, 0o700);
  for (const f of readdirSync(join(dir, 'secure'))) assert.is(statSync(join(dir, 'secure', f)).mode & 0o777, 0o600, f);
  const csrPath = join(dir, 'req.der');
  writeFileSync(csrPath, await ident.csr());
  const text = execFileSync('/usr/bin/openssl', ['req', '-inform', 'DER', '-in', csrPath, '-verify', '-noout', '-text'], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  assert.match(text, /CN\s*=\s*rover-1/);
  assert.match(text, /prime256v1|P-256/);
  assert.match(text, /ecdsa-with-SHA256/);
});

id('24-hour certificate with its chain; renewal due at 2/3 of its life; the key never changes', async () => {
  const clock = new ManualClock(T0);
  const store = new MemorySecureStore();
  const { svc, ca, calls } = await service(clock);
  let ident = new DeviceIdentity({ store, ca, clock, deviceId: 'rover-1' });
  await ident.init();
  const info = await ident.ensureCertificate();
  assert.is(info.notAfter - info.notBefore, 24 * HOUR);
  assert.is(info.renewAt - info.notBefore, 16 * HOUR);
  const active = (await svc.list()).find((c) => c.status === 'Active')!;
  assert.is(info.issuerThumbprint, active.thumbprint, 'issuer thumbprint = the Active tenant CA (tenant-ca.md)');
  const [leaf, tenantCa] = ident.presentedChain().map((d) => new X509Certificate(d));
  assert.ok(leaf.verify(tenantCa.publicKey), 'leaf signed by the tenant CA in the chain');
  const creds = ident.tlsCredentials();
  assert.is((creds.cert.match(/BEGIN CERTIFICATE/g) ?? []).length, 2, 'leaf + tenant CA, no root');
  assert.ok(leaf.checkPrivateKey(createPrivateKey(creds.key)), 'the TLS key matches the certificate');
  // Restart: the stored certificate is reused while it is not due.
  clock.advance(10 * HOUR);
  ident = new DeviceIdentity({ store, ca, clock, deviceId: 'rover-1' });
  await ident.init();
  await ident.ensureCertificate();
  assert.is(calls(), 1);
  clock.advance(6 * HOUR);
  assert.ok(ident.needsRenewal());
  const next = await ident.ensureCertificate();
  assert.is(calls(), 2);
  assert.is(next.notBefore, T0 + 16 * HOUR);
  const leaf2 = new X509Certificate(ident.presentedChain()[0]);
  assert.is(leaf2.publicKey.export({ format: 'der', type: 'spki' }).toString('hex'), leaf.publicKey.export({ format: 'der', type: 'spki' }).toString('hex'), 'same key pair');
});

id('after an auth refusal: renews, but not twice within the interval', async () => {
  const clock = new ManualClock(T0);
  const { ca, calls } = await service(clock);
  const ident = new DeviceIdentity({ store: new MemorySecureStore(), ca, clock, deviceId: 'rover-1', refusalRenewIntervalMs: 10 * 60_000 });
  await ident.init();
  await ident.ensureCertificate();
  assert.is(await ident.renewAfterRefusal(), false, 'just issued');
  clock.advance(10 * 60_000);
  assert.is(await ident.renewAfterRefusal(), true);
  assert.is(await ident.renewAfterRefusal(), false);
  assert.is(calls(), 2);
});

id('a refused issuance is reported and leaves the old certificate in place', async () => {
  const clock = new ManualClock(T0);
  const { ca } = await service(clock);
  let fail = false;
  const flaky: CertificateAuthorityClient = { issue: (c, d) => (fail ? Promise.reject(new Error('security service unreachable')) : ca.issue(c, d)) };
  const ident = new DeviceIdentity({ store: new MemorySecureStore(), ca: flaky, clock, deviceId: 'rover-1' });
  await ident.init();
  const first = await ident.ensureCertificate();
  fail = true;
  clock.advance(17 * HOUR);
  const err = await ident.ensureCertificate().then(() => null, (e: Error) => e);
  assert.match(err!.message, /unreachable/);
  assert.is(ident.lastError, 'security service unreachable');
  assert.equal(ident.info(), first);
});

id.run();
