// One IoT Hub session over MQTT (azure-iot-protocols.md, "IoT Hub"): the PnP username with the model
// ID, the twin (GET, reported PATCH, desired updates), direct methods and telemetry at QoS 1. Every
// request has a reply timeout on the Clock, and the session ends — loudly, through onClose — the
// moment the connection does: nothing hangs (the complaints about sendEvent hanging #653, getTwin
// timing out after reconnect #28, no disconnect event #277). Reconnecting is the Device's job; each
// new session subscribes again (C2D dead after a Wi-Fi drop, #148).
import type { MqttClient } from 'mqtt';
import type { Clock } from './clock.ts';
import type { ClientCredentials, NetworkLink, TlsEndpoint } from './network.ts';
import { ConnectFailure, openMqtt, parseBag, propertyBag } from './mqtt-connection.ts';

export const HUB_API = '2021-04-12';
/** `{hubHost}/{deviceId}/?api-version=2021-04-12&model-id={dtmi}` — the dtmi is not URL-encoded (as the Node SDK). */
export const hubUsername = (hubHost: string, deviceId: string, modelId: string) => `${hubHost}/${deviceId}/?api-version=${HUB_API}&model-id=${modelId}`;
export const TOPIC = {
  telemetry: (deviceId: string, bag: string) => `devices/${deviceId}/messages/events/${bag}`,
  devicebound: (deviceId: string) => `devices/${deviceId}/messages/devicebound/#`,
  twinRes: '$iothub/twin/res/#',
  twinGet: (rid: number) => `$iothub/twin/GET/?$rid=${rid}`,
  twinPatch: (rid: number) => `$iothub/twin/PATCH/properties/reported/?$rid=${rid}`,
  desired: '$iothub/twin/PATCH/properties/desired/#',
  methods: '$iothub/methods/POST/#',
  methodRes: (status: number, rid: string) => `$iothub/methods/res/${status}/?$rid=${rid}`,
} as const;
const TWIN_RES = /^\$iothub\/twin\/res\/(\d{3})\/\?(.*)$/;
const DESIRED = /^\$iothub\/twin\/PATCH\/properties\/desired\/\?(.*)$/;
const METHOD = /^\$iothub\/methods\/POST\/([^/]+)\/\?(.*)$/;

export interface HubOptions {
  link: NetworkLink;
  clock: Clock;
  endpoint: TlsEndpoint;
  creds: ClientCredentials;
  hubHost: string;
  deviceId: string;
  modelId: string;
  /** reply / PUBACK timeout on the Clock (default 60 s) */
  requestTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** set before subscribing, so nothing that arrives early meets an empty handler table */
  handlers?: HubHandlers;
}

export interface Twin {
  desired: Record<string, unknown> & { $version: number };
  reported: Record<string, unknown> & { $version?: number };
}

export interface HubHandlers {
  desired?(patch: Record<string, unknown>, version: number): void;
  method?(name: string, payload: unknown, respond: (status: number, body: unknown) => void): void;
  devicebound?(topic: string, payload: Buffer): void;
  /** a message from the hub that could not be used (not JSON, wrong shape): one line saying why */
  badInput?(reason: string): void;
  /** exactly once, when the session ends for any reason (null: we closed it) */
  closed?(reason: string | null): void;
}

interface Pending {
  resolve: (v: { status: number; bag: Record<string, string>; body: Buffer }) => void;
  reject: (e: Error) => void;
  cancel: () => void;
}

export class HubSession {
  private rid = 1;
  private readonly pending = new Map<string, Pending>();
  private readonly pubacks = new Set<(e: Error) => void>();
  private ended = false;
  handlers: HubHandlers = {};

  private constructor(
    private readonly client: MqttClient,
    private readonly o: HubOptions,
  ) {
    client.on('message', (topic, payload) => this.message(topic, payload));
    client.on('close', () => this.end('connection closed'));
    client.on('error', (e) => this.end(`connection error: ${e.message}`));
  }

  /** Connects, subscribes (twin replies, desired updates, methods, devicebound) and resolves when SUBACKed. */
  static async open(o: HubOptions): Promise<HubSession> {
    const client = await openMqtt({
      link: o.link,
      clock: o.clock,
      endpoint: o.endpoint,
      creds: o.creds,
      clientId: o.deviceId, // "client id = deviceId"
      username: hubUsername(o.hubHost, o.deviceId, o.modelId),
      clean: false, // as the Node SDK
      keepalive: 180,
      connectTimeoutMs: o.connectTimeoutMs,
    });
    const s = new HubSession(client, o);
    if (o.handlers) s.handlers = o.handlers;
    // QoS as the Node SDK: twin and methods at 0, devicebound at 1 (azure-iot-protocols.md).
    const subs: Record<string, { qos: 0 | 1 }> = {
      [TOPIC.twinRes]: { qos: 0 },
      [TOPIC.desired]: { qos: 0 },
      [TOPIC.methods]: { qos: 0 },
      [TOPIC.devicebound(o.deviceId)]: { qos: 1 },
    };
    await new Promise<void>((resolve, reject) => {
      const cancel = o.clock.at(o.clock.now() + (o.requestTimeoutMs ?? 60_000), () => reject(new ConnectFailure('broker-unreachable', 'no SUBACK in time')));
      client.subscribe(subs, (err, granted) => {
        cancel();
        if (err) return reject(new ConnectFailure('protocol', `subscribe failed: ${err.message}`));
        const bad = (granted ?? []).filter((g) => g.qos === 128);
        if (bad.length) return reject(new ConnectFailure('protocol', `subscription refused: ${bad.map((g) => g.topic).join(', ')}`));
        resolve();
      });
    }).catch((e) => {
      client.end(true);
      throw e;
    });
    return s;
  }

  get open(): boolean {
    return !this.ended;
  }

  private end(reason: string | null): void {
    if (this.ended) return;
    this.ended = true;
    const err = new Error(`hub session ended: ${reason ?? 'closed by the device'}`);
    for (const p of this.pending.values()) {
      p.cancel();
      p.reject(err);
    }
    this.pending.clear();
    for (const f of [...this.pubacks]) f(err);
    this.pubacks.clear();
    this.client.end(true);
    this.handlers.closed?.(reason);
  }

  close(): void {
    this.end(null);
  }

  private message(topic: string, payload: Buffer): void {
    let m = TWIN_RES.exec(topic);
    if (m) {
      const bag = parseBag(m[2]);
      const p = this.pending.get(bag['$rid']);
      if (!p) return;
      this.pending.delete(bag['$rid']);
      p.cancel();
      p.resolve({ status: Number(m[1]), bag, body: payload });
      return;
    }
    m = DESIRED.exec(topic);
    if (m) {
      const patch = parseJson(payload) as Record<string, unknown> | null;
      if (!patch || typeof patch !== 'object' || Array.isArray(patch)) {
        // azure-iot-protocols.md: the desired patch body is a JSON object with "$version". Anything
        // else cannot be applied or acknowledged (no version to acknowledge): report it, keep going.
        this.handlers.badInput?.(`desired patch on ${topic.slice(0, 100)} is not a JSON object (${payload.length} bytes)`);
        return;
      }
      const version = Number(patch['$version'] ?? parseBag(m[1])['$version']);
      this.handlers.desired?.(patch, version);
      return;
    }
    m = METHOD.exec(topic);
    if (m) {
      const name = decodeURIComponent(m[1]);
      const rid = parseBag(m[2])['$rid'];
      let answered = false;
      const respond = (status: number, body: unknown) => {
        if (answered || this.ended) return;
        answered = true;
        this.client.publish(TOPIC.methodRes(status, rid), JSON.stringify(body ?? null), { qos: 0 });
      };
      if (!this.handlers.method) return respond(501, { error: `no handler for method ${name}` });
      if (payload.toString('utf8').trim() !== '' && parseJson(payload) === null && payload.toString('utf8').trim() !== 'null') {
        this.handlers.badInput?.(`method ${name}: payload is not valid JSON`);
        return respond(400, { error: `method ${name}: payload is not valid JSON` });
      }
      this.handlers.method(name, parseJson(payload), respond);
      return;
    }
    if (topic.startsWith(`devices/${this.o.deviceId}/messages/devicebound/`)) this.handlers.devicebound?.(topic, payload);
  }

  private request(topic: (rid: number) => string, body: string): Promise<{ status: number; bag: Record<string, string>; body: Buffer }> {
    if (this.ended) return Promise.reject(new Error('hub session ended'));
    const rid = this.rid++;
    return new Promise((resolve, reject) => {
      const cancel = this.o.clock.at(this.o.clock.now() + (this.o.requestTimeoutMs ?? 60_000), () => {
        this.pending.delete(String(rid));
        reject(new Error(`no twin reply to $rid=${rid} in time`));
        this.end('twin request timed out'); // a silent connection is a dead one
      });
      this.pending.set(String(rid), { resolve, reject, cancel });
      this.client.publish(topic(rid), body, { qos: 0 });
    });
  }

  /** GET the twin (azure-iot-protocols.md: the Node SDK sends a one-space body). */
  async getTwin(): Promise<Twin> {
    const r = await this.request(TOPIC.twinGet, ' ');
    if (r.status !== 200) throw new Error(`twin GET answered ${r.status}`);
    const t = parseJson(r.body) as Twin | null;
    if (!t || typeof t !== 'object') throw new Error('twin GET reply is not JSON');
    return { desired: t.desired ?? { $version: 0 }, reported: t.reported ?? {} };
  }

  /** PATCH reported properties; resolves with the new reported $version (reply 204). */
  async patchReported(patch: Record<string, unknown>): Promise<number> {
    const r = await this.request(TOPIC.twinPatch, JSON.stringify(patch));
    if (r.status !== 204 && r.status !== 200) throw new Error(`reported PATCH answered ${r.status}: ${r.body.toString('utf8').slice(0, 200)}`);
    return Number(r.bag['$version'] ?? 0);
  }

  /**
   * Telemetry at QoS 1; resolves on PUBACK, rejects when the session ends first or no PUBACK comes
   * within the request timeout (then the session is ended: the entry stays in the outbox).
   */
  sendTelemetry(body: string, props: Record<string, string>): Promise<void> {
    if (this.ended) return Promise.reject(new Error('hub session ended'));
    return new Promise((resolve, reject) => {
      const fail = (e: Error) => {
        cancel();
        this.pubacks.delete(fail);
        reject(e);
      };
      const cancel = this.o.clock.at(this.o.clock.now() + (this.o.requestTimeoutMs ?? 60_000), () => {
        fail(new Error('no PUBACK in time'));
        this.end('PUBACK timed out');
      });
      this.pubacks.add(fail);
      this.client.publish(TOPIC.telemetry(this.o.deviceId, propertyBag(props)), body, { qos: 1 }, (err) => {
        if (!this.pubacks.has(fail)) return;
        this.pubacks.delete(fail);
        cancel();
        if (err) reject(err);
        else resolve();
      });
    });
  }
}

function parseJson(b: Buffer): unknown {
  const s = b.toString('utf8').trim();
  if (!s) return null;
  try {
    return JSON.parse(s);
  } catch {
    return null;
  }
}
