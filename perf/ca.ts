// Benchmark: device certificate issuance by the Security Service emulator and admission decisions by
// the relying party, over fixed counts on one core (sequential awaits; no worker threads).
// Goals: >= 1000 issuances/s, >= 10,000 admissions/s. A cold admission (a certificate never seen
// before) costs one ECDSA P-256 verification, so its ceiling is the machine's raw verify rate, also
// reported; a warm one (the same 24-hour certificate presented again on reconnect) re-checks only the
// time, name and enrollment rules.
// Standalone: node --import tsx perf/ca.ts
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ManualClock } from '../sim/cloud/clock.ts';
import { RelyingParty } from '../sim/cloud/relying-party.ts';
import { SecurityService } from '../sim/cloud/security-service.ts';
import { EC_P256, generateP256, px } from '../sim/cloud/x509.ts';

const DEVICES = 200;
const ISSUANCES = 3000;
const COLD = 3000;
const WARM = 100_000;

function rate(n: number, ms: number): number {
  return Math.round((n * 1000) / ms);
}

export async function run(): Promise<Record<string, number | string>> {
  const dir = mkdtempSync(join(tmpdir(), 'rover-perf-ca-'));
  try {
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const ss = await SecurityService.createTenant(join(dir, 'ss'), { clock });
    const rp = RelyingParty.open(join(dir, 'rp'), { clock });
    const reg = rp.upload(await ss.download());
    const { code, etag } = rp.generateVerificationCode(reg.thumbprint, reg.etag);
    rp.verify(reg.thumbprint, etag, await ss.downloadProof(code));
    rp.enroll('rovers', reg.thumbprint);

    // Device keys and CSRs are the devices' work: made before timing.
    const csrs: { id: string; der: Uint8Array }[] = [];
    for (let i = 0; i < DEVICES; i++) {
      const id = `rover-${String(i).padStart(4, '0')}`;
      const keys = await generateP256();
      csrs.push({ id, der: new Uint8Array((await px.Pkcs10CertificateRequestGenerator.create({ name: `CN=${id}`, keys, signingAlgorithm: EC_P256 })).rawData) });
    }

    // Issuance: every call checks the CSR's signature, signs a new certificate. Time moves a second per
    // certificate so that each one is distinct.
    for (let i = 0; i < 200; i++) await ss.issueDeviceCertificate(csrs[i % DEVICES].der, csrs[i % DEVICES].id); // warm-up
    const chains: { id: string; chain: Uint8Array[] }[] = [];
    let t = performance.now();
    for (let i = 0; i < ISSUANCES; i++) {
      clock.advance(1000);
      const c = csrs[i % DEVICES];
      const dc = await ss.issueDeviceCertificate(c.der, c.id);
      chains.push({ id: c.id, chain: [dc.certificate, dc.chain[0]] });
    }
    const issueMs = performance.now() - t;
    const at = clock.now();

    // Cold admissions: a fresh relying party (empty caches), each certificate seen for the first time.
    const cold = RelyingParty.open(join(dir, 'rp'), { clock });
    t = performance.now();
    for (let i = 0; i < COLD; i++) {
      const c = chains[i];
      if (!cold.admit(c.chain, { registrationId: c.id, at }).ok) throw new Error('perf/ca: cold admission refused');
    }
    const coldMs = performance.now() - t;

    // Warm admissions: the same certificates presented again (reconnects), every rule re-evaluated at `at`.
    t = performance.now();
    for (let i = 0; i < WARM; i++) {
      const c = chains[i % chains.length];
      if (!cold.admit(c.chain, { registrationId: c.id, at }).ok) throw new Error('perf/ca: warm admission refused');
    }
    const warmMs = performance.now() - t;

    // The machine's raw ECDSA P-256 verify rate (node:crypto / OpenSSL): the ceiling of cold admissions.
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const data = Buffer.alloc(400, 1);
    const sig = sign('sha256', data, privateKey);
    t = performance.now();
    for (let i = 0; i < 2000; i++) verify('sha256', data, publicKey, sig);
    const rawMs = performance.now() - t;

    return {
      issuancesPerSecond: rate(ISSUANCES, issueMs),
      admissionsPerSecond: rate(WARM, warmMs),
      admissionsColdPerSecond: rate(COLD, coldMs),
      ecdsaP256VerifyPerSecond: rate(2000, rawMs),
      counts: `${ISSUANCES} issuances, ${COLD} cold + ${WARM} warm admissions over ${chains.length} distinct certificates`,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const r = await run();
  for (const [k, v] of Object.entries(r)) console.log(`${k.padEnd(26)} ${v}`);
}
