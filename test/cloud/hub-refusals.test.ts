// Bad input at the emulated hub and DPS: each is refused the way azure-iot-protocols.md ([P]) says,
// with a reason an operator can read from the service API or an event, and the emulator keeps serving.
// Raw MQTT.js clients, because the official SDK cannot be made to send most of these.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import mqtt, { type MqttClient } from 'mqtt';
import { D2C_MAX_BYTES } from '../../sim/cloud/iot-hub.ts';
import { closed, connect, deviceIdentity, dpsUsername, guard, hubUsername, nextEvent, nextMessage, startTestCloud, GROUP, type DeviceIdentity, type TestCloud } from './hub-fixture.ts';

const s = suite('cloud/hub-refusals');
let tc: TestCloud;
let a: DeviceIdentity;
let b: DeviceIdentity;
const open: MqttClient[] = [];

async function device(id: DeviceIdentity, o: Parameters<typeof connect>[2] = {}): Promise<MqttClient> {
  const c = await connect(tc.cloud, id, o);
  c.on('error', () => undefined);
  open.push(c);
  return c;
}

/** The CONNACK refusal: MQTT.js rejects with the return code in `code`. */
async function refusedWith(p: Promise<MqttClient>, code: number): Promise<void> {
  try {
    const c = await p;
    open.push(c);
  } catch (e) {
    assert.is((e as { code?: number }).code, code, (e as Error).message);
    return;
  }
  assert.unreachable(`expected CONNACK ${code}`);
}

s.before(async () => {
  tc = await startTestCloud();
  a = await deviceIdentity(tc.cloud, 'rover-a');
  b = await deviceIdentity(tc.cloud, 'rover-b');
  tc.cloud.hub.registerDevice('rover-a');
  tc.cloud.hub.registerDevice('rover-b');
});

s.after(async () => {
  for (const c of open) c.end(true);
  await tc.close();
});

s('a non-JSON reported patch gets 400 with a JSON error body; the connection stays up', async () => {
  const c = await device(a);
  await c.subscribeAsync('$iothub/twin/res/#', { qos: 0 });
  const reply = nextMessage(c, '$iothub/twin/res/');
  await c.publishAsync('$iothub/twin/PATCH/properties/reported/?$rid=7', 'not json {', { qos: 0 });
  const r = await guard(reply, 5000, 'twin reply');
  assert.is(r.topic, '$iothub/twin/res/400/?$rid=7');
  const body = JSON.parse(r.payload.toString()); // [P]: reply bodies are always valid JSON
  assert.is(body.errorCode, 400004);
  assert.match(body.message, /not valid JSON/);
  assert.is(tc.cloud.hub.twin('rover-a').reported.$version, 1, 'nothing applied');
  // A JSON array is valid JSON but not a patch.
  const reply2 = nextMessage(c, '$iothub/twin/res/');
  await c.publishAsync('$iothub/twin/PATCH/properties/reported/?$rid=8', '[1,2]', { qos: 0 });
  assert.is((await guard(reply2, 5000, 'twin reply')).topic, '$iothub/twin/res/400/?$rid=8');
  // Over 32 KB of reported properties ([P] "Limits").
  const reply3 = nextMessage(c, '$iothub/twin/res/');
  await c.publishAsync('$iothub/twin/PATCH/properties/reported/?$rid=9', JSON.stringify({ blob: 'x'.repeat(33 * 1024) }), { qos: 0 });
  const r3 = await guard(reply3, 5000, 'twin reply');
  assert.is(r3.topic, '$iothub/twin/res/400/?$rid=9');
  assert.match(JSON.parse(r3.payload.toString()).message, /32 KB/);
  // Still connected and serving: a good patch gets 204 with the new version.
  const reply4 = nextMessage(c, '$iothub/twin/res/');
  await c.publishAsync('$iothub/twin/PATCH/properties/reported/?$rid=10', '{"ok":true}', { qos: 0 });
  assert.is((await guard(reply4, 5000, 'twin reply')).topic, '$iothub/twin/res/204/?$rid=10&$version=2');
  assert.ok(c.connected);
  await c.endAsync();
});

s('a 256 KB message is accepted; one byte more closes the connection with a recorded reason and stores nothing', async () => {
  const c = await device(a);
  const topic = 'devices/rover-a/messages/events/';
  await c.publishAsync(topic, Buffer.alloc(D2C_MAX_BYTES, 0x61), { qos: 1 });
  assert.is(tc.cloud.hub.countTelemetry({ deviceId: 'rover-a' }), 1);
  const gone = nextEvent(tc.cloud, 'disconnect', (e) => e.deviceId === 'rover-a' && e.kind === 'hub');
  const done = closed(c);
  c.publish(topic, Buffer.alloc(D2C_MAX_BYTES + 1, 0x61), { qos: 1 });
  const ev = await guard(gone, 5000, 'disconnect');
  assert.match(ev.reason, /262145 bytes from rover-a exceeds the 256 KB limit/);
  await guard(done, 5000, 'client close');
  assert.is(tc.cloud.hub.countTelemetry({ deviceId: 'rover-a' }), 1);
  assert.match(tc.cloud.hub.connection('rover-a').lastDisconnect!.reason, /exceeds the 256 KB limit/);
});

s('a QoS 2 publish closes the connection; a QoS 2 subscribe is granted QoS 1', async () => {
  const c = await device(a);
  const granted = await c.subscribeAsync('$iothub/methods/POST/#', { qos: 2 });
  assert.is(granted[0].qos, 1);
  const gone = nextEvent(tc.cloud, 'disconnect', (e) => e.deviceId === 'rover-a');
  const done = closed(c);
  c.publish('devices/rover-a/messages/events/', 'x', { qos: 2 });
  assert.match((await guard(gone, 5000, 'disconnect')).reason, /QoS 2/);
  await guard(done, 5000, 'client close');
});

s("a device may not subscribe to or publish on another device's topics", async () => {
  const c = await device(a);
  // SUBACK 0x80 (failure): MQTT.js rejects the subscription.
  const g = await c.subscribeAsync('devices/rover-b/messages/devicebound/#', { qos: 1 }).then(
    () => null,
    (e: Error) => e,
  );
  assert.ok(g, 'subscription refused');
  assert.ok(c.connected, 'a refused subscription does not close the connection');
  const gone = nextEvent(tc.cloud, 'disconnect', (e) => e.deviceId === 'rover-a');
  c.publish('devices/rover-b/messages/events/', 'spoof', { qos: 1 });
  assert.match((await guard(gone, 5000, 'disconnect')).reason, /may not publish to 'devices\/rover-b/);
  assert.is(tc.cloud.hub.countTelemetry({ deviceId: 'rover-b' }), 0);
});

s('a certificate for another device ID is refused at CONNECT (5), with the reason recorded', async () => {
  const refused = nextEvent(tc.cloud, 'refused', (e) => e.deviceId === 'rover-a');
  await refusedWith(connect(tc.cloud, b, { clientId: 'rover-a', username: hubUsername(tc.cloud, 'rover-a') }), 5);
  const ev = await refused;
  assert.is(ev.kind, 'hub');
  assert.is(ev.returnCode, 5);
  assert.is(ev.reason, "leaf CN 'rover-b' is not the registration ID 'rover-a'");
  const st = tc.cloud.hub.connection('rover-a').lastRefusal!;
  assert.is(st.reason, ev.reason);
  assert.is(st.returnCode, 5);
  // The same at DPS.
  await refusedWith(connect(tc.cloud, b, { clientId: 'rover-a', username: dpsUsername(tc.cloud, 'rover-a'), clean: true }), 5);
  assert.is(tc.cloud.hub.connection('rover-a').lastRefusal!.kind, 'dps');
});

s('username and client id problems: bad username (4), client id not the device ID (2), unknown ID scope (4)', async () => {
  await refusedWith(connect(tc.cloud, a, { username: 'rover-a' }), 4);
  await refusedWith(connect(tc.cloud, a, { username: `wrong.example.net/rover-a/?api-version=2021-04-12` }), 4);
  await refusedWith(connect(tc.cloud, a, { clientId: 'rover-x' }), 2);
  const refused = nextEvent(tc.cloud, 'refused', (e) => e.kind === 'dps');
  await refusedWith(connect(tc.cloud, a, { username: `0neBADBAD00/registrations/rover-a/api-version=2019-03-31`, clean: true }), 4);
  assert.match((await refused).reason, /unknown ID scope '0neBADBAD00'/);
});

s('a connection without a client certificate is refused (5): "no client certificate presented"', async () => {
  const refused = nextEvent(tc.cloud, 'refused', (e) => e.deviceId === 'rover-a');
  const p = mqtt.connectAsync(`mqtts://127.0.0.1:${tc.cloud.port}`, {
    clientId: 'rover-a',
    username: hubUsername(tc.cloud, 'rover-a'),
    protocolVersion: 4,
    reconnectPeriod: 0,
    ca: tc.cloud.serverCaPem,
  });
  await refusedWith(p, 5);
  assert.is((await refused).reason, 'no client certificate presented');
});

s('a device DPS never registered is refused (5) until it is provisioned', async () => {
  const c3 = await deviceIdentity(tc.cloud, 'rover-c');
  const refused = nextEvent(tc.cloud, 'refused', (e) => e.deviceId === 'rover-c');
  await refusedWith(connect(tc.cloud, c3), 5);
  assert.match((await refused).reason, /not registered in hub .* \(provision it through DPS first\)/);
});

s('an issuer in no enrollment group is refused with its thumbprint; enrolling it again lets the device in', async () => {
  const g = tc.cloud.relyingParty.group(GROUP)!;
  const slot = g.primary === a.issuerThumbprint ? 'primary' : 'secondary';
  tc.cloud.relyingParty.unenroll(GROUP, slot);
  const refused = nextEvent(tc.cloud, 'refused', (e) => e.deviceId === 'rover-a');
  await refusedWith(connect(tc.cloud, a), 5);
  assert.is((await refused).reason, `issuer ${a.issuerThumbprint} is not registered in any enrollment group`);
  tc.cloud.relyingParty.enroll(GROUP, a.issuerThumbprint, { slot });
  const c = await device(a);
  assert.ok(c.connected);
  await c.endAsync();
});

s('a second connection of the same device drops the first, with the reason recorded', async () => {
  const first = await device(a);
  const firstClosed = closed(first);
  const dropped = nextEvent(tc.cloud, 'disconnect', (e) => e.deviceId === 'rover-a' && e.kind === 'hub');
  const second = await device(a);
  await guard(firstClosed, 5000, 'first connection closed');
  assert.is((await guard(dropped, 5000, 'disconnect')).reason, 'a new connection of the same device replaced it');
  assert.ok(second.connected);
  assert.ok(tc.cloud.hub.connection('rover-a').connected, 'the device is still online through the second connection');
  await second.publishAsync('devices/rover-a/messages/events/', 'still here', { qos: 1 });
  assert.is(tc.cloud.hub.telemetry({ deviceId: 'rover-a' }).at(-1)!.body.toString(), 'still here');
  await second.endAsync();
});

s('a method to a device that does not answer times out on the simulated clock when it has at()', async () => {
  // A scheduling clock: the test fires the timeout by advancing simulated time, no real waiting.
  const timers: { when: number; fn: () => void }[] = [];
  (tc.clock as any).at = (when: number, fn: () => void) => {
    const t = { when, fn };
    timers.push(t);
    return () => timers.splice(timers.indexOf(t), 1);
  };
  try {
    const c = await device(a);
    await c.subscribeAsync('$iothub/methods/POST/#', { qos: 0 });
    const asked = nextMessage(c, '$iothub/methods/POST/');
    const res = tc.cloud.hub.invokeMethod('rover-a', 'slow', { n: 1 }, 30_000);
    const req = await guard(asked, 5000, 'method request');
    assert.match(req.topic, /^\$iothub\/methods\/POST\/slow\/\?\$rid=[0-9a-f]+$/);
    assert.is(timers.length, 1);
    assert.is(timers[0].when, tc.clock.now() + 30_000);
    tc.clock.advance(30_000);
    timers[0].fn();
    const r = await res;
    assert.is(r.status, 504);
    await c.endAsync();
  } finally {
    delete (tc.clock as any).at;
  }
});

s.run();
