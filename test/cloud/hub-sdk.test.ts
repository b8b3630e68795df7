// The emulator against the real peer: a device made of the official Azure IoT SDK for Node
// (azure-iot-provisioning-device-mqtt + azure-iot-security-x509 for DPS, azure-iot-device +
// azure-iot-device-mqtt for the hub), unchanged, in a child process that trusts the emulator's server
// CA through NODE_EXTRA_CA_CERTS. Every outcome is checked on the emulator's side: the device registry,
// the SQLite telemetry rows, twin versions, the method answer. Expected values come from
// /work/shared/reference/azure-iot-protocols.md.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { deviceIdentity, guard, nextEvent, startTestCloud, GROUP, T0, type DeviceIdentity, type TestCloud } from './hub-fixture.ts';
import { repoRoot } from './_util.ts';

const s = suite('cloud/hub-sdk');
const MODEL = 'dtmi:rover:Rover;1';
const DEVICE = 'rover-sdk-0001';
let tc: TestCloud;
let id: DeviceIdentity;
let child: ChildProcess;
let assignedHub = '';
const events: any[] = [];
const waiters = new Map<number, (v: any) => void>();
const eventWaiters: { pred: (e: any) => boolean; resolve: (e: any) => void }[] = [];
let seq = 0;

/** One command to the SDK device; resolves with its answer (a real inter-process event). */
function call(o: Record<string, unknown>, ms = 20_000): Promise<any> {
  const n = ++seq;
  const p = new Promise<any>((resolve) => waiters.set(n, resolve));
  child.stdin!.write(JSON.stringify({ id: n, ...o }) + '\n');
  return guard(p, ms, `SDK device op ${String(o.op)}`);
}

function sdkEvent(pred: (e: any) => boolean, what: string): Promise<any> {
  const seen = events.find(pred);
  if (seen) {
    events.splice(events.indexOf(seen), 1);
    return Promise.resolve(seen);
  }
  return guard(new Promise((resolve) => eventWaiters.push({ pred, resolve })), 10_000, what);
}

s.before(async () => {
  tc = await startTestCloud();
  id = await deviceIdentity(tc.cloud, DEVICE);
  child = spawn(process.execPath, ['--import', 'tsx', 'test/cloud/hub-sdk-device.ts'], {
    cwd: repoRoot,
    env: { ...process.env, NODE_EXTRA_CA_CERTS: tc.cloud.serverCaPath },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const o = JSON.parse(line);
    if (o.id !== undefined && waiters.has(o.id)) {
      waiters.get(o.id)!(o);
      waiters.delete(o.id);
      return;
    }
    const w = eventWaiters.find((x) => x.pred(o));
    if (w) {
      eventWaiters.splice(eventWaiters.indexOf(w), 1);
      w.resolve(o);
    } else events.push(o);
  });
});

s.after(async () => {
  if (child.exitCode === null) {
    const exited = new Promise((r) => child.once('exit', r));
    child.stdin!.end();
    await guard(exited, 10_000, 'SDK device exit').catch(() => child.kill());
  }
  await tc.close();
});

s('provisions through DPS with an X.509 group enrollment and records the model ID', async () => {
  const registered = nextEvent(tc.cloud, 'registered');
  const r = await call({ op: 'register', provisioningHost: tc.cloud.dpsHost, idScope: tc.cloud.idScope, registrationId: DEVICE, certPem: id.certPem, keyPem: id.keyPem, modelId: MODEL });
  assert.ok(r.ok, r.error);
  // [P] "Poll": registrationState with assignedHub, deviceId, status "assigned".
  assert.is(r.status, 'assigned');
  assert.is(r.substatus, 'initialAssignment');
  assert.is(r.deviceId, DEVICE);
  assert.is(r.assignedHub, tc.cloud.hubHost);
  const ev = await registered;
  assert.is(ev.group, GROUP);
  assert.is(ev.modelId, MODEL);
  const rec = tc.cloud.hub.device(DEVICE)!;
  assert.is(rec.group, GROUP);
  assert.is(rec.issuerThumbprint, id.issuerThumbprint);
  assert.is(rec.modelId, MODEL);
  assert.equal(rec.payload, { modelId: MODEL });
  assert.is(rec.createdAt, T0, 'registration time is the simulated clock');
  assignedHub = r.assignedHub;
});

s('connects to the assigned hub with its certificate; the CONNECT username carries the model ID', async () => {
  const connected = nextEvent(tc.cloud, 'connect', (e) => e.kind === 'hub');
  const r = await call({ op: 'open', hubHost: assignedHub, deviceId: DEVICE, certPem: id.certPem, keyPem: id.keyPem, ca: tc.cloud.serverCaPem, modelId: MODEL });
  assert.ok(r.ok, r.error);
  const ev = await connected;
  assert.is(ev.deviceId, DEVICE);
  assert.is(ev.modelId, MODEL);
  const st = tc.cloud.hub.connection(DEVICE);
  assert.ok(st.connected);
  assert.is(st.connectedAt, T0);
  assert.is(st.lastRefusal, null);
});

s('telemetry with system and application properties lands in SQLite, decoded', async () => {
  tc.clock.advance(5_000);
  const r = await call({
    op: 'send',
    body: '{"distance":1.25}',
    messageId: 'msg-0001',
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    props: { 'iothub-creation-time-utc': '2026-03-01T08:00:04.500Z', sensor: 'front left', 'a&b': 'x=y' },
  });
  assert.ok(r.ok, r.error); // sendEvent resolves on PUBACK: the row exists by then
  const rows = tc.cloud.hub.telemetry({ deviceId: DEVICE });
  assert.is(rows.length, 1);
  const row = rows[0];
  assert.is(row.body.toString('utf8'), '{"distance":1.25}');
  assert.is(row.messageId, 'msg-0001');
  assert.is(row.createdAt, '2026-03-01T08:00:04.500Z');
  assert.is(row.arrivedAt, T0 + 5_000);
  // The SDK percent-encodes `$` as %24 and reserved characters in keys and values ([P] "Telemetry").
  assert.is(row.properties['$.ct'], 'application/json');
  assert.is(row.properties['$.ce'], 'utf-8');
  assert.is(row.properties['$.mid'], 'msg-0001');
  assert.is(row.properties.sensor, 'front left');
  assert.is(row.properties['a&b'], 'x=y');
  assert.is(tc.cloud.hub.countTelemetry({ deviceId: DEVICE }), 1);
});

s('twin: GET, reported patch (version 2), desired update pushed with its $version', async () => {
  const t = await call({ op: 'getTwin' });
  assert.ok(t.ok, t.error);
  assert.is(t.desired.$version, 1);
  assert.is(t.reported.$version, 1);
  const rep = await call({ op: 'report', patch: { firmware: '1.0.0', intervalMs: { value: 5000, ac: 200, av: 1 } } });
  assert.ok(rep.ok, rep.error);
  const twin = tc.cloud.hub.twin(DEVICE);
  assert.is(twin.reported.$version, 2);
  assert.is(twin.reported.firmware, '1.0.0');
  assert.equal(twin.reported.intervalMs, { value: 5000, ac: 200, av: 1 });
  // null deletes ([P] "Desired updates").
  const rep2 = await call({ op: 'report', patch: { firmware: null } });
  assert.ok(rep2.ok, rep2.error);
  assert.is(tc.cloud.hub.twin(DEVICE).reported.$version, 3);
  assert.not.ok('firmware' in tc.cloud.hub.twin(DEVICE).reported);

  const v = tc.cloud.hub.setDesired(DEVICE, { intervalMs: 2000 });
  assert.is(v, 2);
  const d = await sdkEvent((e) => e.event === 'desired' && e.desired.$version === 2, 'desired patch at the SDK');
  assert.equal(d.desired, { intervalMs: 2000, $version: 2 });
  assert.is(tc.cloud.hub.twin(DEVICE).desired.intervalMs, 2000);
});

s('direct method round trip: the SDK handler answers, the service gets status and payload', async () => {
  const reg = await call({ op: 'onMethod', name: 'setRange', status: 200, response: { applied: true, maxCm: 400 } });
  assert.ok(reg.ok, reg.error);
  // The SDK subscribes to $iothub/methods/POST/# lazily, after onDeviceMethod returns
  // (azure-iot-protocols.md, "subscribes lazily"): until its SUBSCRIBE lands the hub answers 404.
  // Wait for that real network event (bounded), then invoke.
  let res = await tc.cloud.hub.invokeMethod(DEVICE, 'setRange', { maxCm: 400 }, 10_000);
  for (let i = 0; i < 250 && res.status === 404; i++) {
    await new Promise((r) => setTimeout(r, 20));
    res = await guard(tc.cloud.hub.invokeMethod(DEVICE, 'setRange', { maxCm: 400 }, 10_000), 15_000, 'method answer');
  }
  assert.equal(res, { status: 200, payload: { applied: true, maxCm: 400 } });
  const seen = await sdkEvent((e) => e.event === 'method', 'method at the SDK');
  assert.is(seen.name, 'setRange');
  assert.equal(seen.payload, { maxCm: 400 });
  // An unknown device is not online: 404 ([P]: IoT Hub answers 404 for an offline device).
  const off = await tc.cloud.hub.invokeMethod('nobody', 'setRange', {}, 1000);
  assert.is(off.status, 404);
});

s('cloud-to-device message reaches the SDK with its properties', async () => {
  const mid = tc.cloud.hub.sendC2D(DEVICE, 'calibrate', { reason: 'drift & noise' });
  const m = await sdkEvent((e) => e.event === 'c2d', 'C2D message at the SDK');
  assert.is(m.body, 'calibrate');
  assert.is(m.messageId, mid);
  assert.is(m.props.reason, 'drift & noise');
  assert.is(tc.cloud.hub.pendingC2D(DEVICE), 0);
});

s('closing the SDK client is recorded as a disconnect', async () => {
  const gone = nextEvent(tc.cloud, 'disconnect', (e) => e.kind === 'hub' && e.deviceId === DEVICE);
  const r = await call({ op: 'close' });
  assert.ok(r.ok, r.error);
  const ev = await guard(gone, 10_000, 'disconnect');
  assert.is(ev.reason, 'the device disconnected');
  assert.not.ok(tc.cloud.hub.connection(DEVICE).connected);
});

s.run();
