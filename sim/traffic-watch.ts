// The orchestrator's view of the device's network traffic, for deciding when simulated time may move
// on. It wraps the device's NetworkLink and reads the plaintext MQTT on every connection (mqtt-packet,
// the parser MQTT.js itself uses) to count the answers the device is waiting for: the TLS handshake,
// CONNACK, SUBACK, PUBACK, PINGRESP, and every `$rid` request (twin GET/PATCH, DPS register and
// status: azure-iot-protocols.md) until the publish carrying the same `$rid` comes back. While any
// answer is outstanding, the network is not quiescent, however long the cloud takes.
//
// It also makes an endpoint unreachable on demand (the scenario's "broker down").
import type { Duplex } from 'node:stream';
import mqttPacket from 'mqtt-packet';
import type { ClientCredentials, NetworkLink, TlsEndpoint } from '../hlcore/network.ts';

interface Conn {
  outstanding: Map<string, number>;
  bytes: () => number;
}

const rid = (topic: string) => /[?&]\$rid=([^&]+)/.exec(topic)?.[1];

export class TrafficWatch implements NetworkLink {
  private readonly conns = new Set<Conn>();
  private closedBytes = 0;
  private readonly blocked = new Set<number>();
  private readonly streams = new Map<Duplex, number>();
  /** Inbound publishes expected from the service side (operator actions), by topic prefix. */
  private readonly expected = new Map<string, number>();
  refused = 0;
  /** Every MQTT packet in both directions (debugging). */
  trace: ((line: string) => void) | null = null;

  constructor(private readonly inner: NetworkLink, private readonly touched: () => void) {}

  get up(): boolean {
    return this.inner.up;
  }

  /** Bytes moved so far on every connection (a change means traffic). */
  bytes(): number {
    let n = this.closedBytes;
    for (const c of this.conns) n += c.bytes();
    return n;
  }

  /** Answers the device is still waiting for, plus expected service-side publishes. */
  outstanding(): number {
    let n = 0;
    for (const c of this.conns) for (const v of c.outstanding.values()) n += v;
    for (const v of this.expected.values()) n += v;
    return n;
  }

  /** What is outstanding, for a diagnostic when traffic does not settle. */
  describe(): string {
    const parts: string[] = [];
    for (const c of this.conns) for (const [k, v] of c.outstanding) if (v) parts.push(`${k} x${v}`);
    for (const [k, v] of this.expected) if (v) parts.push(`publish to ${k}... x${v}`);
    return parts.join(', ') || 'nothing';
  }

  /** The service side is about to publish to the connected device on a topic starting with prefix. */
  expectInbound(prefix: string): void {
    if (this.conns.size === 0) return;
    this.expected.set(prefix, (this.expected.get(prefix) ?? 0) + 1);
  }

  /** Make connections to `port` fail (a reset, as from a closed port) and cut the open ones. */
  block(port: number, on: boolean): void {
    if (!on) {
      this.blocked.delete(port);
      return;
    }
    this.blocked.add(port);
    for (const [s, p] of this.streams) if (p === port) s.destroy(Object.assign(new Error('connection reset: broker down'), { code: 'ECONNRESET' }));
  }

  connectTls(ep: TlsEndpoint, creds: ClientCredentials): Duplex {
    this.touched();
    // Broker down: connect to a port where nothing listens on loopback, which refuses at once.
    const target = this.blocked.has(ep.port) ? { ...ep, port: 1 } : ep;
    if (target !== ep) this.refused++;
    const s = this.inner.connectTls(target, creds);
    const conn: Conn = { outstanding: new Map([['TLS handshake', 1]]), bytes: () => count(s) };
    const add = (k: string, d: number) => {
      const v = (conn.outstanding.get(k) ?? 0) + d;
      if (v <= 0) conn.outstanding.delete(k);
      else conn.outstanding.set(k, v);
    };
    this.conns.add(conn);
    this.streams.set(s, ep.port);
    s.once('secureConnect', () => add('TLS handshake', -1));
    const done = () => {
      if (!this.conns.delete(conn)) return;
      this.closedBytes += count(s);
      this.streams.delete(s);
      // The connection is gone: nothing more will come on it, including what the service meant to send.
      if (this.conns.size === 0) this.expected.clear();
    };
    s.once('close', done);
    s.once('error', done);

    const out = mqttPacket.parser({ protocolVersion: 4 });
    out.on('packet', (p: any) => {
      this.trace?.(`-> ${p.cmd} ${p.topic ?? ''} ${p.messageId ?? ''}`);
      if (p.cmd === 'connect') add('CONNACK', 1);
      else if (p.cmd === 'subscribe') add(`SUBACK ${p.messageId}`, 1);
      else if (p.cmd === 'pingreq') add('PINGRESP', 1);
      else if (p.cmd === 'publish') {
        if (p.qos === 1) add(`PUBACK ${p.messageId}`, 1);
        const r = rid(p.topic);
        if (r && !p.topic.startsWith('$iothub/methods/res/')) add(`reply $rid=${r}`, 1);
      }
    });
    const inn = mqttPacket.parser({ protocolVersion: 4 });
    inn.on('packet', (p: any) => {
      this.trace?.(`<- ${p.cmd} ${p.topic ?? ''} ${p.messageId ?? ''}${p.returnCode ? ' rc ' + p.returnCode : ''}`);
      if (p.cmd === 'connack') add('CONNACK', -1);
      else if (p.cmd === 'suback') add(`SUBACK ${p.messageId}`, -1);
      else if (p.cmd === 'pingresp') add('PINGRESP', -1);
      else if (p.cmd === 'puback') add(`PUBACK ${p.messageId}`, -1);
      else if (p.cmd === 'publish') {
        const r = rid(p.topic);
        if (r && conn.outstanding.has(`reply $rid=${r}`)) add(`reply $rid=${r}`, -1);
        for (const [prefix, n] of this.expected) {
          if (n > 0 && p.topic.startsWith(prefix)) {
            this.expected.set(prefix, n - 1);
            break;
          }
        }
      }
    });
    out.on('error', () => {});
    inn.on('error', () => {});
    const write = s.write.bind(s) as (...a: unknown[]) => boolean;
    (s as any).write = (chunk: unknown, ...rest: unknown[]) => {
      if (chunk instanceof Uint8Array || typeof chunk === 'string') out.parse(Buffer.from(chunk as Uint8Array));
      return write(chunk, ...rest);
    };
    s.on('data', (d: Buffer) => inn.parse(d));
    return s;
  }
}

function count(s: Duplex): number {
  const t = s as unknown as { bytesRead?: number; bytesWritten?: number };
  return (t.bytesRead ?? 0) + (t.bytesWritten ?? 0);
}
