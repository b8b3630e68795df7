// The relying party: CA upload, proof of possession, enrollment slots and admit(), against
// certificates made by OpenSSL (an independent implementation) and by the Security Service emulator.
// Rules: reference/azure-iot-protocols.md, "X.509 CA registration and proof of possession".
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ManualClock } from '../../sim/cloud/clock.ts';
import { RelyingParty, RelyingPartyError } from '../../sim/cloud/relying-party.ts';
import { SecurityService } from '../../sim/cloud/security-service.ts';
import { pxCertificate } from '../../sim/cloud/x509.ts';
import { DAY, hashTree, openssl, opensslCsr, tempDir } from './_util.ts';

const s = suite('cloud/relying-party');
const tmp = tempDir('rp');
const f = (n: string) => join(tmp.dir, n);
// OpenSSL stamps its certificates with the real clock: the tests evaluate just after they were made.
let now = 0;
const clock = new ManualClock(0);
let rp: RelyingParty;
const rpDir = () => f('rp');

function derOf(pemFile: string): Uint8Array {
  openssl(['x509', '-in', pemFile, '-outform', 'DER', '-out', pemFile + '.der']);
  return new Uint8Array(readFileSync(pemFile + '.der'));
}
const fingerprint = (pemFile: string) => /=([0-9A-F:]+)/.exec(openssl(['x509', '-in', pemFile, '-noout', '-fingerprint', '-sha1']))![1].replace(/:/g, '');

/** An OpenSSL CA (self-signed when no issuer is given). */
function makeCa(name: string, issuer?: string): void {
  const ext = f(`${name}.ext`);
  writeFileSync(ext, 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n');
  if (!issuer) {
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f(`${name}.key`), '-subj', `/CN=${name}`, '-days', '3650', '-extensions', 'v3_ca', '-addext', 'basicConstraints=critical,CA:TRUE', '-out', f(`${name}.pem`)]);
  } else {
    opensslCsr(tmp.dir, name);
    openssl(['x509', '-req', '-in', f(`${name}.csr`), '-CA', f(`${issuer}.pem`), '-CAkey', f(`${issuer}.key`), '-set_serial', '7', '-days', '3650', '-extfile', ext, '-out', f(`${name}.pem`)]);
  }
}

/** An OpenSSL end-entity certificate signed by `issuer`. */
function makeLeaf(cn: string, issuer: string, ext = 'basicConstraints=critical,CA:FALSE\nextendedKeyUsage=clientAuth\n'): void {
  opensslCsr(tmp.dir, cn);
  writeFileSync(f(`${cn}.ext`), ext);
  openssl(['x509', '-req', '-in', f(`${cn}.csr`), '-CA', f(`${issuer}.pem`), '-CAkey', f(`${issuer}.key`), '-set_serial', '9', '-days', '1', '-extfile', f(`${cn}.ext`), '-out', f(`${cn}.pem`)]);
}

function refused(fn: () => unknown, code: string, re: RegExp): void {
  const before = hashTree(rpDir());
  try {
    fn();
  } catch (e) {
    assert.instance(e, RelyingPartyError);
    assert.is((e as RelyingPartyError).code, code, (e as Error).message);
    assert.match((e as Error).message, re);
    assert.not.match((e as Error).message, /\n/, 'one line');
    assert.equal(hashTree(rpDir()), before, 'a refusal changes nothing on disk');
    return;
  }
  assert.unreachable(`expected refusal ${code}`);
}

s.before(() => {
  makeCa('Root A');
  makeCa('Int A', 'Root A');
  makeCa('Root B');
  makeLeaf('dev-1', 'Int A');
  makeLeaf('dev-2', 'Int A', 'basicConstraints=critical,CA:FALSE\n'); // no EKU
  makeCa('Int C', 'Root A'); // never registered
  makeLeaf('dev-3', 'Int C');
  now = Date.now() + 1000;
  clock.set(now);
  rp = RelyingParty.open(rpDir(), { clock });
});
s.after(() => tmp.remove());

s('upload PEM, DER or base64 DER -> Unverified, with the thumbprint and expiry OpenSSL reports', () => {
  const a = rp.upload(readFileSync(f('Root A.pem'), 'utf8'));
  assert.is(a.status, 'Unverified');
  assert.is(a.thumbprint, fingerprint(f('Root A.pem')));
  assert.is(a.notAfter, Date.parse(new X509Certificate(readFileSync(f('Root A.pem'))).validTo));
  assert.match(a.subject, /CN=Root A/);
  const b = rp.upload(Buffer.from(derOf(f('Root B.pem'))).toString('base64'));
  assert.is(b.thumbprint, fingerprint(f('Root B.pem')));
  const i = rp.upload(derOf(f('Int A.pem')));
  assert.is(i.thumbprint, fingerprint(f('Int A.pem')));
  assert.is(new Set([a.etag, b.etag, i.etag]).size, 3, 'distinct etags');
  assert.is(statSync(join(rpDir(), 'registry.json')).mode & 0o777, 0o600);
});

s('upload refusals: garbage PEM, truncated DER, not a CA, already registered, random bytes; nothing changes', () => {
  refused(() => rp.upload('-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n'), 'bad-certificate', /bad certificate/);
  const full = derOf(f('Root B.pem'));
  refused(() => rp.upload(full.subarray(0, full.length - 20)), 'bad-certificate', /truncated|corrupt/);
  refused(() => rp.upload(readFileSync(f('dev-1.pem'))), 'not-ca', /is not a CA \(basicConstraints cA/);
  refused(() => rp.upload(readFileSync(f('Root A.pem'))), 'exists', /already registered/);
  refused(() => rp.upload(new Uint8Array([1, 2, 3, 4, 5])), 'bad-certificate', /bad certificate/);
  refused(() => rp.upload(''), 'bad-certificate', /empty/);
});

s('proof of possession: wrong code, other signer, stale etag, expired proof refused; the right proof verifies', () => {
  const thumb = fingerprint(f('Root A.pem'));
  const etag0 = rp.registration(thumb)!.etag;
  const { code, etag } = rp.generateVerificationCode(thumb, etag0);
  assert.match(code, /^[0-9A-F]{40}$/);
  assert.is.not(etag, etag0);
  const proof = (cn: string, signer: string, file: string) => {
    const ext = f('proof.ext');
    writeFileSync(ext, 'basicConstraints=CA:FALSE\n');
    openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f(`${file}.key`), '-subj', `/CN=${cn}`, '-out', f(`${file}.csr`)]);
    openssl(['x509', '-req', '-in', f(`${file}.csr`), '-CA', f(`${signer}.pem`), '-CAkey', f(`${signer}.key`), '-set_serial', '3', '-days', '2', '-extfile', ext, '-outform', 'DER', '-out', f(`${file}.cer`)]);
    return new Uint8Array(readFileSync(f(`${file}.cer`)));
  };
  const good = proof(code, 'Root A', 'p-good');
  refused(() => rp.verify(thumb, etag, proof('0'.repeat(40), 'Root A', 'p-code')), 'bad-proof', /is not the verification code/);
  refused(() => rp.verify(thumb, etag, proof(code, 'Root B', 'p-other')), 'bad-proof', /not signed by the private key of CA/);
  refused(() => rp.verify(thumb, etag0, good, { at: Date.now() + 1000 }), 'stale-etag', /stale/);
  refused(() => rp.verify(thumb, etag, good, { at: now + 3 * DAY }), 'bad-proof', /expired/);
  refused(() => rp.enroll('rovers', thumb), 'unverified', /Unverified: prove possession first/);
  const v = rp.verify(thumb, etag, good, { at: Date.now() + 1000 });
  assert.is(v.status, 'Verified');
  assert.is(RelyingParty.open(rpDir(), { clock }).registration(thumb)!.status, 'Verified', 'persisted');
});

s('enrollment slots: the free slot first; an unexpired CA is never displaced', () => {
  const a = fingerprint(f('Root A.pem'));
  assert.is(rp.freeSlot('rovers'), 'primary');
  assert.equal(rp.enroll('rovers', a), { group: 'rovers', slot: 'primary' });
  assert.is(rp.freeSlot('rovers'), 'secondary', 'the advisor recommends the free slot');
  // Verify Root B with its own proof made by the emulator-independent route above, then enroll.
  const b = fingerprint(f('Root B.pem'));
  const { code, etag } = rp.generateVerificationCode(b, rp.registration(b)!.etag);
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('pb.key'), '-subj', `/CN=${code}`, '-out', f('pb.csr')]);
  openssl(['x509', '-req', '-in', f('pb.csr'), '-CA', f('Root B.pem'), '-CAkey', f('Root B.key'), '-days', '1', '-out', f('pb.pem')]);
  rp.verify(b, etag, readFileSync(f('pb.pem'), 'utf8'), { at: Date.now() + 1000 });
  refused(() => rp.enroll('rovers', b, { slot: 'primary' }), 'slot-taken', /remove nothing that has not expired/);
  assert.equal(rp.enroll('rovers', b), { group: 'rovers', slot: 'secondary' });
  assert.is(rp.freeSlot('rovers'), null);
  assert.is(rp.freeSlot('rovers', now + 11 * 365 * DAY), 'primary', 'an expired CA frees its slot');
});

s('admit(): accepts a valid chain to an enrolled CA; refuses each broken rule with a reason', () => {
  const root = fingerprint(f('Root A.pem'));
  const chain = [derOf(f('dev-1.pem')), derOf(f('Int A.pem'))];
  assert.equal(rp.admit(chain, { registrationId: 'dev-1' }), { ok: true, group: 'rovers', issuerThumbprint: root });
  // PEM text, and certificate objects, are accepted too.
  assert.ok(rp.admit(readFileSync(f('dev-1.pem'), 'utf8') + readFileSync(f('Int A.pem'), 'utf8'), { registrationId: 'dev-1' }).ok);
  assert.ok(rp.admit(chain.map((d) => pxCertificate(d)), { registrationId: 'dev-1' }).ok);
  const no = (r: ReturnType<RelyingParty['admit']>, re: RegExp) => {
    assert.is(r.ok, false);
    if (!r.ok) assert.match(r.reason, re);
  };
  no(rp.admit(chain, { registrationId: 'dev-9' }), /leaf CN 'dev-1' is not the registration ID 'dev-9'/);
  no(rp.admit([derOf(f('dev-2.pem')), chain[1]], { registrationId: 'dev-2' }), /no clientAuthentication EKU/);
  no(rp.admit(chain, { registrationId: 'dev-1', at: now + 2 * DAY }), /expired on/);
  // Int A is registered but unverified: without it in the chain, the walk stops there and says so.
  no(rp.admit([chain[0]], { registrationId: 'dev-1' }), /issuer [0-9A-F]{40} is registered but not verified/);
  // Int C is unknown: alone it is named; presented with the leaf, the walk reaches the trusted root.
  no(rp.admit([derOf(f('dev-3.pem'))], { registrationId: 'dev-3' }), /issuer 'Int C' is not registered in any enrollment group/);
  assert.equal(rp.admit([derOf(f('dev-3.pem')), derOf(f('Int C.pem'))], { registrationId: 'dev-3' }), { ok: true, group: 'rovers', issuerThumbprint: root });
  const bad = chain[0].slice();
  bad[bad.length - 1] ^= 1; // flip a bit of the signature
  no(rp.admit([bad, chain[1]], { registrationId: 'dev-1' }), /signature of chain certificate 0 does not verify/);
  no(rp.admit([derOf(f('dev-3.pem')), derOf(f('Root B.pem'))], { registrationId: 'dev-3' }), /chain broken: certificate 1 is not the issuer of certificate 0/);
  no(rp.admit(new Uint8Array([0x30, 0x82, 0x10]), { registrationId: 'dev-1' }), /unreadable client certificate/);
  no(rp.admit([], { registrationId: 'dev-1' }), /no client certificate/);
  rp.setGroupEnabled('rovers', false);
  no(rp.admit(chain, { registrationId: 'dev-1' }), /enrollment group rovers, which is disabled/);
  rp.setGroupEnabled('rovers', true);
  assert.ok(rp.admit(chain, { registrationId: 'dev-1' }).ok);
  rp.unenroll('rovers', 'primary');
  no(rp.admit(chain, { registrationId: 'dev-1' }), new RegExp(`issuer ${root} is not registered in any enrollment group`));
  rp.enroll('rovers', root, { slot: 'primary' });
});

s('rotation: a device certificate from a new, unregistered tenant CA is refused, admitted once the CA is registered', async () => {
  const T0 = Date.UTC(2026, 0, 1);
  const sc = new ManualClock(T0);
  const ss = await SecurityService.createTenant(f('ss'), { clock: sc });
  const rp2 = RelyingParty.open(f('rp2'), { clock: sc });
  const register = async (index: number) => {
    const ca = (await ss.list())[index];
    const r = rp2.upload(ca.der);
    const { code, etag } = rp2.generateVerificationCode(r.thumbprint, r.etag);
    rp2.verify(r.thumbprint, etag, await ss.downloadProof(code, { index }));
    return rp2.enroll('rovers', r.thumbprint).slot;
  };
  assert.is(await register(0), 'primary');
  const { csrPem } = opensslCsr(tmp.dir, 'rover-7');
  const d0 = await ss.issueDeviceCertificate(csrPem, 'rover-7');
  assert.ok(rp2.admit([d0.certificate, d0.chain[0]], { registrationId: 'rover-7', at: sc.now() }).ok);
  sc.set(Date.UTC(2027, 11, 2)); // CA 1 Active (created 2027-11-02, +30 days)
  const d1 = await ss.issueDeviceCertificate(csrPem, 'rover-7');
  assert.is(d1.issuerIndex, 1);
  const r = rp2.admit([d1.certificate, d1.chain[0]], { registrationId: 'rover-7', at: sc.now() });
  assert.equal(r, { ok: false, reason: `issuer ${d1.issuerThumbprint} ('${new X509Certificate(d1.chain[0]).subject.split('\n')[0].slice(3)}') is not registered in any enrollment group` });
  assert.is(await register(1), 'secondary', 'the new CA goes into the free slot');
  assert.equal(rp2.admit([d1.certificate, d1.chain[0]], { registrationId: 'rover-7', at: sc.now() }), { ok: true, group: 'rovers', issuerThumbprint: d1.issuerThumbprint });
  assert.ok(rp2.admit([d0.certificate], { registrationId: 'rover-7', at: Date.UTC(2026, 0, 1, 12) }).ok, 'old certificates still chain to the old CA');
});

s.run();
