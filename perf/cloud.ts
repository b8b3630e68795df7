// Benchmark for the cloud emulator (not a test): device-to-cloud telemetry through the emulated IoT
// Hub over TLS into SQLite, with 1 device and with 100 devices (MQTT.js clients with device
// certificates from the Security Service), fixed message counts, QoS 1 (a message counts when its
// PUBACK arrives, i.e. after the row is in SQLite). Clients and emulator share this one process, so
// the figures are a floor for the emulator alone. Usage: node --import tsx perf/cloud.ts
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';
import { ManualClock } from '../sim/cloud/clock.ts';
import { startCloud, type Cloud } from '../sim/cloud/cloud.ts';
import { EC_P256, exportPkcs8Pem, generateP256, px, toPem } from '../sim/cloud/x509.ts';

const ONE_DEVICE_MESSAGES = 5000;
const DEVICES = 100;
const PER_DEVICE = 100; // 10 000 messages in the 100-device run
const BODY = JSON.stringify({ distances: [123.4, 98.7, 250.1, 17.9], temperatureC: 21.5, seq: 0 });

async function identity(cloud: Cloud, id: string): Promise<{ cert: string; key: string }> {
  const keys = await generateP256();
  const csr = await px.Pkcs10CertificateRequestGenerator.create({ name: `CN=${id}`, keys, signingAlgorithm: EC_P256 });
  const issued = await cloud.securityService.issueDeviceCertificate(new Uint8Array(csr.rawData), id);
  return { cert: toPem(issued.certificate) + toPem(issued.chain[0]), key: await exportPkcs8Pem(keys.privateKey) };
}

async function device(cloud: Cloud, id: string): Promise<MqttClient> {
  const { cert, key } = await identity(cloud, id);
  cloud.hub.registerDevice(id);
  return mqtt.connectAsync(`mqtts://127.0.0.1:${cloud.port}`, {
    clientId: id,
    username: `${cloud.hubHost}/${id}/?api-version=2021-04-12`,
    protocolVersion: 4,
    clean: false,
    reconnectPeriod: 0,
    cert,
    key,
    ca: cloud.serverCaPem,
  });
}

/** Publishes n telemetry messages at QoS 1 (all in flight at once) and resolves when every PUBACK arrived. */
function burst(c: MqttClient, id: string, n: number): Promise<void> {
  const topic = `devices/${id}/messages/events/%24.ct=application%2Fjson&%24.ce=utf-8`;
  return new Promise((resolve, reject) => {
    let left = n;
    for (let i = 0; i < n; i++) {
      c.publish(topic, BODY, { qos: 1 }, (err) => {
        if (err) return reject(err);
        if (--left === 0) resolve();
      });
    }
  });
}

const rate = (n: number, ms: number) => Math.round((n / ms) * 1000);

export async function run(): Promise<Record<string, number | string>> {
  const dir = mkdtempSync(join(tmpdir(), 'rover-perf-cloud-'));
  const clock = new ManualClock(Date.parse('2026-03-01T00:00:00Z'));
  const cloud = await startCloud({ stateDir: dir, clock, port: 0 });
  const clients: MqttClient[] = [];
  try {
    await cloud.enrollActiveCa('perf');

    // One device.
    const one = await device(cloud, 'perf-solo');
    clients.push(one);
    let t = performance.now();
    await burst(one, 'perf-solo', ONE_DEVICE_MESSAGES);
    const oneMs = performance.now() - t;
    if (cloud.hub.countTelemetry({ deviceId: 'perf-solo' }) !== ONE_DEVICE_MESSAGES) throw new Error('perf/cloud: rows missing (1 device)');

    // A hundred devices, connected first (TLS handshakes with client certificates + admission).
    const ids = Array.from({ length: DEVICES }, (_, i) => `perf-${String(i).padStart(3, '0')}`);
    const creds = await Promise.all(ids.map((id) => identity(cloud, id)));
    for (const id of ids) cloud.hub.registerDevice(id);
    t = performance.now();
    const many = await Promise.all(
      ids.map((id, i) =>
        mqtt.connectAsync(`mqtts://127.0.0.1:${cloud.port}`, {
          clientId: id,
          username: `${cloud.hubHost}/${id}/?api-version=2021-04-12`,
          protocolVersion: 4,
          clean: false,
          reconnectPeriod: 0,
          cert: creds[i].cert,
          key: creds[i].key,
          ca: cloud.serverCaPem,
        }),
      ),
    );
    const connectMs = performance.now() - t;
    clients.push(...many);
    t = performance.now();
    await Promise.all(many.map((c, i) => burst(c, ids[i], PER_DEVICE)));
    const manyMs = performance.now() - t;
    const total = DEVICES * PER_DEVICE;
    if (cloud.hub.countTelemetry() !== ONE_DEVICE_MESSAGES + total) throw new Error('perf/cloud: rows missing (100 devices)');

    return {
      telemetryPerSecond1Device: rate(ONE_DEVICE_MESSAGES, oneMs),
      telemetryPerSecond100Devices: rate(total, manyMs),
      tlsConnectsPerSecond100Devices: rate(DEVICES, connectMs),
      counts: `${ONE_DEVICE_MESSAGES} messages from 1 device; ${PER_DEVICE} from each of ${DEVICES} devices; QoS 1, ${BODY.length}-byte JSON body, SQLite WAL`,
    };
  } finally {
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
    await cloud.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const r = await run();
  for (const [k, v] of Object.entries(r)) console.log(`${k.padEnd(32)} ${v}`);
  process.exit(0);
}
