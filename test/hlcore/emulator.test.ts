// hlcore against the project's IoT Hub + DPS emulator (sim/cloud/cloud.ts: aedes over TLS, exact
// Azure topics, the relying party admitting devices, telemetry in SQLite): provisioning with the
// model ID, telemetry with message ids, writable properties (200 and 400), commands, a broker outage.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MODEL_ID, TELEMETRY } from '../../hlcore/pnp.ts';
import { Rig } from './_util.ts';

const em = suite('hlcore with the cloud emulator');

em('DPS, hub, telemetry, properties and commands through the emulator; every reading stored once by message id', async () => {
  const rig = await new Rig().initEmulator();
  const emu = rig.emu!;
  try {
    await rig.device.start();
    await rig.until(() => emu.hub.connection('rover-7').connected, 'hub connection', { stepMs: 500 });
    const rec = emu.hub.device('rover-7')!;
    assert.is(rec.modelId, MODEL_ID, 'the DPS payload carried the model ID');
    assert.is(emu.hub.connection('rover-7').modelId, MODEL_ID, 'the hub username carried the model ID');

    await rig.until(() => emu.hub.countTelemetry({ deviceId: 'rover-7' }) >= 3, 'three messages', { stepMs: 500 });
    const rows = emu.hub.telemetry({ deviceId: 'rover-7' });
    const first = rows.find((r) => JSON.parse(r.body.toString()).batchSeq === 1)!;
    assert.is(first.messageId, 'rv1.1-1');
    assert.is(first.properties['$.ct'], 'application/json');
    assert.ok(first.createdAt, 'iothub-creation-time-utc present');

    // Writable properties through the service API.
    const v1 = emu.hub.setDesired('rover-7', { airTemperatureC: 12.5 });
    await rig.until(() => (emu.hub.twin('rover-7').reported.airTemperatureC as any)?.av === v1, 'ack 200');
    assert.equal(emu.hub.twin('rover-7').reported.airTemperatureC, { value: 12.5, ac: 200, av: v1, ad: 'applied by the RT core' });
    const v2 = emu.hub.setDesired('rover-7', { airTemperatureC: 120 });
    await rig.until(() => (emu.hub.twin('rover-7').reported.airTemperatureC as any)?.av === v2, 'ack 400');
    const rej = emu.hub.twin('rover-7').reported.airTemperatureC as any;
    assert.is(rej.ac, 400);
    assert.is(rej.value, 120);
    assert.match(rej.ad, /-40\.\.85/);

    // A command round trip (the hub's method timeout runs on the simulated clock).
    let result: any = null;
    emu.hub.invokeMethod('rover-7', 'rtStatus', null).then((r) => (result = r));
    await rig.until(() => result !== null, 'rtStatus result');
    assert.is(result.status, 200);
    assert.is(result.payload.rangers, 2);
    let pc: any = null;
    emu.hub.invokeMethod('rover-7', 'sensorPowerCycle', 0).then((r) => (pc = r));
    await rig.until(() => pc !== null, 'sensorPowerCycle result');
    assert.equal(pc, { status: 200, payload: { ranger: 0, code: 0 } });

    // IoT Central offline command: a cloud-to-device message with a `method-name` property.
    emu.hub.sendC2D('rover-7', '1', { 'method-name': 'sensorPowerCycle' });
    await rig.until(() => rig.rt.powerCycles.length === 2, 'offline command executed');
    assert.equal(rig.rt.powerCycles, [0, 1]);

    // Everything the RT core produced is in the emulator's store, once per message id.
    await rig.until(() => rig.rt.unacked.size === 0 && rig.storage.counters().rows === 0, 'all sent', { stepMs: 250 });
    const seen = new Map<string, number>();
    const mids = new Set<string>();
    for (const r of emu.hub.telemetry({ deviceId: 'rover-7' })) {
      const body = JSON.parse(r.body.toString());
      if (!body[TELEMETRY.samples] || mids.has(r.messageId!)) continue;
      mids.add(r.messageId!);
      for (const s of body.samples) seen.set(`${s.r}@${s.us}`, (seen.get(`${s.r}@${s.us}`) ?? 0) + 1);
    }
    assert.is(seen.size, rig.rt.produced.length);
    for (const p of rig.rt.produced) assert.is(seen.get(`${p.ranger}@${p.us}`), 1);
  } finally {
    await rig.close();
  }
});

em.run();
