// hlcore end to end over real TLS on 127.0.0.1: DPS with X.509 and the model ID, the IoT Hub session
// with the PnP username, telemetry with message ids, writable properties acknowledged exactly as
// azure-iot-protocols.md shows, commands, and outages in which no reading is lost. The hub side is a
// real aedes broker admitting devices with the real relying party (test/hlcore/_hub.ts); the truth
// for "nothing lost" is the fake RT core's own record of every reading it produced.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MODEL_ID, objectFields, REPORTED, TELEMETRY } from '../../hlcore/pnp.ts';
import { Rig } from './_util.ts';
import type { Telemetry } from './_hub.ts';

const e2e = suite('hlcore device end to end');

/** Every reading in the hub's telemetry, de-duplicated by $.mid, keyed by (ranger, device us). */
function readingsAtHub(tel: Telemetry[]): { unique: Map<string, { mm?: number; kind: string }>; duplicates: number; dupByMid: number } {
  const byMid = new Map<string, Telemetry>();
  let dupByMid = 0;
  for (const t of tel) {
    const mid = t.props['$.mid'];
    if (!t.body[TELEMETRY.samples]) continue;
    if (byMid.has(mid)) {
      dupByMid++;
      assert.equal(byMid.get(mid)!.body, t.body, `a resend of ${mid} carries the same body`);
      continue;
    }
    byMid.set(mid, t);
  }
  const unique = new Map<string, { mm?: number; kind: string }>();
  let duplicates = 0;
  for (const t of byMid.values()) {
    for (const s of t.body[TELEMETRY.samples]) {
      const k = `${s.r}@${s.us}`;
      if (unique.has(k)) duplicates++;
      unique.set(k, { mm: s.mm, kind: s.kind });
    }
  }
  return { unique, duplicates, dupByMid };
}

function assertAllStoredOnce(rig: Rig): void {
  const { unique, duplicates } = readingsAtHub(rig.cloud.telemetry);
  assert.is(duplicates, 0, 'no reading twice under different message ids');
  const produced = rig.rt.produced.filter((p) => !rig.rt.unacked.has(p.batchSeq));
  assert.ok(produced.length > 0);
  let missing = 0;
  for (const p of produced) {
    const got = unique.get(`${p.ranger}@${p.us}`);
    if (!got) {
      missing++;
      continue;
    }
    if (p.code === 0xffff) assert.is(got.kind, 'noEcho');
    else assert.is(got.mm, p.code);
  }
  assert.is(missing, 0, `${missing} of ${produced.length} acknowledged readings missing at the hub`);
  assert.is(unique.size, produced.length, 'exactly the readings produced');
}

e2e('provisioning, telemetry, writable properties (200 and 400), commands — topics and shapes per the protocol', async () => {
  const rig = await new Rig().init();
  try {
    await rig.device.start();
    await rig.until(() => rig.cloud.isConnected('rover-7'), 'hub connection');
    // DPS: exact username, the registration payload carries the model ID (azure-iot-protocols.md).
    const dps = rig.cloud.connects.find((c) => c.kind === 'dps')!;
    assert.is(dps.username, '0ne00TEST/registrations/rover-7/api-version=2019-03-31');
    assert.equal(rig.cloud.registrations[0], { registrationId: 'rover-7', payload: { modelId: MODEL_ID } });
    const hub = rig.cloud.connects.find((c) => c.kind === 'hub' && c.ok)!;
    assert.is(hub.username, `test-hub.azure-devices.net/rover-7/?api-version=2021-04-12&model-id=${MODEL_ID}`);
    assert.is(hub.clientId, 'rover-7');

    await rig.until(() => rig.cloud.telemetry.length >= 3, 'three batches', { stepMs: 500 });
    const t = rig.cloud.telemetry[0];
    assert.match(t.topic, /^devices\/rover-7\/messages\/events\/\$\.mid=rv1\.1-1&\$\.ct=application%2Fjson&\$\.ce=utf-8&iothub-creation-time-utc=/);
    assert.is(t.props['$.ct'], 'application/json');
    assert.equal(Object.keys(t.body).sort(), ['batchSeq', 'ranger0', 'ranger1', 'samples']);
    for (const f of Object.keys(t.body.ranger0)) assert.ok(objectFields('Telemetry', 'ranger0').includes(f), `ranger0.${f} is in the DTDL`);
    for (const f of Object.keys(t.body.samples[0])) assert.ok(objectFields('Telemetry', 'samples').includes(f), `samples.${f} is in the DTDL`);
    // Summary from the samples themselves.
    const mm0 = t.body.samples.filter((s: any) => s.r === 0 && s.kind === 'mm').map((s: any) => s.mm);
    assert.is(t.body.ranger0.valid, mm0.length);
    assert.is(t.body.ranger0.minCm, Math.min(...mm0) / 10);
    assert.is(t.body.ranger0.maxCm, Math.max(...mm0) / 10);
    assert.is(t.body.ranger0.lastCm, mm0[mm0.length - 1] / 10);
    assert.is(t.body.ranger0.noEcho, t.body.samples.filter((s: any) => s.r === 0 && s.kind === 'noEcho').length);
    assert.is(t.body.samples.length, 100, '50 polls x 2 rangers');
    // Device time stamps: 100 ms apart per ranger, ranger 1 offset by half a period (PROTOCOL.md).
    assert.is(Date.parse(t.body.samples[2].t) - Date.parse(t.body.samples[0].t), 100);
    assert.is(t.body.samples[1].us - t.body.samples[0].us, 50_000);

    // Reported properties: firmware version, connection and certificate diagnostics, all named in the DTDL.
    await rig.until(() => 'connection' in rig.cloud.reported && 'certificate' in rig.cloud.reported, 'reported diagnostics');
    assert.is(rig.cloud.reported[REPORTED.firmwareVersion], '1.0.0-test');
    assert.is((rig.cloud.reported.connection as any).state, 'connected');
    assert.is((rig.cloud.reported.certificate as any).issuerThumbprint, (await rig.svc.list())[0].thumbprint);
    for (const name of ['connection', 'certificate', 'rtCore']) {
      for (const f of Object.keys((rig.cloud.reported as any)[name] ?? {})) assert.ok(objectFields('Property', name).includes(f), `${name}.${f} is in the DTDL`);
    }

    // Writable property accepted: forwarded to the RT core, ack {value, ac 200, av = desired $version, ad}.
    const v1 = rig.cloud.setDesired('rover-7', { airTemperatureC: 31.5 });
    await rig.until(() => (rig.cloud.reported.airTemperatureC as any)?.av === v1, 'ack of airTemperatureC');
    assert.equal(rig.cloud.reported.airTemperatureC, { value: 31.5, ac: 200, av: v1, ad: 'applied by the RT core' });
    assert.is(rig.rt.configs.at(-1)!.temperatureC, 31.5);
    // Rejected by hlcore's rules (PROTOCOL.md CONFIG: batch a multiple of the poll period): ac 400 with a reason, RT untouched.
    const n = rig.rt.configs.length;
    const v2 = rig.cloud.setDesired('rover-7', { pollPeriodMs: 300 });
    await rig.until(() => (rig.cloud.reported.pollPeriodMs as any)?.av === v2, 'ack of pollPeriodMs');
    const ack = rig.cloud.reported.pollPeriodMs as any;
    assert.equal(Object.keys(ack).sort(), ['ac', 'ad', 'av', 'value']);
    assert.is(ack.ac, 400);
    assert.is(ack.value, 300);
    assert.match(ack.ad, /not a multiple of pollPeriodMs 300/);
    assert.is(rig.rt.configs.length, n, 'nothing sent to the RT core');
    const v3 = rig.cloud.setDesired('rover-7', { pollPeriodMs: 'fast' });
    await rig.until(() => (rig.cloud.reported.pollPeriodMs as any)?.av === v3, 'ack of a non-integer');
    assert.is((rig.cloud.reported.pollPeriodMs as any).ac, 400);

    // Commands (IoT Central: 200 + payload).
    const rid = rig.cloud.invoke('rover-7', 'sensorPowerCycle', 1);
    await rig.until(() => rig.cloud.methodReplies.has(rid), 'sensorPowerCycle reply');
    assert.equal(rig.cloud.methodReplies.get(rid), { status: 200, body: { ranger: 1, code: 0 } });
    assert.equal(rig.rt.powerCycles, [1]);
    const bad = rig.cloud.invoke('rover-7', 'sensorPowerCycle', 5);
    await rig.until(() => rig.cloud.methodReplies.has(bad), 'refused power cycle');
    assert.is(rig.cloud.methodReplies.get(bad)!.status, 400);
    const st = rig.cloud.invoke('rover-7', 'rtStatus', null);
    await rig.until(() => rig.cloud.methodReplies.has(st), 'rtStatus reply');
    const status = rig.cloud.methodReplies.get(st)!;
    assert.is(status.status, 200);
    assert.is(status.body.rangers, 2);
    assert.is(status.body.pollMs, 100);
    assert.ok(status.body.counters.readings > 0);
    assertAllStoredOnce(rig);
  } finally {
    await rig.close();
  }
});

e2e('bad input from the hub: a non-JSON desired patch and a method with invalid JSON are refused with a reason, no crash', async () => {
  const rig = await new Rig().init();
  try {
    await rig.device.start();
    await rig.until(() => rig.device.connected, 'hub session up');
    rig.cloud.sendRaw('rover-7', '$iothub/twin/PATCH/properties/desired/?$version=9', '{"pollPeriodMs": 200');
    rig.cloud.sendRaw('rover-7', '$iothub/twin/PATCH/properties/desired/?$version=10', '[1,2]');
    rig.cloud.sendRaw('rover-7', '$iothub/methods/POST/sensorPowerCycle/?$rid=bad1', '{ranger: 1}');
    await rig.until(() => rig.cloud.methodReplies.has('bad1'), 'reply to the bad method');
    assert.equal(rig.cloud.methodReplies.get('bad1'), { status: 400, body: { error: 'method sensorPowerCycle: payload is not valid JSON' } });
    await rig.until(() => rig.device.stats.badInput >= 3, 'three refusals counted');
    assert.is(rig.cloud.reported.pollPeriodMs, undefined, 'nothing applied or acknowledged');
    // Still working: a good command right after.
    const ok = rig.cloud.invoke('rover-7', 'sensorPowerCycle', 1);
    await rig.until(() => rig.cloud.methodReplies.has(ok), 'good command');
    assert.is(rig.cloud.methodReplies.get(ok)!.status, 200);
    assert.ok(rig.device.connected);
  } finally {
    await rig.close();
  }
});

e2e('desired properties set while offline are applied from the twin at connect, once', async () => {
  const rig = await new Rig().init();
  try {
    rig.cloud.desired = { $version: 7, batchPeriodMs: 10_000, alertDistanceCm: 50 };
    await rig.device.start();
    await rig.until(() => (rig.cloud.reported.batchPeriodMs as any)?.av === 7 && (rig.cloud.reported.alertDistanceCm as any)?.av === 7, 'acks from the twin');
    assert.equal(rig.cloud.reported.batchPeriodMs, { value: 10_000, ac: 200, av: 7, ad: 'applied by the RT core' });
    assert.equal(rig.cloud.reported.alertDistanceCm, { value: 50, ac: 200, av: 7, ad: 'applied' });
    assert.is(rig.rt.configs.at(-1)!.batchMs, 10_000);
  } finally {
    await rig.close();
  }
});

e2e('outages: broker down 10 simulated minutes, HL killed mid-outage and restarted, Wi-Fi lost — every reading once', async () => {
  const rig = await new Rig().init();
  try {
    await rig.device.start();
    await rig.until(() => rig.cloud.telemetry.length >= 2, 'first telemetry', { stepMs: 500 });

    // 1. Broker down for ten simulated minutes; half-way the HL process dies and restarts from the same storage.
    await rig.cloud.stop();
    await rig.run(300_000, 1000);
    assert.ok(!rig.device.connected);
    const kinds = rig.device.failures.map((f) => f.kind);
    assert.ok(kinds.includes('broker-unreachable'), `failures classified: ${kinds.join(', ')}`);
    const buffered = rig.storage.counters().rows;
    assert.ok(buffered >= 55, `batches buffered while the broker is down: ${buffered}`);
    rig.device.stop(); // the crash: the process is gone (storage handle closed below, no ack for what is in flight)
    rig.rt.detach();
    rig.storage.close();
    await rig.run(20_000, 1000); // HL dead: the RT core keeps its batches (and retransmits into the void)
    rig.storage = new (rig.storage.constructor as any)(rig.storage.path);
    rig.device = rig.makeDevice(rig.rt.attach());
    await rig.device.start();
    await rig.run(280_000, 1000);
    await rig.cloud.start(); // same port
    await rig.until(() => rig.device.connected && rig.storage.counters().rows === 0, 'drained after the outage', { stepMs: 500 });
    assert.ok(rig.device.failures.some((f) => f.kind === 'broker-unreachable'));

    // 2. Wi-Fi lost for two minutes.
    rig.ap.down('power cut at the access point');
    await rig.run(120_000, 1000);
    assert.ok(!rig.device.connected);
    assert.ok(rig.device.failures.some((f) => f.kind === 'network-down'), 'Wi-Fi loss classified as network-down');
    rig.ap.restore();
    await rig.until(() => rig.device.connected && rig.storage.counters().rows === 0, 'drained after Wi-Fi came back', { stepMs: 500 });
    await rig.run(12_000, 500);
    await rig.until(() => rig.storage.counters().rows === 0 && rig.rt.unacked.size === 0, 'all acknowledged and sent', { stepMs: 250 });

    assertAllStoredOnce(rig);
    assert.is(rig.caCalls, 1, 'the restarted HL core reused the key and certificate from the secure store');
    assert.ok(!rig.log.join('\n').includes('PRIVATE KEY'), 'no key material in the diagnostics');
    // The failures were reported: events through the outbox, and the `connection` property.
    const events = rig.cloud.telemetry.filter((t) => t.body[TELEMETRY.connectionFailure]).map((t) => t.body.connectionFailure.kind);
    assert.ok(events.includes('broker-unreachable') && events.includes('network-down'), `events: ${[...new Set(events)].join(', ')}`);
    const times = rig.cloud.telemetry.filter((t) => t.body.batchSeq).map((t) => t.body.batchSeq);
    const order = times.filter((s, i) => i === 0 || s !== times[i - 1]);
    assert.equal(order, [...order].sort((a, b) => a - b), 'batches reach the hub in order');
  } finally {
    await rig.close();
  }
});

e2e.run();
