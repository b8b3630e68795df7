// One MQTT 3.1.1 connection over the NetworkLink, with MQTT.js (codec and session) and every failure
// classified. hlcore does its own reconnecting (azure-iot-protocols.md: the Node SDK runs mqtt.js with
// reconnectPeriod 0 and its own retries); the connect timeout runs on the injected Clock.
// MQTT.js keeps its keepalive PINGREQ timer on the wall clock inside the library: that is transport
// plumbing, not hlcore logic, and a dead connection is still found by the PUBACK / reply timeouts
// hlcore runs on its Clock.
import mqtt, { type MqttClient } from 'mqtt';
import type { Duplex } from 'node:stream';
import type { Clock } from './clock.ts';
import type { ClientCredentials, NetworkLink, TlsEndpoint } from './network.ts';

/**
 * Every way a connection attempt can fail, as reported to the operator (reported property
 * `connection` and the `connectionFailure` event):
 * - network-down: no IP link (Wi-Fi lost) or the OS says the network is unreachable;
 * - broker-unreachable: nothing answers (refused, reset, DNS, timeout) or the server is unavailable;
 * - tls-refused: the TLS handshake failed on our side (we do not trust the server);
 * - auth-refused: the server refused our certificate (TLS alert, or CONNACK 2/4/5) — after a tenant CA
 *   rollover this is the relying party not knowing the new CA (tenant-ca.md, "What goes wrong");
 * - protocol: the server answered something we cannot use.
 */
export type FailureKind = 'network-down' | 'broker-unreachable' | 'tls-refused' | 'auth-refused' | 'protocol';

export class ConnectFailure extends Error {
  constructor(
    readonly kind: FailureKind,
    message: string,
  ) {
    super(message);
  }
}

const NETWORK_DOWN = new Set(['ENETDOWN', 'ENETUNREACH', 'EHOSTDOWN']);
const UNREACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', 'ECONNABORTED']);
/** We refused the server: its certificate does not verify against our trust anchors or name. */
const SERVER_UNTRUSTED = /^(UNABLE_TO_|SELF_SIGNED|DEPTH_ZERO|CERT_|ERR_TLS_CERT_ALTNAME|HOSTNAME_MISMATCH)/;
/** The server refused us during the handshake (TLS alerts about our certificate). */
const CLIENT_REFUSED = /ALERT_(UNKNOWN_CA|BAD_CERTIFICATE|CERTIFICATE_UNKNOWN|CERTIFICATE_REQUIRED|CERTIFICATE_EXPIRED|CERTIFICATE_REVOKED|ACCESS_DENIED|HANDSHAKE_FAILURE|UNSUPPORTED_CERTIFICATE|DECRYPT_ERROR)/;

/** MQTT 3.1.1, 3.2.2.3: CONNACK return codes. */
const CONNACK: Record<number, [FailureKind, string]> = {
  1: ['protocol', 'CONNACK 1: unacceptable protocol version'],
  2: ['auth-refused', 'CONNACK 2: identifier rejected'],
  3: ['broker-unreachable', 'CONNACK 3: server unavailable'],
  4: ['auth-refused', 'CONNACK 4: bad user name or password'],
  5: ['auth-refused', 'CONNACK 5: not authorized'],
};

/** Classifies an error from the stream, TLS or MQTT.js. */
export function classify(err: unknown, handshakeDone = false): ConnectFailure {
  if (err instanceof ConnectFailure) return err;
  const e = err as { code?: unknown; message?: string };
  const msg = e?.message ?? String(err);
  if (typeof e?.code === 'number' && CONNACK[e.code]) {
    const [kind, text] = CONNACK[e.code];
    return new ConnectFailure(kind, text);
  }
  const code = typeof e?.code === 'string' ? e.code : '';
  if (NETWORK_DOWN.has(code)) return new ConnectFailure('network-down', `${code}: ${msg}`);
  if (CLIENT_REFUSED.test(code) || CLIENT_REFUSED.test(msg.toUpperCase().replace(/ /g, '_'))) {
    return new ConnectFailure('auth-refused', `server refused our certificate in the TLS handshake (${code || msg})`);
  }
  if (SERVER_UNTRUSTED.test(code)) return new ConnectFailure('tls-refused', `server certificate not trusted (${code}: ${msg})`);
  if (code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS')) return new ConnectFailure('tls-refused', `TLS handshake failed (${code}: ${msg})`);
  if (UNREACHABLE.has(code)) {
    // A reset right after our certificate went out is how some servers refuse it (TLS 1.3 sends the
    // alert after the client considers the handshake done).
    if (handshakeDone && code === 'ECONNRESET') return new ConnectFailure('auth-refused', `connection reset after the TLS handshake, before CONNACK (certificate refused?)`);
    return new ConnectFailure('broker-unreachable', `${code}: ${msg}`);
  }
  return new ConnectFailure('protocol', msg);
}

export interface MqttConnectOptions {
  link: NetworkLink;
  clock: Clock;
  endpoint: TlsEndpoint;
  creds: ClientCredentials;
  clientId: string;
  username: string;
  clean: boolean;
  /** seconds; azure-iot-protocols.md: the Node SDK uses 180 */
  keepalive?: number;
  /** on the Clock; default 60 s (azure-iot-protocols.md: "connect timeout 60 s") */
  connectTimeoutMs?: number;
}

/** Opens the connection; resolves after CONNACK 0, rejects with a classified ConnectFailure. */
export function openMqtt(o: MqttConnectOptions): Promise<MqttClient> {
  if (!o.link.up) return Promise.reject(new ConnectFailure('network-down', 'no network link (Wi-Fi not connected)'));
  return new Promise((resolve, reject) => {
    let settled = false;
    let handshakeDone = false;
    let lastError: unknown = null;
    let stream: Duplex | null = null;
    const client = new mqtt.MqttClient(
      () => {
        stream = o.link.connectTls(o.endpoint, o.creds);
        stream.once('secureConnect', () => {
          handshakeDone = true;
        });
        stream.on('error', (e) => {
          lastError ??= e;
        });
        return stream;
      },
      {
        protocolVersion: 4,
        clientId: o.clientId,
        username: o.username,
        clean: o.clean,
        keepalive: o.keepalive ?? 180,
        reconnectPeriod: 0,
        connectTimeout: 24 * 3_600_000, // ours runs on the Clock (below)
        queueQoSZero: false,
        resubscribe: false,
      },
    );
    const fail = (f: ConnectFailure) => {
      if (settled) return;
      settled = true;
      cancelTimer();
      client.removeAllListeners('connect');
      client.end(true);
      reject(f);
    };
    const cancelTimer = o.clock.at(o.clock.now() + (o.connectTimeoutMs ?? 60_000), () =>
      fail(new ConnectFailure('broker-unreachable', `no CONNACK within ${(o.connectTimeoutMs ?? 60_000) / 1000} s`)),
    );
    client.once('connect', () => {
      if (settled) return;
      settled = true;
      cancelTimer();
      resolve(client);
    });
    client.on('error', (e) => {
      if (!settled) {
        // CONNACK refusals carry the return code; stream errors their system / OpenSSL code.
        if (typeof (e as { code?: unknown }).code === 'number') fail(classify(e, handshakeDone));
        else lastError ??= e;
      }
    });
    client.on('close', () => {
      if (settled) return;
      if (lastError) fail(classify(lastError, handshakeDone));
      else if (handshakeDone) fail(new ConnectFailure('auth-refused', 'connection closed after the TLS handshake, before CONNACK (certificate refused?)'));
      else fail(new ConnectFailure('broker-unreachable', 'connection closed before the TLS handshake completed'));
    });
  });
}

/** Property bag of a telemetry topic (azure-iot-protocols.md, "Telemetry"): URL-encoded values. */
export function propertyBag(props: Record<string, string>): string {
  return Object.entries(props)
    .map(([k, v]) => `${encodeURIComponent(k).replace(/%24/g, '$')}=${encodeURIComponent(v)}`)
    .join('&');
}

/** Parses `a=b&c=d` (keys and values percent-decoded), e.g. after `?` in a reply topic. */
export function parseBag(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of s.split('&')) {
    if (!part) continue;
    const i = part.indexOf('=');
    const k = decodeURIComponent(i < 0 ? part : part.slice(0, i));
    out[k] = i < 0 ? '' : decodeURIComponent(part.slice(i + 1));
  }
  return out;
}
