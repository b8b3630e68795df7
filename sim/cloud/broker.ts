// The MQTT transport of the cloud emulator: aedes (MQTT 3.1.1) over a node:tls server on loopback.
// It knows MQTT and TLS, not IoT Hub or DPS: every connection is handed to `admit`, which looks at
// the client id, the CONNECT username and the client certificate chain and either refuses (CONNACK
// return code + a reason that is recorded) or opens a Session that handles that connection's
// publishes and subscriptions. Replies to a device go to that one connection (Link.send), never
// through aedes' topic routing: IoT Hub reply topics such as `$iothub/twin/res/#` carry no device id
// (azure-iot-protocols.md, "Twin"), so broker-wide routing would leak one device's replies to all.
//
// TLS: `requestCert: true`, `rejectUnauthorized: false`. Device certificates carry SIMULATED dates, so
// OpenSSL must not judge them against the real clock; the admission decision is the relying party's
// admit() at the simulated time. The handshake still proves the client holds the certificate's key
// (OpenSSL checks the CertificateVerify signature whatever rejectUnauthorized says).
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import type { AddressInfo, Socket } from 'node:net';

/** CONNACK return codes of MQTT 3.1.1 (3.2.2.3) that the emulator uses. */
export const CONNACK = { IDENTIFIER_REJECTED: 2, BAD_USERNAME_OR_PASSWORD: 4, NOT_AUTHORIZED: 5 } as const;
export type RefusalCode = (typeof CONNACK)[keyof typeof CONNACK];

export interface ConnectInfo {
  clientId: string;
  username: string | undefined;
  /** the client's certificate chain as presented in the handshake, leaf first, DER */
  chain: Uint8Array[];
  clean: boolean;
}

/** One accepted connection as a protocol handler sees it. */
export interface Link {
  readonly serial: number;
  readonly clientId: string;
  /** Publishes to this connection only. */
  send(topic: string, payload: Buffer | string, qos: 0 | 1): void;
  /** Drops the connection; `reason` is what the session's onClose will be told. */
  close(reason: string): void;
  readonly closed: boolean;
}

export interface Session {
  /** After CONNACK 0 was sent. */
  onReady?(): void;
  /** null = accepted; a string = refuse by closing the connection (MQTT 3.1.1 has no PUBLISH refusal). */
  onPublish(topic: string, payload: Buffer, qos: number, retain: boolean): string | null;
  /** The QoS to grant, or null to refuse (SUBACK 0x80). */
  onSubscribe(filter: string, qos: number): 0 | 1 | null;
  onUnsubscribe?(filter: string): void;
  /** Exactly once per opened session; reason null = the device disconnected on its own. */
  onClose(reason: string | null): void;
}

export type Admission =
  | { ok: true; /** aedes client id: a new connection with the same key drops the old one */ key: string; open(link: Link): Session }
  | { ok: false; returnCode: RefusalCode; reason: string };

export interface BrokerOptions {
  /** default 127.0.0.1: loopback only */
  host?: string;
  /** 0 = ephemeral */
  port: number;
  certPem: string;
  keyPem: string;
  admit(info: ConnectInfo): Admission;
  /** a refused CONNECT, after CONNACK went out */
  onRefused?(info: ConnectInfo, returnCode: RefusalCode, reason: string): void;
}

export interface Broker {
  readonly port: number;
  readonly host: string;
  close(): Promise<void>;
}

/** DER certificates presented by the TLS peer, leaf first (getPeerCertificate(true) links the presented chain). */
export function peerChain(socket: TLSSocket): Uint8Array[] {
  const out: Uint8Array[] = [];
  const seen = new Set<string>();
  let c = socket.getPeerCertificate(true) as (ReturnType<TLSSocket['getPeerCertificate']> & { issuerCertificate?: any }) | null;
  while (c && c.raw && !seen.has(c.fingerprint256)) {
    seen.add(c.fingerprint256);
    out.push(new Uint8Array(c.raw));
    c = c.issuerCertificate;
  }
  return out;
}

interface ConnState {
  info: ConnectInfo;
  admission: Admission;
  session?: Session;
  link?: LinkImpl;
}

class LinkImpl implements Link {
  closeReason: string | null = null;
  closed = false;
  constructor(
    readonly serial: number,
    readonly clientId: string,
    private client: Client,
  ) {}
  send(topic: string, payload: Buffer | string, qos: 0 | 1): void {
    if (this.closed) return;
    const p = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
    this.client.publish({ cmd: 'publish', topic, payload: p, qos, retain: false, dup: false } as any, () => undefined);
  }
  close(reason: string): void {
    if (this.closed) return;
    this.closeReason ??= reason;
    this.client.close();
  }
}

export async function startBroker(opts: BrokerOptions): Promise<Broker> {
  const host = opts.host ?? '127.0.0.1';
  const conns = new WeakMap<Client, ConnState>();
  let serial = 0;

  const finish = (st: ConnState, fallback: string | null) => {
    const link = st.link;
    if (!link || link.closed) return;
    link.closed = true;
    st.session?.onClose(link.closeReason ?? fallback);
  };

  const aedes = await Aedes.createBroker({
    // One packet at a time per client is how aedes serialises; nothing to tune here.
    preConnect(client, packet, done) {
      const socket = client.conn as TLSSocket;
      const info: ConnectInfo = {
        clientId: packet.clientId ?? '',
        username: packet.username,
        chain: typeof socket.getPeerCertificate === 'function' ? peerChain(socket) : [],
        clean: packet.clean !== false,
      };
      let admission: Admission;
      try {
        admission = opts.admit(info);
      } catch (e) {
        admission = { ok: false, returnCode: CONNACK.NOT_AUTHORIZED, reason: `internal error: ${(e as Error).message}` };
      }
      // The aedes client id decides takeover: the handler's key separates e.g. a DPS and a hub
      // connection of the same device (both use the device ID as MQTT client id).
      if (admission.ok) packet.clientId = admission.key;
      conns.set(client, { info, admission });
      done(null, true);
    },
    authenticate(client, _username, _password, done) {
      const st = conns.get(client);
      if (!st) return done(Object.assign(new Error('no connection state'), { returnCode: CONNACK.NOT_AUTHORIZED }) as AuthenticateError, false);
      const a = st.admission;
      if (!a.ok) {
        const err = Object.assign(new Error(a.reason), { returnCode: a.returnCode }) as AuthenticateError;
        // aedes writes the CONNACK with this code, then closes (MQTT 3.1.1 [MQTT-3.2.2-5]).
        client.conn.once('close', () => opts.onRefused?.(st.info, a.returnCode, a.reason));
        return done(err, false);
      }
      st.link = new LinkImpl(++serial, st.info.clientId, client);
      try {
        st.session = a.open(st.link);
      } catch (e) {
        st.link.closed = true;
        const reason = `internal error: ${(e as Error).message}`;
        client.conn.once('close', () => opts.onRefused?.(st.info, CONNACK.NOT_AUTHORIZED, reason));
        return done(Object.assign(new Error(reason), { returnCode: CONNACK.NOT_AUTHORIZED }) as AuthenticateError, false);
      }
      client.conn.once('close', () => finish(st, null));
      done(null, true);
    },
    authorizePublish(client, packet, done) {
      const st = client ? conns.get(client) : undefined;
      if (!st?.session || !st.link) return done(new Error('not connected'));
      // azure-iot-protocols.md, "IoT Hub": RETAIN is not stored.
      packet.retain = false;
      let refusal: string | null;
      try {
        refusal = st.session.onPublish(packet.topic, packet.payload as Buffer, packet.qos, false);
      } catch (e) {
        refusal = `internal error: ${(e as Error).message}`;
      }
      if (refusal !== null) {
        st.link.closeReason ??= refusal;
        return done(new Error(refusal));
      }
      done(null);
    },
    authorizeSubscribe(client, sub, done) {
      const st = conns.get(client);
      if (!st?.session) return done(null, null);
      let granted: 0 | 1 | null;
      try {
        granted = st.session.onSubscribe(sub.topic, sub.qos);
      } catch {
        granted = null; // a handler fault refuses this subscription only
      }
      if (granted === null) return done(null, null);
      sub.qos = granted;
      done(null, sub);
    },
  });

  aedes.on('clientReady', (client) => {
    try {
      conns.get(client)?.session?.onReady?.();
    } catch (e) {
      conns.get(client)?.link?.close(`internal error: ${(e as Error).message}`);
    }
  });
  aedes.on('unsubscribe', (filters, client) => {
    const s = conns.get(client)?.session;
    if (s?.onUnsubscribe) for (const f of filters) s.onUnsubscribe(f);
  });
  // Errors on one connection (protocol violations, refused publishes) end that connection only.
  aedes.on('clientError', () => undefined);
  aedes.on('connectionError', () => undefined);

  const sockets = new Set<Socket>();
  const server: Server = createServer({ cert: opts.certPem, key: opts.keyPem, requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2' }, (socket) => {
    const client = aedes.handle(socket);
    // The SUBACK reports the QoS requested before authorizeSubscribe runs, so a QoS 2 request must be
    // lowered before aedes sees the packet (azure-iot-protocols.md: "a QoS 2 subscribe is granted QoS 1").
    // _parser is aedes' mqtt-packet parser (lib/client.js); without it the grant is still enforced on delivery.
    const parser = (client as unknown as { _parser?: NodeJS.EventEmitter })._parser;
    parser?.prependListener('packet', (p: { cmd: string; subscriptions?: { qos: number }[] }) => {
      if (p.cmd === 'subscribe') for (const s of p.subscriptions ?? []) if (s.qos > 1) s.qos = 1;
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  server.on('tlsClientError', () => undefined); // a failed handshake concerns that client only
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  let closing: Promise<void> | null = null;
  return {
    port,
    host,
    close() {
      closing ??= (async () => {
        // server.close() stops accepting at once but reports only when every connection is gone.
        const stopped = new Promise<void>((r) => server.close(() => r()));
        await new Promise<void>((r) => aedes.close(() => r()));
        for (const s of sockets) s.destroy();
        await stopped;
      })();
      return closing;
    },
  };
}

/** MQTT 3.1.1 topic filter matching (4.7): `+` one level, `#` the rest; `$` topics only by explicit filters. */
export function topicMatches(filter: string, topic: string): boolean {
  if (topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false;
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

/** The filters one connection subscribed to, with their granted QoS. */
export class Subscriptions {
  private filters = new Map<string, 0 | 1>();
  add(filter: string, qos: 0 | 1): void {
    this.filters.set(filter, qos);
  }
  remove(filter: string): void {
    this.filters.delete(filter);
  }
  /** the highest granted QoS among matching filters, or null when nothing matches */
  qosFor(topic: string): 0 | 1 | null {
    let best: 0 | 1 | null = null;
    for (const [f, q] of this.filters) if (topicMatches(f, topic) && (best === null || q > best)) best = q;
    return best;
  }
}
