// Tenant CA rollover (tenant-ca.md, "What goes wrong"): the device renews its certificate, which now
// comes from the new tenant CA the relying party has not registered. The device keeps every reading,
// retries, names the unknown issuer by thumbprint, and recovers by itself once the CA is registered.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { TELEMETRY } from '../../hlcore/pnp.ts';
import { registerCa, Rig } from './_util.ts';

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 0, 1);
const ro = suite('hlcore tenant CA rollover');

ro('auth refused after rollover: buffers, diagnoses the issuer, recovers once the CA is registered; nothing lost', async () => {
  // Policy 2020: CA 1 is created 60 days before CA 0 expires and becomes Active 30 days later. With the
  // tenant created on 2024-01-31 00:30, CA 1 becomes Active at T0 + 30 min.
  const rig = await new Rig({
    t0: T0,
    tenantAgeMs: T0 - Date.UTC(2024, 0, 31, 0, 30),
    rt: { pollMs: 600, batchMs: 60_000 },
    device: { identity: { renewFraction: 1 / 24 } }, // renew after 1 h: past the activation
  }).init();
  try {
    const cas = await rig.svc.list();
    assert.is(cas.length, 2);
    assert.is(cas[0].status, 'Active');
    assert.is(cas[1].activeFrom, T0 + 0.5 * HOUR);
    await rig.device.start();
    await rig.until(() => rig.device.connected && rig.cloud.telemetry.length >= 1, 'connected with a CA 0 certificate', { stepMs: 1000 });
    assert.is(rig.device.identity.info()!.issuerThumbprint, cas[0].thumbprint);

    // Renewal at T0 + 1 h: CA 1 issues; the relying party does not know it.
    await rig.until(() => rig.device.failures.some((f) => f.kind === 'auth-refused'), 'the refusal', { stepMs: 1000, maxSimMs: 2 * HOUR });
    const refusal = rig.device.failures.find((f) => f.kind === 'auth-refused')!;
    assert.is(rig.device.identity.info()!.issuerThumbprint, cas[1].thumbprint);
    assert.is(refusal.unknownIssuer, cas[1].thumbprint, 'names the new CA by thumbprint');
    assert.match(rig.rp.trustProblem(cas[1].thumbprint, rig.clock.now())!, /not registered/);
    assert.is(rig.device.diagnostics().unknownIssuer, cas[1].thumbprint);

    // Twenty minutes of refusals: readings pile up in the outbox, retries continue (capped backoff),
    // the certificate is renewed again after a refusal at most every 10 minutes.
    const issuedBefore = rig.caCalls;
    await rig.run(20 * 60_000, 1000);
    assert.ok(!rig.device.connected);
    const refusals = rig.device.failures.filter((f) => f.kind === 'auth-refused').length;
    assert.ok(refusals >= 15, `kept retrying: ${refusals} refusals in 20 minutes`);
    assert.ok(rig.caCalls - issuedBefore >= 1 && rig.caCalls - issuedBefore <= 3, `renewals after refusals: ${rig.caCalls - issuedBefore}`);
    assert.ok(rig.storage.counters().rows >= 19, `buffered: ${rig.storage.counters().rows}`);

    // The operator registers CA 1 (upload, proof of possession, enrollment group): no device change.
    await registerCa(rig.svc, rig.rp, { index: 1 });
    const t = rig.clock.now();
    await rig.until(() => rig.device.connected && rig.storage.counters().rows === 0, 'recovery', { stepMs: 500, maxSimMs: 10 * 60_000 });
    assert.ok(rig.clock.now() - t <= 61_000, `recovered within the backoff cap: ${(rig.clock.now() - t) / 1000} s`);
    await rig.until(() => rig.rt.unacked.size === 0 && rig.storage.counters().rows === 0, 'everything acknowledged', { stepMs: 500 });

    // Every reading produced is at the hub exactly once (after de-duplication by $.mid).
    const seen = new Map<string, number>();
    const mids = new Set<string>();
    for (const m of rig.cloud.telemetry) {
      if (!m.body[TELEMETRY.samples] || mids.has(m.props['$.mid'])) continue;
      mids.add(m.props['$.mid']);
      for (const s of m.body.samples) seen.set(`${s.r}@${s.us}`, (seen.get(`${s.r}@${s.us}`) ?? 0) + 1);
    }
    const produced = rig.rt.produced;
    assert.is(seen.size, produced.length);
    for (const p of produced) assert.is(seen.get(`${p.ranger}@${p.us}`), 1);
    // The refusal events arrived too, naming the issuer.
    const ev = rig.cloud.telemetry.map((m) => m.body[TELEMETRY.connectionFailure]).filter((e) => e?.kind === 'auth-refused');
    assert.ok(ev.length >= 1);
    assert.is(ev[0].unknownIssuer, cas[1].thumbprint);
  } finally {
    await rig.close();
  }
});

ro.run();
