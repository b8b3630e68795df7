// Test peers for hlcore: a server TLS identity, and a minimal IoT Hub + DPS written from
// azure-iot-protocols.md on a real aedes broker over node:tls on 127.0.0.1 (ephemeral port). Device
// admission is the real relying party's admit() (sim/cloud/relying-party.ts) at the simulated time.
// It records everything the device sent, so tests compare against the protocol document.
import { Aedes, type Client } from 'aedes';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import type { AddressInfo, Socket } from 'node:net';
import { px, generateP256, exportPkcs8Pem, EC_P256, toPem } from '../../sim/cloud/x509.ts';
import type { RelyingParty } from '../../sim/cloud/relying-party.ts';

export interface ServerTls {
  caPem: string;
  certPem: string;
  keyPem: string;
}

/** A server CA and a certificate for 127.0.0.1 / localhost, valid on the REAL clock (OpenSSL checks it). */
export async function serverTls(): Promise<ServerTls> {
  const now = Date.now();
  const caKeys = await generateP256();
  const ca = await px.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=hlcore test server CA',
    notBefore: new Date(now - 86_400_000),
    notAfter: new Date(now + 30 * 86_400_000),
    keys: caKeys,
    signingAlgorithm: EC_P256,
    extensions: [new px.BasicConstraintsExtension(true, undefined, true), new px.KeyUsagesExtension(px.KeyUsageFlags.keyCertSign, true)],
  });
  const keys = await generateP256();
  const cert = await px.X509CertificateGenerator.create({
    serialNumber: '02',
    subject: 'CN=localhost',
    issuer: ca.subject,
    notBefore: new Date(now - 86_400_000),
    notAfter: new Date(now + 30 * 86_400_000),
    publicKey: keys.publicKey,
    signingKey: caKeys.privateKey,
    signingAlgorithm: EC_P256,
    extensions: [
      new px.SubjectAlternativeNameExtension([
        { type: 'dns', value: 'localhost' },
        { type: 'ip', value: '127.0.0.1' },
      ]),
      new px.ExtendedKeyUsageExtension([px.ExtendedKeyUsage.serverAuth]),
    ],
  });
  return { caPem: toPem(new Uint8Array(ca.rawData)), certPem: toPem(new Uint8Array(cert.rawData)), keyPem: await exportPkcs8Pem(keys.privateKey) };
}

export interface Telemetry {
  deviceId: string;
  topic: string;
  props: Record<string, string>;
  body: any;
}

interface Conn {
  deviceId: string;
  kind: 'dps' | 'hub';
  chain: Uint8Array[];
  client?: Client;
}

const HUB = 'test-hub.azure-devices.net';

/** The hub + DPS. `admit` is asked on every CONNECT with the presented chain. */
export class TestCloud {
  readonly telemetry: Telemetry[] = [];
  readonly connects: { kind: string; clientId: string; username: string; ok: boolean; reason?: string }[] = [];
  readonly registrations: any[] = [];
  readonly reportedPatches: any[] = [];
  readonly methodReplies = new Map<string, { status: number; body: any }>();
  desired: Record<string, unknown> & { $version: number } = { $version: 1 };
  reported: Record<string, unknown> & { $version: number } = { $version: 1 };
  readonly hubHost = HUB;
  port = 0;
  private server: Server | null = null;
  private aedes: Aedes | null = null;
  private readonly sockets = new Set<Socket>();
  private readonly conns = new Map<Client, Conn>();
  private readonly waiters: (() => void)[] = [];
  private rid = 1000;

  constructor(
    private readonly tls: ServerTls,
    private readonly rp: RelyingParty,
    private readonly idScope = '0ne00TEST',
  ) {}

  async start(port = this.port): Promise<void> {
    const aedes = await Aedes.createBroker({
      authenticate: (client, username, _password, done) => {
        const sock = client.conn as unknown as TLSSocket;
        const chain = peerChain(sock);
        const id = client.id;
        const u = username ?? '';
        let kind: 'dps' | 'hub';
        // azure-iot-protocols.md: exact usernames.
        if (u === `${this.idScope}/registrations/${id}/api-version=2019-03-31`) kind = 'dps';
        else if (u.startsWith(`${HUB}/${id}/?api-version=2021-04-12`)) kind = 'hub';
        else {
          this.connects.push({ kind: '?', clientId: id, username: u, ok: false, reason: 'bad username' });
          return done(Object.assign(new Error('bad username'), { returnCode: 4 }) as any, false);
        }
        const a = this.rp.admit(chain, { registrationId: id });
        this.connects.push({ kind, clientId: id, username: u, ok: a.ok, reason: a.ok ? undefined : a.reason });
        if (!a.ok) return done(Object.assign(new Error(a.reason), { returnCode: 5 }) as any, false);
        this.conns.set(client, { deviceId: id, kind, chain, client });
        done(null, true);
      },
      authorizePublish: (client, packet, cb) => {
        const c = client && this.conns.get(client);
        if (!c) return cb(new Error('unknown connection'));
        try {
          this.onPublish(c, packet.topic, packet.payload as Buffer);
        } catch (e) {
          return cb(e as Error);
        }
        cb(null);
        this.notify();
      },
    });
    aedes.on('clientDisconnect', (c) => this.conns.delete(c));
    this.aedes = aedes;
    this.server = createServer({ key: this.tls.keyPem, cert: this.tls.certPem, requestCert: true, rejectUnauthorized: false }, (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => {});
      aedes.handle(s);
    });
    await new Promise<void>((r) => this.server!.listen(port, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** Broker down: every connection cut, the port closed (a later start() reuses it). */
  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    this.conns.clear();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    await new Promise<void>((r) => (this.aedes ? this.aedes.close(() => r()) : r()));
    this.server = null;
    this.aedes = null;
  }

  get running(): boolean {
    return this.server !== null;
  }

  /** Resolves at the next publish handled (for tests that wait on real socket events). */
  nextPublish(): Promise<void> {
    return new Promise((r) => this.waiters.push(r));
  }

  private notify(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  private send(c: Conn, topic: string, body: string | Buffer): void {
    c.client?.publish({ cmd: 'publish', topic, payload: Buffer.from(body), qos: 0, retain: false, dup: false } as any, () => {});
  }

  private hubConn(deviceId: string): Conn | undefined {
    return [...this.conns.values()].find((c) => c.kind === 'hub' && c.deviceId === deviceId);
  }

  private onPublish(c: Conn, topic: string, payload: Buffer): void {
    const text = payload.toString('utf8');
    if (c.kind === 'dps') {
      let m = /^\$dps\/registrations\/PUT\/iotdps-register\/\?\$rid=(\d+)$/.exec(topic);
      if (m) {
        this.registrations.push(JSON.parse(text));
        this.send(c, `$dps/registrations/res/202/?$rid=${m[1]}&retry-after=2`, JSON.stringify({ operationId: `op-${c.deviceId}`, status: 'assigning' }));
        return;
      }
      m = /^\$dps\/registrations\/GET\/iotdps-get-operationstatus\/\?\$rid=(\d+)&operationId=(.+)$/.exec(topic);
      if (m) {
        const st = { registrationId: c.deviceId, assignedHub: HUB, deviceId: c.deviceId, status: 'assigned', substatus: 'initialAssignment', payload: this.registrations.at(-1)?.payload };
        this.send(c, `$dps/registrations/res/200/?$rid=${m[1]}`, JSON.stringify({ operationId: m[2], status: 'assigned', registrationState: st }));
        return;
      }
      throw new Error(`unexpected DPS topic ${topic}`);
    }
    const tel = `devices/${c.deviceId}/messages/events/`;
    if (topic.startsWith(tel)) {
      const props: Record<string, string> = {};
      for (const kv of topic.slice(tel.length).split('&')) {
        if (!kv) continue;
        const [k, v = ''] = kv.split('=');
        props[decodeURIComponent(k)] = decodeURIComponent(v);
      }
      this.telemetry.push({ deviceId: c.deviceId, topic, props, body: JSON.parse(text) });
      return;
    }
    let m = /^\$iothub\/twin\/GET\/\?\$rid=(\d+)$/.exec(topic);
    if (m) {
      this.send(c, `$iothub/twin/res/200/?$rid=${m[1]}`, JSON.stringify({ desired: this.desired, reported: this.reported }));
      return;
    }
    m = /^\$iothub\/twin\/PATCH\/properties\/reported\/\?\$rid=(\d+)$/.exec(topic);
    if (m) {
      const patch = JSON.parse(text);
      this.reportedPatches.push(patch);
      Object.assign(this.reported, patch);
      this.reported.$version++;
      this.send(c, `$iothub/twin/res/204/?$rid=${m[1]}&$version=${this.reported.$version}`, '');
      return;
    }
    m = /^\$iothub\/methods\/res\/(\d{3})\/\?\$rid=(.+)$/.exec(topic);
    if (m) {
      this.methodReplies.set(m[2], { status: Number(m[1]), body: text ? JSON.parse(text) : null });
      return;
    }
    throw new Error(`unexpected hub topic ${topic}`);
  }

  /** The operator changes desired properties (azure-iot-protocols.md, "Desired updates"). */
  setDesired(deviceId: string, patch: Record<string, unknown>): number {
    this.desired.$version++;
    Object.assign(this.desired, patch);
    const c = this.hubConn(deviceId);
    if (c) this.send(c, `$iothub/twin/PATCH/properties/desired/?$version=${this.desired.$version}`, JSON.stringify({ ...patch, $version: this.desired.$version }));
    return this.desired.$version;
  }

  /** Invokes a direct method; returns the $rid to look up in methodReplies. */
  invoke(deviceId: string, name: string, payload: unknown): string {
    const rid = String(this.rid++);
    const c = this.hubConn(deviceId);
    if (!c) throw new Error(`${deviceId} is not connected`);
    this.send(c, `$iothub/methods/POST/${name}/?$rid=${rid}`, JSON.stringify(payload));
    return rid;
  }

  /** Publishes raw bytes to a connected device (bad-input tests). */
  sendRaw(deviceId: string, topic: string, body: string | Buffer): void {
    const c = this.hubConn(deviceId);
    if (!c) throw new Error(`${deviceId} is not connected`);
    this.send(c, topic, body);
  }

  isConnected(deviceId: string): boolean {
    return this.hubConn(deviceId) !== undefined;
  }
}

function peerChain(sock: TLSSocket): Uint8Array[] {
  const out: Uint8Array[] = [];
  let c = sock.getPeerCertificate?.(true) as any;
  const seen = new Set<string>();
  while (c && c.raw && !seen.has(c.fingerprint256)) {
    seen.add(c.fingerprint256);
    out.push(new Uint8Array(c.raw));
    if (c.issuerCertificate === c) break;
    c = c.issuerCertificate;
  }
  return out;
}
