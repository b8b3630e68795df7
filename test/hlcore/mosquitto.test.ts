// Interop: hlcore's hub client publishes through Mosquitto (an independent MQTT 3.1.1 broker), over
// TLS on a loopback ephemeral port with `require_certificate true` — so OpenSSL in Mosquitto checks
// the device's chain (leaf + tenant CA from the Security Service emulator) against the tenant root.
// A plain MQTT.js "backend" answers twin requests on the exact topics of azure-iot-protocols.md and
// records telemetry. Then Mosquitto is killed and restarted (nothing lost), and a Mosquitto that
// does not trust the tenant refuses the device in the TLS handshake (classified auth-refused).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { DeviceIdentity } from '../../hlcore/identity.ts';
import { MemorySecureStore } from '../../sim/secure-store.ts';
import { toPem } from '../../sim/cloud/x509.ts';
import { Rig } from './_util.ts';

const MOSQUITTO = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto', '/usr/local/sbin/mosquitto'].find((p) => existsSync(p));
const mq = suite('hlcore interop with mosquitto');

/** Real-time guard: a connect that neither succeeds nor fails must fail the test, not hang it. */
function withTimeout<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([p, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms)))]).finally(() => clearTimeout(timer));
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(port, '127.0.0.1');
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

class Mosquitto {
  proc: ChildProcess | null = null;
  output = '';
  constructor(readonly conf: string, readonly port: number) {}

  async start(): Promise<void> {
    if (!MOSQUITTO) throw new Error('mosquitto not installed: apt-get install -y mosquitto (.ci/run does it)');
    this.output = '';
    const p = spawn(MOSQUITTO, ['-c', this.conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = p;
    let exited: string | null = null;
    const on = (d: Buffer) => void (this.output += d.toString());
    p.stdout!.on('data', on);
    p.stderr!.on('data', on);
    p.on('exit', (code) => (exited = `mosquitto exited (${code}): ${this.output}`));
    // Mosquitto's stdout log is block-buffered into a pipe: wait for the port instead of a log line.
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (exited) throw new Error(exited);
      if (await canConnect(this.port)) return;
      if (Date.now() > deadline) throw new Error(`mosquitto did not open port ${this.port}: ${this.output}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async kill(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    const done = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await done;
    this.proc = null;
  }
}

function writeConf(dir: string, name: string, port: number, cafile: string, cert: string, key: string): string {
  const conf = join(dir, `${name}.conf`);
  writeFileSync(
    conf,
    [
      'per_listener_settings false',
      // Started as root (CI), Mosquitto drops to user mosquitto, which cannot read our 0600 key in a
      // 0700 temp dir; as any other user this line has no effect.
      'user root',
      'allow_anonymous true',
      'persistence false',
      'log_dest stdout',
      'log_type error',
      'log_type warning',
      'log_type notice',
      'log_type information',
      `listener ${port} 127.0.0.1`,
      `cafile ${cafile}`,
      `certfile ${cert}`,
      `keyfile ${key}`,
      'require_certificate true',
      'tls_version tlsv1.2',
      '',
    ].join('\n'),
  );
  return conf;
}

mq('telemetry through Mosquitto over TLS with client certificates; broker killed and restarted: nothing lost', async () => {
  // OpenSSL in Mosquitto checks certificate dates against the REAL clock: simulated time starts an
  // hour ago, so certificates issued during the run (simulated time runs ahead) are already valid.
  const t0 = Math.floor(Date.now() / 1000) * 1000 - 3_600_000;
  const rig = await new Rig({ t0 }).init();
  const dir = mkdtempSync(join(tmpdir(), 'hl-mosq-'));
  const port = await freePort();
  const root = toPem((await rig.svc.list()) && rig.svc.rootCertificate);
  writeFileSync(join(dir, 'tenant-root.pem'), root);
  writeFileSync(join(dir, 'server.pem'), rig.tls.certPem);
  writeFileSync(join(dir, 'server.key'), rig.tls.keyPem, { mode: 0o600 });
  const broker = new Mosquitto(writeConf(dir, 'ok', port, join(dir, 'tenant-root.pem'), join(dir, 'server.pem'), join(dir, 'server.key')), port);
  let backend: mqtt.MqttClient | null = null;
  try {
    await broker.start();
    // The backend is a client like any other: it needs a certificate from the tenant too.
    const ident = new DeviceIdentity({ store: new MemorySecureStore(), ca: rig.ca, clock: rig.clock, deviceId: 'backend' });
    await ident.init();
    await ident.ensureCertificate();
    const received: { topic: string; body: any }[] = [];
    const connectBackend = async () => {
      const c = await withTimeout(10_000, 'backend connect', mqtt.connectAsync(`mqtts://127.0.0.1:${port}`, { ...ident.tlsCredentials(), ca: rig.tls.caPem, clientId: 'backend', protocolVersion: 4, reconnectPeriod: 0, clean: true }));
      await c.subscribeAsync({ 'devices/+/messages/events/#': { qos: 1 }, '$iothub/twin/GET/#': { qos: 0 }, '$iothub/twin/PATCH/properties/reported/#': { qos: 0 } });
      let version = 1;
      c.on('message', (topic, payload) => {
        const rid = /\$rid=(\d+)/.exec(topic)?.[1];
        if (topic.startsWith('$iothub/twin/GET/')) c.publish(`$iothub/twin/res/200/?$rid=${rid}`, JSON.stringify({ desired: { $version: 1 }, reported: { $version: version } }));
        else if (topic.startsWith('$iothub/twin/PATCH/')) c.publish(`$iothub/twin/res/204/?$rid=${rid}&$version=${++version}`, '');
        else received.push({ topic, body: JSON.parse(payload.toString()) });
      });
      return c;
    };
    backend = await connectBackend();
    rig.device = rig.makeDevice(rig.rt.channel);
    (rig.device.o.cloud as any).fixedHub = { hubHost: 'mosquitto.local', endpoint: { host: '127.0.0.1', port, ca: rig.tls.caPem } };
    await rig.device.start();
    await rig.until(() => received.filter((r) => r.body.batchSeq).length >= 3, 'three batches through mosquitto', { stepMs: 500 });
    const first = received.find((r) => r.body.batchSeq === 1)!;
    assert.match(first.topic, /^devices\/rover-7\/messages\/events\/\$\.mid=rv1\.1-1&\$\.ct=application%2Fjson&\$\.ce=utf-8&/);
    assert.is(first.body.samples.length, 100);

    // Mosquitto dies (SIGKILL); two simulated minutes of readings buffer; it comes back on the same port.
    await broker.kill();
    backend.end(true);
    await rig.run(120_000, 1000);
    assert.ok(rig.device.failures.some((f) => f.kind === 'broker-unreachable'), rig.device.failures.map((f) => f.kind).join());
    assert.ok(rig.storage.counters().rows >= 20);
    await broker.start();
    backend = await connectBackend();
    await rig.until(() => rig.device.connected && rig.storage.counters().rows === 0 && rig.rt.unacked.size === 0, 'drained through the restarted mosquitto', { stepMs: 500 });
    await rig.until(() => received.filter((r) => r.body.batchSeq === rig.rt.seq).length > 0, 'last batch received', { stepMs: 100, maxSimMs: 5000 });
    // Mosquitto does not store sessions here (persistence false) and the backend was away while
    // messages were in flight at the kill: count readings by message id among what reached the backend after
    // the restart plus before the kill.
    const byMid = new Map<string, any>();
    for (const r of received) if (r.body.batchSeq) byMid.set(decodeURIComponent(/\$\.mid=([^&]+)/.exec(r.topic)![1]), r.body);
    const seqs = [...byMid.values()].map((b) => b.batchSeq).sort((a, b) => a - b);
    assert.equal(seqs, Array.from({ length: rig.rt.seq }, (_, i) => i + 1), 'every batch the RT core produced, once by message id');
  } finally {
    backend?.end(true);
    await broker.kill();
    await rig.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

mq('a Mosquitto that does not trust the tenant refuses the device in the TLS handshake: classified auth-refused', async () => {
  const t0 = Math.floor(Date.now() / 1000) * 1000 - 3_600_000;
  const rig = await new Rig({ t0 }).init();
  const dir = mkdtempSync(join(tmpdir(), 'hl-mosq-'));
  const port = await freePort();
  // Trust anchor for clients: an unrelated CA (the test server CA), not the tenant root.
  writeFileSync(join(dir, 'other-ca.pem'), rig.tls.caPem);
  writeFileSync(join(dir, 'server.pem'), rig.tls.certPem);
  writeFileSync(join(dir, 'server.key'), rig.tls.keyPem, { mode: 0o600 });
  const broker = new Mosquitto(writeConf(dir, 'strict', port, join(dir, 'other-ca.pem'), join(dir, 'server.pem'), join(dir, 'server.key')), port);
  try {
    await broker.start();
    rig.device = rig.makeDevice(rig.rt.channel);
    (rig.device.o.cloud as any).fixedHub = { hubHost: 'mosquitto.local', endpoint: { host: '127.0.0.1', port, ca: rig.tls.caPem } };
    await rig.device.start();
    await rig.until(() => rig.device.failures.some((f) => f.stage === 'hub'), 'a hub failure', { stepMs: 500 });
    const f = rig.device.failures.find((x) => x.stage === 'hub')!;
    assert.is(f.kind, 'auth-refused', f.reason);
    assert.is(f.unknownIssuer, rig.device.identity.info()!.issuerThumbprint);
    // And a device that does not trust the server refuses it (tls-refused).
    rig.device.stop();
    rig.device = rig.makeDevice(rig.rt.attach());
    (rig.device.o.cloud as any).fixedHub = { hubHost: 'mosquitto.local', endpoint: { host: '127.0.0.1', port, ca: toPem(rig.svc.rootCertificate) } };
    const n = rig.device.failures.length;
    await rig.device.start();
    await rig.until(() => rig.device.failures.length > n && rig.device.failures.some((x) => x.stage === 'hub'), 'a hub failure', { stepMs: 500 });
    assert.is(rig.device.failures.find((x) => x.stage === 'hub')!.kind, 'tls-refused');
  } finally {
    await broker.kill();
    await rig.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

mq.run();
