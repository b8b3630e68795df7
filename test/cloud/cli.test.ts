// `rover ca` as an operator runs it (spawned, real files), around one rotation of the 2020 policy:
// tenant created 2026-01-01, CA 0 expires 2028-01-01, CA 1 created 2027-11-02 (60 days before),
// Active 2027-12-02 (30 days later) — reference/tenant-ca.md, "Rotation policy".
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ManualClock } from '../../sim/cloud/clock.ts';
import { RelyingParty } from '../../sim/cloud/relying-party.ts';
import { SecurityService } from '../../sim/cloud/security-service.ts';
import { hashTree, openssl, opensslCsr, opensslStatus, rover, tempDir } from './_util.ts';

const s = suite('cloud/cli');
const tmp = tempDir('cli');
const S = join(tmp.dir, 'state');
const f = (n: string) => join(tmp.dir, n);
const lines = (out: string) => out.trim().split('\n').map((l) => JSON.parse(l));
let ca0 = '';
let ca1 = '';

s.after(() => tmp.remove());

s('tenant create, then CA 0 registered (through the library), key files 0600', async () => {
  const r = rover(['tenant', 'create', '--state', S, '--at', '2026-01-01', '--json']);
  assert.is(r.status, 0, r.stderr);
  const out = lines(r.stdout)[0];
  ca0 = out.activeCa.thumbprint;
  assert.is(out.activeCa.end, '2028-01-01T00:00:00Z', 'two years (tenant-ca.md)');
  const clock = new ManualClock(Date.UTC(2026, 0, 2));
  const ss = await SecurityService.open(join(S, 'security-service'), { clock });
  const rp = RelyingParty.open(join(S, 'relying-party'), { clock });
  const reg = rp.upload(await ss.download());
  const { code, etag } = rp.generateVerificationCode(reg.thumbprint, reg.etag);
  rp.verify(reg.thumbprint, etag, await ss.downloadProof(code));
  assert.equal(rp.enroll('rovers', reg.thumbprint), { group: 'rovers', slot: 'primary' });
  for (const k of readdirSync(join(S, 'security-service', 'keys'))) assert.is(statSync(join(S, 'security-service', 'keys', k)).mode & 0o777, 0o600, k);
  assert.is(statSync(join(S, 'security-service', 'tenant.json')).mode & 0o777, 0o600);
  assert.is(statSync(join(S, 'relying-party', 'registry.json')).mode & 0o777, 0o600);
});

s('check: 0 before the new CA exists, 1 inside the registration window, 2 after activation without registration', () => {
  const quiet = rover(['check', '--state', S, '--at', '2027-06-01']);
  assert.is(quiet.status, 0, quiet.stdout + quiet.stderr);
  assert.match(quiet.stdout, /nothing to do/);

  const window = rover(['check', '--state', S, '--at', '2027-11-10', '--json']);
  assert.is(window.status, 1, window.stdout + window.stderr);
  const items = lines(window.stdout);
  const neu = items.find((i) => i.status === 'Inactive (new)');
  ca1 = neu.thumbprint;
  assert.is(neu.level, 1);
  assert.is(neu.deadline, '2027-12-02T00:00:00Z', 'Active 30 days after creation on 2027-11-02');
  assert.match(neu.message, new RegExp(`new CA ${ca1} created 2027-11-02 becomes Active about 2027-12-02: not registered in enrollment group rovers; register it within 22 days`));
  assert.ok(neu.steps.some((x: string) => x.includes('--slot secondary')), 'the free slot is recommended');
  assert.equal(items.at(-1), { exitCode: 1, summary: 'action needed before 2027-12-02' });

  const late = rover(['check', '--state', S, '--at', '2027-12-10']);
  assert.is(late.status, 2, late.stdout + late.stderr);
  assert.match(late.stdout, new RegExp(`Active CA ${ca1} is not registered in enrollment group rovers: devices cannot connect now`));
  assert.match(late.stdout, new RegExp(`retired CA ${ca0} expires 2028-01-01`));
});

s('register the new CA through the CLI (download, register, code, download-proof, verify, enroll): check is back to 0', () => {
  const at = ['--state', S, '--at', '2027-12-10'];
  let r = rover(['download', ...at, '--thumbprint', ca1, '--output', f('new.cer')]);
  assert.is(r.status, 0, r.stderr);
  const fp = openssl(['x509', '-inform', 'DER', '-in', f('new.cer'), '-noout', '-subject', '-fingerprint', '-sha1']);
  assert.match(fp, /subject=CN = Rover Tenant CA 1 /);
  assert.is(/Fingerprint=([0-9A-F:]+)/.exec(fp)![1].replace(/:/g, ''), ca1);
  r = rover(['register', ...at, '--input', f('new.cer'), '--json']);
  assert.is(r.status, 0, r.stderr);
  assert.is(lines(r.stdout)[0].status, 'Unverified');
  r = rover(['code', ...at, '--thumbprint', ca1, '--json']);
  assert.is(r.status, 0, r.stderr);
  const code = lines(r.stdout)[0].code as string;
  assert.match(code, /^[0-9A-F]{40}$/);
  r = rover(['download-proof', ...at, '--thumbprint', ca1, '--verification-code', code, '--output', f('proof.cer')]);
  assert.is(r.status, 0, r.stderr);
  assert.is(openssl(['x509', '-inform', 'DER', '-in', f('proof.cer'), '-noout', '-subject']).trim(), `subject=CN = ${code}`);
  openssl(['x509', '-inform', 'DER', '-in', f('proof.cer'), '-out', f('proof.pem')]);
  openssl(['x509', '-inform', 'DER', '-in', f('new.cer'), '-out', f('new.pem')]);
  const v = opensslStatus(['verify', '-partial_chain', '-attime', String(Date.UTC(2027, 11, 10) / 1000 + 60), '-CAfile', f('new.pem'), f('proof.pem')]);
  assert.is(v.status, 0, v.out);
  r = rover(['verify', ...at, '--thumbprint', ca1, '--input', f('proof.cer'), '--json']);
  assert.is(r.status, 0, r.stderr);
  assert.is(lines(r.stdout)[0].status, 'Verified');
  r = rover(['enroll', ...at, '--group', 'rovers', '--thumbprint', ca1, '--json']);
  assert.is(r.status, 0, r.stderr);
  assert.equal(lines(r.stdout)[0], { thumbprint: ca1, group: 'rovers', slot: 'secondary' });
  const ok = rover(['check', ...at]);
  assert.is(ok.status, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, new RegExp(`Active CA ${ca1} is trusted \\(rovers/secondary\\)`));
});

s('download-chain is PKCS#7 OpenSSL reads; device-cert from an OpenSSL CSR verifies against it', () => {
  const at = ['--state', S, '--at', '2027-12-10T08:00:00Z'];
  let r = rover(['download-chain', ...at, '--output', f('chain.p7b')]);
  assert.is(r.status, 0, r.stderr);
  const chain = openssl(['pkcs7', '-inform', 'DER', '-in', f('chain.p7b'), '-print_certs']);
  assert.match(chain, /subject=CN = Rover Tenant CA 1 [\s\S]*subject=CN = Rover Security Service Root/);
  writeFileSync(f('chain.pem'), chain);
  opensslCsr(tmp.dir, 'rover-42');
  r = rover(['device-cert', ...at, '--csr', f('rover-42.csr'), '--device-id', 'rover-42', '--output', f('rover-42.pem'), '--json']);
  assert.is(r.status, 0, r.stderr);
  assert.is(lines(r.stdout)[0].issuerThumbprint, ca1);
  const v = opensslStatus(['verify', '-attime', String(Date.UTC(2027, 11, 10, 9) / 1000), '-CAfile', f('chain.pem'), f('rover-42.pem')]);
  assert.is(v.status, 0, v.out);
});

s('bad input: one line on stderr, non-zero exit, state directory unchanged', () => {
  const at = ['--state', S, '--at', '2027-12-10'];
  writeFileSync(f('garbage.pem'), '-----BEGIN CERTIFICATE-----\nthis is not base64!\n-----END CERTIFICATE-----\n');
  const full = readFileSync(f('new.cer'));
  writeFileSync(f('truncated.cer'), full.subarray(0, Math.floor(full.length / 2)));
  const before = hashTree(S);
  const cases: [string[], RegExp][] = [
    [['register', ...at, '--input', f('garbage.pem')], /bad certificate: PEM CERTIFICATE block is not valid base64/],
    [['register', ...at, '--input', f('rover-42.pem')], /is not a CA \(basicConstraints cA is not true\)/],
    [['register', ...at, '--input', f('truncated.cer')], /bad certificate: .*(truncated|corrupt)/],
    [['register', ...at, '--input', f('no-such-file.cer')], /--input: cannot read .*ENOENT/],
    [['download', ...at, '--thumbprint', '0'.repeat(40), '--output', f('x.cer')], /no tenant CA with thumbprint 0{40}/],
    [['verify', ...at, '--thumbprint', 'AB'.repeat(20), '--input', f('proof.cer')], /no CA with thumbprint (AB){20} is registered/],
    [['enroll', ...at, '--group', 'rovers', '--thumbprint', 'xyz'], /--thumbprint: expected a SHA-1 thumbprint/],
    [['check', '--state', S, '--at', '2027-13-01'], /--at: .*not a valid date|--at: expected/],
  ];
  for (const [args, re] of cases) {
    const r = rover(args);
    assert.is.not(r.status, 0, args.join(' '));
    const err = r.stderr.trim();
    assert.is(err.split('\n').length, 1, `one line: ${err}`);
    assert.match(err, /^rover ca: /);
    assert.match(err, re);
  }
  assert.equal(hashTree(S), before, 'state unchanged');
});

s('--help: the command and each subcommand', () => {
  const top = rover(['--help']);
  assert.is(top.status, 0);
  for (const sub of ['tenant create', 'list', 'download', 'download-chain', 'download-proof', 'register', 'code', 'verify', 'enroll', 'device-cert', 'check']) assert.ok(top.stdout.includes(sub), sub);
  const check = rover(['check', '--help']);
  assert.is(check.status, 0);
  assert.match(check.stdout, /exit code: 0 nothing to do, 1 action needed before a deadline, 2 devices are failing now/i);
  assert.match(check.stdout, /--state DIR .*default: out\/cloud-state/);
});

s.run();
