// The hub's durable state and the tenant CA rotation seen from the hub: telemetry queries by device and
// arrival time, the registry and twins surviving an emulator restart, cloud-to-device limits
// (azure-iot-protocols.md "Limits": 64 KB, 50 pending), and devices refused after a CA rollover until
// the new CA is registered (tenant-ca.md, "What goes wrong").
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DAY_MS, ManualClock } from '../../sim/cloud/clock.ts';
import { startCloud } from '../../sim/cloud/cloud.ts';
import { C2D_MAX_BYTES, C2D_MAX_PENDING, HubError } from '../../sim/cloud/iot-hub.ts';
import { connect, deviceIdentity, guard, nextEvent, nextMessage, startTestCloud, GROUP, T0 } from './hub-fixture.ts';
import { tempDir } from './_util.ts';

const s = suite('cloud/hub-store');

s('telemetry is queried by device and arrival time; registry, twins and rows survive a restart', async () => {
  const tmp = tempDir('hubstore');
  const clock = new ManualClock(T0);
  let cloud = await startCloud({ stateDir: tmp.dir, clock, port: 0 });
  try {
    await cloud.enrollActiveCa(GROUP);
    const id = await deviceIdentity(cloud, 'rover-s');
    cloud.hub.registerDevice('rover-s', { modelId: 'dtmi:rover:Rover;1' });
    const c = await connect(cloud, id);
    for (let i = 0; i < 5; i++) {
      await c.publishAsync('devices/rover-s/messages/events/', `{"i":${i}}`, { qos: 1 });
      clock.advance(60_000);
    }
    await c.endAsync();
    assert.is(cloud.hub.countTelemetry({ deviceId: 'rover-s' }), 5);
    assert.is(cloud.hub.countTelemetry({ deviceId: 'rover-s', from: T0 + 60_000, to: T0 + 180_000 }), 3);
    assert.equal(
      cloud.hub.telemetry({ deviceId: 'rover-s', from: T0 + 120_000 }).map((r) => r.body.toString()),
      ['{"i":2}', '{"i":3}', '{"i":4}'],
    );
    assert.is(cloud.hub.telemetry({ limit: 2 }).length, 2);
    assert.is(cloud.hub.countTelemetry({ deviceId: 'other' }), 0);
    cloud.hub.setDesired('rover-s', { intervalMs: 1000 });
    cloud.hub.setDesired('rover-s', { intervalMs: null, mode: 'eco' });
    const port = cloud.port;
    await cloud.close();

    cloud = await startCloud({ stateDir: tmp.dir, clock, port: 0 });
    assert.is.not(cloud.port, 0);
    assert.is(cloud.hub.countTelemetry({ deviceId: 'rover-s' }), 5, 'rows kept in SQLite');
    assert.is(cloud.hub.device('rover-s')!.modelId, 'dtmi:rover:Rover;1');
    const twin = cloud.hub.twin('rover-s');
    assert.is(twin.desired.$version, 3);
    assert.equal(twin.desired, { mode: 'eco', $version: 3 });
    // The registry and the enrollment survive: the device reconnects without provisioning again.
    const c2 = await connect(cloud, id);
    assert.ok(c2.connected);
    await c2.endAsync();
    void port;
  } finally {
    await cloud.close();
    tmp.remove();
  }
});

s('cloud-to-device: queued while offline, delivered on subscribe; 64 KB and 50 pending are the limits', async () => {
  const tc = await startTestCloud();
  try {
    const id = await deviceIdentity(tc.cloud, 'rover-q');
    tc.cloud.hub.registerDevice('rover-q');
    const mid = tc.cloud.hub.sendC2D('rover-q', 'while offline', { kind: 'note' });
    assert.is(tc.cloud.hub.pendingC2D('rover-q'), 1);
    try {
      tc.cloud.hub.sendC2D('rover-q', Buffer.alloc(C2D_MAX_BYTES + 1));
      assert.unreachable('64 KB limit');
    } catch (e) {
      assert.instance(e, HubError);
      assert.is((e as HubError).code, 'too-large');
    }
    for (let i = 1; i < C2D_MAX_PENDING; i++) tc.cloud.hub.sendC2D('rover-q', `m${i}`);
    try {
      tc.cloud.hub.sendC2D('rover-q', 'one too many');
      assert.unreachable('50 pending');
    } catch (e) {
      assert.is((e as HubError).code, 'queue-full');
    }
    const c = await connect(tc.cloud, id);
    const first = nextMessage(c, 'devices/rover-q/messages/devicebound/');
    await c.subscribeAsync('devices/rover-q/messages/devicebound/#', { qos: 1 });
    const m = await guard(first, 5000, 'C2D');
    assert.is(m.payload.toString(), 'while offline');
    // [P] "Cloud-to-device": properties travel URL-encoded in the topic's property bag.
    assert.match(m.topic, new RegExp(`%24\\.mid=${mid}`));
    assert.match(m.topic, /kind=note/);
    assert.is(tc.cloud.hub.pendingC2D('rover-q'), 0);
    await c.endAsync();
  } finally {
    await tc.close();
  }
});

s('after the tenant CA rollover, devices are refused until the new CA is registered, then recover', async () => {
  const tc = await startTestCloud();
  try {
    const ss = tc.cloud.securityService;
    const first = await ss.find();
    // tenant-ca.md (2020 policy): the new CA is created 60 days before the active one expires and
    // becomes Active 30 days later. Go to one day after its activation.
    tc.clock.set(first.notAfter - 60 * DAY_MS + 31 * DAY_MS);
    const active = await ss.find();
    assert.is.not(active.thumbprint, first.thumbprint, 'a new CA is Active');
    const id = await deviceIdentity(tc.cloud, 'rover-r');
    assert.is(id.issuerThumbprint, active.thumbprint);
    tc.cloud.hub.registerDevice('rover-r');
    const refused = nextEvent(tc.cloud, 'refused', (e) => e.deviceId === 'rover-r');
    try {
      const c = await connect(tc.cloud, id);
      c.end(true);
      assert.unreachable('refused');
    } catch (e) {
      assert.is((e as { code?: number }).code, 5);
    }
    const ev = await refused;
    assert.match(ev.reason, new RegExp(`^issuer ${active.thumbprint} .* is not registered in any enrollment group$`));
    assert.is(tc.cloud.hub.connection('rover-r').lastRefusal!.reason, ev.reason);
    // The operator's fix: register the new CA (proof of possession) in the free slot. No device change.
    const r = await tc.cloud.enrollActiveCa(GROUP);
    assert.is(r.thumbprint, active.thumbprint);
    const g = tc.cloud.relyingParty.group(GROUP)!;
    assert.equal([g.primary, g.secondary].sort(), [first.thumbprint, active.thumbprint].sort(), 'old CA kept, new one in the free slot');
    const c = await connect(tc.cloud, id);
    assert.ok(c.connected);
    await c.endAsync();
  } finally {
    await tc.close();
  }
});

s.run();
