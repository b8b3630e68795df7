// Shared set-up for the hub/DPS emulator tests: a started emulator on an ephemeral port with the
// tenant's Active CA registered, verified and enrolled; device identities issued by the Security
// Service from CSRs made here with WebCrypto (@peculiar/x509); raw MQTT.js connections.
import mqtt, { type MqttClient } from 'mqtt';
import { ManualClock } from '../../sim/cloud/clock.ts';
import { startCloud, type Cloud, type CloudOptions } from '../../sim/cloud/cloud.ts';
import { EC_P256, exportPkcs8Pem, generateP256, px, toPem } from '../../sim/cloud/x509.ts';
import { tempDir } from './_util.ts';

export const T0 = Date.parse('2026-03-01T08:00:00Z');
export const GROUP = 'rovers';

export interface TestCloud {
  cloud: Cloud;
  clock: ManualClock;
  dir: string;
  close(): Promise<void>;
}

export async function startTestCloud(o: Partial<CloudOptions> = {}): Promise<TestCloud> {
  const tmp = tempDir('hub');
  const clock = new ManualClock(T0);
  const cloud = await startCloud({ stateDir: tmp.dir, clock, port: 0, ...o });
  await cloud.enrollActiveCa(GROUP);
  return {
    cloud,
    clock,
    dir: tmp.dir,
    async close() {
      await cloud.close();
      tmp.remove();
    },
  };
}

export interface DeviceIdentity {
  deviceId: string;
  keyPem: string;
  /** leaf then the issuing tenant CA: what the device presents in the TLS handshake */
  certPem: string;
  issuerThumbprint: string;
}

/** A P-256 key made here, a CSR signed with it, and the Security Service's 24-hour certificate. */
export async function deviceIdentity(cloud: Cloud, deviceId: string, csrName = deviceId): Promise<DeviceIdentity> {
  const keys = await generateP256();
  const csr = await px.Pkcs10CertificateRequestGenerator.create({ name: `CN=${csrName}`, keys, signingAlgorithm: EC_P256 });
  const issued = await cloud.securityService.issueDeviceCertificate(new Uint8Array(csr.rawData), csrName);
  return {
    deviceId,
    keyPem: await exportPkcs8Pem(keys.privateKey),
    certPem: toPem(issued.certificate) + toPem(issued.chain[0]),
    issuerThumbprint: issued.issuerThumbprint,
  };
}

export function hubUsername(cloud: Cloud, deviceId: string, extra = ''): string {
  // azure-iot-protocols.md, "CONNECT".
  return `${cloud.hubHost}/${deviceId}/?api-version=2021-04-12${extra}`;
}

export function dpsUsername(cloud: Cloud, registrationId: string): string {
  // azure-iot-protocols.md, "DPS": `{idScope}/registrations/{registrationId}/api-version=2019-03-31`.
  return `${cloud.idScope}/registrations/${registrationId}/api-version=2019-03-31`;
}

/** Connects MQTT.js as a device; resolves with the client or rejects with the CONNACK error. */
export function connect(cloud: Cloud, id: DeviceIdentity, o: { username?: string; clientId?: string; clean?: boolean } = {}): Promise<MqttClient> {
  return mqtt.connectAsync(`mqtts://127.0.0.1:${cloud.port}`, {
    clientId: o.clientId ?? id.deviceId,
    username: o.username ?? hubUsername(cloud, id.deviceId),
    protocolVersion: 4,
    clean: o.clean ?? false,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
    cert: id.certPem,
    key: id.keyPem,
    ca: cloud.serverCaPem,
  });
}

/** Resolves on the client's 'close' (a real network event). */
export function closed(c: MqttClient): Promise<void> {
  return new Promise((r) => (c.disconnected || (!c.connected && !c.reconnecting && (c as any).stream?.destroyed) ? r() : c.once('close', () => r())));
}

/** The next message on a topic prefix, as a promise. */
export function nextMessage(c: MqttClient, prefix: string): Promise<{ topic: string; payload: Buffer }> {
  return new Promise((resolve) => {
    const h = (topic: string, payload: Buffer) => {
      if (!topic.startsWith(prefix)) return;
      c.off('message', h);
      resolve({ topic, payload });
    };
    c.on('message', h);
  });
}

/** The next emulator event of a kind matching a predicate. */
export function nextEvent<T = any>(cloud: Cloud, name: string, pred: (e: T) => boolean = () => true): Promise<T> {
  return new Promise((resolve) => {
    const h = (e: T) => {
      if (!pred(e)) return;
      cloud.events.off(name, h);
      resolve(e);
    };
    cloud.events.on(name, h);
  });
}

/** A failure guard: rejects after ms of real time so a broken test fails instead of hanging. */
export function guard<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([p, new Promise<T>((_, rej) => (t = setTimeout(() => rej(new Error(`timed out waiting for ${what}`)), ms)))]).finally(() => clearTimeout(t));
}
