// The emulated IoT Hub: device-side MQTT protocol (telemetry, twin, direct methods, cloud-to-device)
// and the service-side API the tests and the scenario orchestrator use. Every topic, number and
// status code below is from /work/shared/reference/azure-iot-protocols.md ("IoT Hub"), cited as [P].
//
// Time: only the injected clock. Direct-method timeouts use the clock's at() when it has one
// (simulated time); otherwise a real timer bounds the wait — the one documented exception to
// "no setTimeout in sim/cloud", there so that a device that never answers cannot hang a caller.
import type { EventEmitter } from 'node:events';
import type { Clock } from './clock.ts';
import type { RelyingParty } from './relying-party.ts';
import { CONNACK, Subscriptions, type Admission, type ConnectInfo, type Link, type Session } from './broker.ts';
import type { DeviceRecord, TelemetryQuery, TelemetryRow, TelemetryStore, TwinRecord } from './telemetry-store.ts';

/** A clock that can also call back at a simulated instant (returns a cancel function). */
export interface SchedulingClock extends Clock {
  at?(when: number, fn: () => void): () => void;
}

// [P] "Limits".
export const D2C_MAX_BYTES = 256 * 1024;
export const C2D_MAX_BYTES = 64 * 1024;
export const C2D_MAX_PENDING = 50;
export const METHOD_MAX_BYTES = 128 * 1024;
export const TWIN_SECTION_MAX_BYTES = 32 * 1024;

/** A service call the hub refuses; `message` is one line. */
export class HubError extends Error {
  constructor(
    readonly code: 'no-device' | 'too-large' | 'queue-full' | 'bad-request',
    message: string,
  ) {
    super(message);
  }
}

export interface MethodResult {
  status: number;
  payload: unknown;
}

export interface ConnectionState {
  connected: boolean;
  connectedAt: number | null;
  modelId: string | null;
  lastDisconnect: { at: number; reason: string } | null;
  lastRefusal: { at: number; kind: 'hub' | 'dps'; returnCode: number; reason: string } | null;
}

export interface Twin {
  desired: Record<string, unknown> & { $version: number };
  reported: Record<string, unknown> & { $version: number };
}

// ---------------------------------------------------------------- codecs

const dec = (s: string) => {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
};

/** `k=v&k2=v2`, keys and values URL-decoded ([P] "Telemetry": the Node SDK sends `%24.mid`). */
export function parsePropertyBag(bag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of bag.split('&')) {
    if (part === '') continue;
    const i = part.indexOf('=');
    out[dec(i < 0 ? part : part.slice(0, i))] = i < 0 ? '' : dec(part.slice(i + 1));
  }
  return out;
}

export function encodePropertyBag(props: Record<string, string>): string {
  return Object.entries(props)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
    .join('&');
}

/** The query of a topic such as `$iothub/twin/GET/?$rid=1`, decoded. */
function topicQuery(topic: string): Record<string, string> {
  const i = topic.indexOf('?');
  return i < 0 ? {} : parsePropertyBag(topic.slice(i + 1));
}

export interface HubUsername {
  hubHost: string;
  deviceId: string;
  apiVersion: string;
  modelId: string | null;
  params: Record<string, string>;
}

/** [P] "CONNECT": `{hubHost}/{deviceId}/?api-version=2021-04-12[&model-id={dtmi}][&DeviceClientType=...]`. */
export function parseHubUsername(u: string): HubUsername | null {
  const m = /^([^/]+)\/([^/]+)\/\?(.*)$/.exec(u);
  if (!m) return null;
  const params = parsePropertyBag(m[3]);
  const apiVersion = params['api-version'];
  if (!apiVersion || !/^\d{4}-\d{2}-\d{2}(-preview)?$/.test(apiVersion)) return null;
  return { hubHost: m[1], deviceId: m[2], apiVersion, modelId: params['model-id'] ?? null, params };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** JSON merge patch: objects merge, null deletes ([P] "Desired updates: a null value deletes a property"). */
function mergePatch(target: Record<string, unknown>, patch: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete target[k];
    else if (isObject(v)) {
      const t = isObject(target[k]) ? (target[k] as Record<string, unknown>) : {};
      mergePatch(t, v);
      target[k] = t;
    } else target[k] = v;
  }
}

function dollarKey(o: Record<string, unknown>): string | null {
  for (const [k, v] of Object.entries(o)) {
    if (k.startsWith('$')) return k;
    if (isObject(v)) {
      const d = dollarKey(v);
      if (d) return d;
    }
  }
  return null;
}

const bytes = (o: unknown) => Buffer.byteLength(JSON.stringify(o));

// ---------------------------------------------------------------- per-device state

interface PendingMethod {
  deviceId: string;
  resolve(r: MethodResult): void;
  cancel(): void;
}

interface DeviceState {
  link: Link | null;
  ready: boolean;
  subs: Subscriptions;
  connectedAt: number | null;
  modelId: string | null;
  lastDisconnect: ConnectionState['lastDisconnect'];
  lastRefusal: ConnectionState['lastRefusal'];
  c2d: { topic: string; body: Buffer }[];
}

export interface HubOptions {
  /** what DPS assigns and what the CONNECT username must name ([P] "CONNECT") */
  hostName: string;
  /** other names accepted in the username (e.g. the host without its port) */
  aliases?: string[];
  store: TelemetryStore;
  relyingParty: RelyingParty;
  clock: SchedulingClock;
  events: EventEmitter;
  /** refuse devices DPS never registered (real IoT Hub behaviour), default true */
  requireRegistration?: boolean;
}

export class IotHub {
  readonly hostName: string;
  private devices = new Map<string, DeviceState>();
  private twins = new Map<string, TwinRecord>();
  private methods = new Map<string, PendingMethod>();
  private methodCounter = 0;
  private c2dCounter = 0;

  constructor(private o: HubOptions) {
    this.hostName = o.hostName;
  }

  private dev(deviceId: string): DeviceState {
    let d = this.devices.get(deviceId);
    if (!d) {
      d = { link: null, ready: false, subs: new Subscriptions(), connectedAt: null, modelId: null, lastDisconnect: null, lastRefusal: null, c2d: [] };
      this.devices.set(deviceId, d);
    }
    return d;
  }

  private now(): number {
    return this.o.clock.now();
  }

  // ------------------------------------------------ registry (written by DPS)

  /** Creates or updates a device registration (DPS assignment). */
  provision(r: { deviceId: string; registrationId: string; group: string; issuerThumbprint: string; modelId: string | null; payload: unknown }): DeviceRecord {
    const now = this.now();
    const old = this.o.store.device(r.deviceId);
    const counter = (old ? Number(Buffer.from(old.etag.replace(/"/g, ''), 'base64').readBigUInt64BE()) : 0) + 1;
    const etagBuf = Buffer.alloc(8);
    etagBuf.writeBigUInt64BE(BigInt(counter));
    const rec: DeviceRecord = { ...r, createdAt: old?.createdAt ?? now, updatedAt: now, etag: `"${etagBuf.toString('base64')}"` };
    this.o.store.saveDevice(rec);
    this.dev(r.deviceId).modelId = r.modelId;
    return rec;
  }

  /** A registration without DPS (tests, benchmarks): the device still has to pass admit() at CONNECT. */
  registerDevice(deviceId: string, opts: { modelId?: string | null; group?: string } = {}): DeviceRecord {
    return this.provision({ deviceId, registrationId: deviceId, group: opts.group ?? '', issuerThumbprint: '', modelId: opts.modelId ?? null, payload: opts.modelId ? { modelId: opts.modelId } : null });
  }

  device(deviceId: string): DeviceRecord | null {
    return this.o.store.device(deviceId);
  }

  // ------------------------------------------------ admission

  private hostMatches(h: string): boolean {
    return h === this.hostName || (this.o.aliases ?? []).includes(h);
  }

  /** The hub's CONNECT decision ([P] "CONNECT", "Device admission"). */
  admit(info: ConnectInfo, u: HubUsername): Admission {
    if (!this.hostMatches(u.hubHost)) return { ok: false, returnCode: CONNACK.BAD_USERNAME_OR_PASSWORD, reason: `username names hub '${u.hubHost}', this hub is '${this.hostName}'` };
    if (info.clientId !== u.deviceId) return { ok: false, returnCode: CONNACK.IDENTIFIER_REJECTED, reason: `client id '${info.clientId}' is not the device ID '${u.deviceId}' of the username` };
    const a = this.o.relyingParty.admit(info.chain, { registrationId: u.deviceId, at: this.now() });
    if (!a.ok) return { ok: false, returnCode: CONNACK.NOT_AUTHORIZED, reason: a.reason };
    if (this.o.requireRegistration !== false && !this.o.store.device(u.deviceId))
      return { ok: false, returnCode: CONNACK.NOT_AUTHORIZED, reason: `device ${u.deviceId} is not registered in hub ${this.hostName} (provision it through DPS first)` };
    return { ok: true, key: u.deviceId, open: (link) => this.open(link, u) };
  }

  /** Called for every refused CONNECT (hub or DPS) so the reason can be read per device. */
  noteRefusal(deviceId: string, kind: 'hub' | 'dps', returnCode: number, reason: string): void {
    this.dev(deviceId).lastRefusal = { at: this.now(), kind, returnCode, reason };
  }

  private open(link: Link, u: HubUsername): Session {
    const id = u.deviceId;
    const d = this.dev(id);
    // [P] "One connection per device: a new connection drops the old one."
    if (d.link && !d.link.closed) d.link.close('a new connection of the same device replaced it');
    d.link = link;
    d.ready = false;
    d.subs = new Subscriptions();
    d.modelId = u.modelId ?? this.o.store.device(id)?.modelId ?? null;
    const hub = this;
    return {
      onReady() {
        if (d.link !== link) return;
        d.ready = true;
        d.connectedAt = hub.now();
        hub.o.events.emit('connect', { deviceId: id, kind: 'hub', at: d.connectedAt, modelId: d.modelId, serial: link.serial });
        hub.flushC2D(id);
      },
      onPublish: (topic, payload, qos) => this.onPublish(id, link, topic, payload, qos),
      onSubscribe(filter, qos) {
        const g = hub.grant(id, filter, qos);
        if (g !== null && d.link === link) {
          d.subs.add(filter, g);
          hub.flushC2D(id);
        }
        return g;
      },
      onUnsubscribe(filter) {
        if (d.link === link) d.subs.remove(filter);
      },
      onClose(reason) {
        const at = hub.now();
        const why = reason ?? 'the device disconnected';
        if (d.link === link) {
          d.link = null;
          d.ready = false;
          d.lastDisconnect = { at, reason: why };
          for (const [rid, m] of hub.methods) {
            if (m.deviceId !== id) continue;
            hub.methods.delete(rid);
            m.cancel();
            m.resolve({ status: 404, payload: { errorCode: 404103, message: `device ${id} disconnected before answering` } });
          }
        }
        hub.o.events.emit('disconnect', { deviceId: id, kind: 'hub', at, reason: why, serial: link.serial });
      },
    };
  }

  /** [P] "Twin", "Direct methods", "Cloud-to-device": what a device may subscribe to; QoS 2 granted as 1. */
  private grant(id: string, filter: string, qos: number): 0 | 1 | null {
    const own = [`devices/${id}/messages/devicebound/`, '$iothub/twin/res/', '$iothub/twin/PATCH/properties/desired/', '$iothub/methods/POST/'];
    if (!own.some((p) => filter.startsWith(p))) return null;
    return qos >= 1 ? 1 : 0;
  }

  private send(id: string, topic: string, body: Buffer | string): boolean {
    const d = this.dev(id);
    if (!d.link || !d.ready) return false;
    const q = d.subs.qosFor(topic);
    if (q === null) return false;
    d.link.send(topic, body, q);
    return true;
  }

  // ------------------------------------------------ device -> hub

  private onPublish(id: string, link: Link, topic: string, payload: Buffer, qos: number): string | null {
    // [P] "QoS 2 publish closes the connection."
    if (qos > 1) return `device ${id} published with QoS 2 to '${topic}': IoT Hub closes the connection`;
    const events = `devices/${id}/messages/events`;
    if (topic === events || topic.startsWith(events + '/')) return this.acceptTelemetry(id, topic.slice(events.length + 1), payload);
    if (topic.startsWith('$iothub/twin/GET/')) return this.twinGet(id, topic);
    if (topic.startsWith('$iothub/twin/PATCH/properties/reported/')) return this.twinReported(id, topic, payload);
    if (topic.startsWith('$iothub/methods/res/')) return this.methodAnswer(topic, payload);
    void link;
    return `device ${id} may not publish to '${topic.slice(0, 200)}'`;
  }

  private acceptTelemetry(id: string, bag: string, body: Buffer): string | null {
    // [P] "Limits: device-to-cloud message 256 KB" (body and properties).
    const size = body.length + Buffer.byteLength(bag);
    if (size > D2C_MAX_BYTES) return `device-to-cloud message of ${size} bytes from ${id} exceeds the 256 KB limit (${D2C_MAX_BYTES} bytes)`;
    const properties = parsePropertyBag(bag);
    const row: Omit<TelemetryRow, 'seq'> = {
      deviceId: id,
      body,
      properties,
      messageId: properties['$.mid'] ?? null,
      createdAt: properties['iothub-creation-time-utc'] ?? null,
      arrivedAt: this.now(),
    };
    const seq = this.o.store.addTelemetry(row);
    this.o.events.emit('telemetry', { seq, ...row });
    return null;
  }

  private twinOf(id: string): TwinRecord {
    let t = this.twins.get(id);
    if (!t) {
      // A new twin starts at version 1 on both sides.
      t = this.o.store.twin(id) ?? { desired: {}, desiredVersion: 1, reported: {}, reportedVersion: 1 };
      this.twins.set(id, t);
    }
    return t;
  }

  private twinGet(id: string, topic: string): string | null {
    const rid = topicQuery(topic)['$rid'];
    if (rid === undefined) return `twin GET from ${id} without $rid`;
    // [P] "GET": reply on `$iothub/twin/res/200/?$rid={rid}` with desired and reported, each with $version.
    this.send(id, `$iothub/twin/res/200/?$rid=${encodeURIComponent(rid)}`, JSON.stringify(this.twin(id)));
    return null;
  }

  private twinError(id: string, rid: string, status: number, errorCode: number, message: string): null {
    // Reply bodies are always JSON ([P]: the Node SDK JSON-parses every non-empty reply body).
    this.send(id, `$iothub/twin/res/${status}/?$rid=${encodeURIComponent(rid)}`, JSON.stringify({ errorCode, message }));
    this.o.events.emit('twin-error', { deviceId: id, status, message, at: this.now() });
    return null;
  }

  private twinReported(id: string, topic: string, payload: Buffer): string | null {
    const rid = topicQuery(topic)['$rid'];
    if (rid === undefined) return `reported-properties patch from ${id} without $rid`;
    let patch: unknown;
    try {
      patch = JSON.parse(payload.toString('utf8'));
    } catch (e) {
      return this.twinError(id, rid, 400, 400004, `reported properties patch is not valid JSON: ${(e as Error).message}`);
    }
    if (!isObject(patch)) return this.twinError(id, rid, 400, 400004, 'reported properties patch must be a JSON object');
    const dk = dollarKey(patch);
    if (dk) return this.twinError(id, rid, 400, 400004, `property name '${dk}' is reserved: names may not start with '$'`);
    const t = this.twinOf(id);
    const next = structuredClone(t.reported);
    mergePatch(next, patch);
    // [P] "Limits: twin desired and reported 32 KB each".
    if (bytes(next) > TWIN_SECTION_MAX_BYTES) return this.twinError(id, rid, 400, 400004, `reported properties would be ${bytes(next)} bytes, over the 32 KB limit (${TWIN_SECTION_MAX_BYTES} bytes)`);
    t.reported = next;
    t.reportedVersion += 1;
    this.o.store.saveTwin(id, t);
    // [P] "Reported patch": `$iothub/twin/res/204/?$rid={rid}&$version={newVersion}`, empty body.
    this.send(id, `$iothub/twin/res/204/?$rid=${encodeURIComponent(rid)}&$version=${t.reportedVersion}`, '');
    this.o.events.emit('reported', { deviceId: id, patch, version: t.reportedVersion, at: this.now() });
    return null;
  }

  private methodAnswer(topic: string, payload: Buffer): string | null {
    // [P] "Direct methods": `$iothub/methods/res/{status}/?$rid={rid}`.
    const m = /^\$iothub\/methods\/res\/(\d{3})\/\?(.*)$/.exec(topic);
    const rid = m ? parsePropertyBag(m[2])['$rid'] : undefined;
    if (!m || rid === undefined) return `malformed direct-method answer topic '${topic.slice(0, 200)}'`;
    const pending = this.methods.get(rid);
    if (!pending) return null; // a late answer after the timeout: dropped, as IoT Hub does
    this.methods.delete(rid);
    pending.cancel();
    const text = payload.toString('utf8');
    let body: unknown = null;
    if (text.trim() !== '') {
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    }
    pending.resolve({ status: Number(m[1]), payload: body });
    return null;
  }

  private flushC2D(id: string): void {
    const d = this.dev(id);
    while (d.c2d.length > 0 && this.send(id, d.c2d[0].topic, d.c2d[0].body)) d.c2d.shift();
  }

  // ------------------------------------------------ service side

  twin(deviceId: string): Twin {
    const t = this.twinOf(deviceId);
    return { desired: { ...structuredClone(t.desired), $version: t.desiredVersion }, reported: { ...structuredClone(t.reported), $version: t.reportedVersion } };
  }

  /** Applies a desired-properties patch; returns the new desired $version. */
  setDesired(deviceId: string, patch: Record<string, unknown>): number {
    if (!isObject(patch)) throw new HubError('bad-request', 'desired patch must be a JSON object');
    const dk = dollarKey(patch);
    if (dk) throw new HubError('bad-request', `property name '${dk}' is reserved: names may not start with '$'`);
    const t = this.twinOf(deviceId);
    const next = structuredClone(t.desired);
    mergePatch(next, patch);
    if (bytes(next) > TWIN_SECTION_MAX_BYTES) throw new HubError('too-large', `desired properties would be ${bytes(next)} bytes, over the 32 KB limit`);
    t.desired = next;
    t.desiredVersion += 1;
    this.o.store.saveTwin(deviceId, t);
    // [P] "Desired updates": `$iothub/twin/PATCH/properties/desired/?$version={v}`, body with "$version".
    this.send(deviceId, `$iothub/twin/PATCH/properties/desired/?$version=${t.desiredVersion}`, JSON.stringify({ ...patch, $version: t.desiredVersion }));
    return t.desiredVersion;
  }

  /**
   * Invokes a direct method. Resolves {status, payload}: the device's answer; 404 (errorCode 404103)
   * when the device is not connected and subscribed, or disconnects first; 504 (errorCode 504101)
   * on timeout — measured on the clock's at() when it has one, else by a real timer.
   */
  invokeMethod(deviceId: string, name: string, payload: unknown, timeoutMs = 30_000): Promise<MethodResult> {
    const body = JSON.stringify(payload ?? null);
    if (Buffer.byteLength(body) > METHOD_MAX_BYTES) throw new HubError('too-large', `method payload of ${Buffer.byteLength(body)} bytes exceeds the 128 KB limit`);
    if (!/^[^/#+?]{1,128}$/.test(name)) throw new HubError('bad-request', `bad method name '${name.slice(0, 80)}'`);
    const d = this.dev(deviceId);
    const rid = (++this.methodCounter).toString(16);
    const topic = `$iothub/methods/POST/${name}/?$rid=${rid}`;
    if (!d.link || !d.ready || d.subs.qosFor(topic) === null)
      return Promise.resolve({ status: 404, payload: { errorCode: 404103, message: `device ${deviceId} is not online (not connected or not subscribed to direct methods)` } });
    return new Promise<MethodResult>((resolve) => {
      const expire = () => {
        if (!this.methods.delete(rid)) return;
        resolve({ status: 504, payload: { errorCode: 504101, message: `device ${deviceId} did not answer method '${name}' within ${timeoutMs} ms` } });
      };
      let cancel: () => void;
      if (this.o.clock.at) cancel = this.o.clock.at(this.now() + timeoutMs, expire);
      else {
        const timer = setTimeout(expire, timeoutMs); // the documented guard timer (see the header)
        cancel = () => clearTimeout(timer);
      }
      this.methods.set(rid, { deviceId, resolve, cancel });
      this.send(deviceId, topic, body);
    });
  }

  /**
   * Queues a cloud-to-device message ([P] "Cloud-to-device", limits 64 KB and 50 pending). Delivered at
   * once when the device is connected and subscribed, else when it subscribes. Returns its message id.
   */
  sendC2D(deviceId: string, body: Buffer | string, props: Record<string, string> = {}): string {
    const b = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    if (b.length > C2D_MAX_BYTES) throw new HubError('too-large', `cloud-to-device message of ${b.length} bytes exceeds the 64 KB limit`);
    const d = this.dev(deviceId);
    if (d.c2d.length >= C2D_MAX_PENDING) throw new HubError('queue-full', `device ${deviceId} already has ${C2D_MAX_PENDING} pending cloud-to-device messages`);
    const messageId = props['$.mid'] ?? `c2d-${++this.c2dCounter}`;
    const bag = encodePropertyBag({ ...props, '$.mid': messageId, '$.to': `/devices/${deviceId}/messages/devicebound` });
    d.c2d.push({ topic: `devices/${deviceId}/messages/devicebound/${bag}`, body: b });
    this.flushC2D(deviceId);
    return messageId;
  }

  pendingC2D(deviceId: string): number {
    return this.dev(deviceId).c2d.length;
  }

  connection(deviceId: string): ConnectionState {
    const d = this.dev(deviceId);
    const up = d.link !== null && d.ready;
    return { connected: up, connectedAt: up ? d.connectedAt : null, modelId: d.modelId, lastDisconnect: d.lastDisconnect, lastRefusal: d.lastRefusal };
  }

  telemetry(q: TelemetryQuery = {}): TelemetryRow[] {
    return this.o.store.telemetry(q);
  }

  countTelemetry(q: TelemetryQuery = {}): number {
    return this.o.store.countTelemetry(q);
  }

  /** Ends pending method calls (emulator shutdown). */
  close(): void {
    for (const [rid, m] of this.methods) {
      this.methods.delete(rid);
      m.cancel();
      m.resolve({ status: 503, payload: { errorCode: 503000, message: 'hub shut down' } });
    }
  }
}

