// The emulated Device Provisioning Service over MQTT: X.509 group enrollment (the relying party's
// enrollment groups), registration, operation-status polling and assignment to the emulated hub.
// Topics, fields and status codes: /work/shared/reference/azure-iot-protocols.md,
// "Device Provisioning Service (DPS) over MQTT", cited as [P].
import { createHash } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import type { RelyingParty } from './relying-party.ts';
import { CONNACK, Subscriptions, type Admission, type ConnectInfo, type Link, type Session } from './broker.ts';
import { parsePropertyBag, type IotHub, type SchedulingClock } from './iot-hub.ts';
import type { DeviceRecord } from './telemetry-store.ts';

/** [P] "Username = {idScope}/registrations/{registrationId}/api-version=2019-03-31". */
export const DPS_API_VERSION = '2019-03-31';

export interface DpsUsername {
  idScope: string;
  registrationId: string;
  apiVersion: string;
  params: Record<string, string>;
}

/** `{idScope}/registrations/{registrationId}/api-version=2019-03-31` (the Node SDK appends `&ClientVersion=...`, no `?`). */
export function parseDpsUsername(u: string): DpsUsername | null {
  const m = /^([^/]+)\/registrations\/([^/]+)\/(api-version=.*)$/.exec(u);
  if (!m) return null;
  const params = parsePropertyBag(m[3]);
  if (!params['api-version']) return null;
  return { idScope: m[1], registrationId: m[2], apiVersion: params['api-version'], params };
}

export interface RegistrationState {
  registrationId: string;
  createdDateTimeUtc: string;
  assignedHub: string;
  deviceId: string;
  status: 'assigned';
  substatus: 'initialAssignment';
  lastUpdatedDateTimeUtc: string;
  etag: string;
  payload: unknown;
}

interface Operation {
  operationId: string;
  registrationId: string;
  state: RegistrationState;
}

export interface DpsOptions {
  idScope: string;
  hub: IotHub;
  relyingParty: RelyingParty;
  clock: SchedulingClock;
  events: EventEmitter;
  /** seconds the 202 reply asks the device to wait before polling ([P] "retry-after={seconds}"), default 3 */
  retryAfterSeconds?: number;
}

const REGISTER = '$dps/registrations/PUT/iotdps-register/';
const POLL = '$dps/registrations/GET/iotdps-get-operationstatus/';
const RESPONSES = '$dps/registrations/res/';

export class Dps {
  readonly idScope: string;
  private ops = new Map<string, Operation>();
  private opCounter = 0;

  constructor(private o: DpsOptions) {
    this.idScope = o.idScope;
  }

  /** The DPS CONNECT decision: scope, client id = registration ID = leaf CN, chain admitted by an enrollment group. */
  admit(info: ConnectInfo, u: DpsUsername): Admission {
    if (u.idScope !== this.idScope) return { ok: false, returnCode: CONNACK.BAD_USERNAME_OR_PASSWORD, reason: `unknown ID scope '${u.idScope}' (this DPS is ${this.idScope})` };
    if (u.apiVersion !== DPS_API_VERSION) return { ok: false, returnCode: CONNACK.BAD_USERNAME_OR_PASSWORD, reason: `DPS api-version '${u.apiVersion}' is not ${DPS_API_VERSION}` };
    if (info.clientId !== u.registrationId)
      return { ok: false, returnCode: CONNACK.IDENTIFIER_REJECTED, reason: `client id '${info.clientId}' is not the registration ID '${u.registrationId}' of the username` };
    const a = this.o.relyingParty.admit(info.chain, { registrationId: u.registrationId, at: this.o.clock.now() });
    if (!a.ok) return { ok: false, returnCode: CONNACK.NOT_AUTHORIZED, reason: a.reason };
    // The key keeps a DPS connection apart from the same device's hub connection (same MQTT client id).
    return { ok: true, key: `$dps/${u.registrationId}`, open: (link) => this.open(link, u.registrationId, a.group, a.issuerThumbprint) };
  }

  private open(link: Link, registrationId: string, group: string, issuerThumbprint: string): Session {
    const subs = new Subscriptions();
    let ready = false;
    const events = this.o.events;
    const clock = this.o.clock;
    const reply = (status: number, query: string, body: unknown) => {
      const topic = `${RESPONSES}${status}/?${query}`;
      const q = subs.qosFor(topic);
      if (ready && q !== null) link.send(topic, JSON.stringify(body), q);
    };
    return {
      onReady() {
        ready = true;
        events.emit('connect', { deviceId: registrationId, kind: 'dps', at: clock.now(), serial: link.serial });
      },
      onSubscribe(filter, qos) {
        // [P] "Subscribe `$dps/registrations/res/#`" — the only thing a DPS client subscribes to.
        if (!filter.startsWith(RESPONSES)) return null;
        const g = qos >= 1 ? 1 : 0;
        subs.add(filter, g);
        return g;
      },
      onUnsubscribe(filter) {
        subs.remove(filter);
      },
      onPublish: (topic, payload, qos) => {
        if (qos > 1) return `registration ${registrationId} published with QoS 2: the connection is closed`;
        const query = topic.includes('?') ? parsePropertyBag(topic.slice(topic.indexOf('?') + 1)) : {};
        const rid = query['$rid'];
        if (rid === undefined) return `DPS request from ${registrationId} without $rid on '${topic.slice(0, 200)}'`;
        const ridQ = `$rid=${encodeURIComponent(rid)}`;
        if (topic.startsWith(REGISTER)) {
          let req: unknown;
          try {
            req = JSON.parse(payload.toString('utf8'));
          } catch (e) {
            reply(400, ridQ, { errorCode: 400004, message: `registration request is not valid JSON: ${(e as Error).message}` });
            return null;
          }
          const r = req as { registrationId?: unknown; payload?: unknown } | null;
          if (typeof r !== 'object' || r === null || r.registrationId !== registrationId) {
            reply(400, ridQ, { errorCode: 400004, message: `registration request must name registrationId '${registrationId}'` });
            return null;
          }
          const op = this.register(registrationId, group, issuerThumbprint, r.payload ?? null);
          // [P] "Register": 202 on `$dps/registrations/res/202/?$rid={rid}&retry-after={seconds}`.
          reply(202, `${ridQ}&retry-after=${this.o.retryAfterSeconds ?? 3}`, { operationId: op.operationId, status: 'assigning' });
          return null;
        }
        if (topic.startsWith(POLL)) {
          const op = this.ops.get(query['operationId'] ?? '');
          if (!op || op.registrationId !== registrationId) {
            reply(404, ridQ, { errorCode: 404201, message: `operation '${query['operationId'] ?? ''}' not found` });
            return null;
          }
          // [P] "Poll": 200 when done, with the registrationState.
          reply(200, ridQ, { operationId: op.operationId, status: 'assigned', registrationState: op.state });
          return null;
        }
        return `registration ${registrationId} may not publish to '${topic.slice(0, 200)}'`;
      },
      onClose(reason) {
        events.emit('disconnect', { deviceId: registrationId, kind: 'dps', at: clock.now(), reason: reason ?? 'the device disconnected', serial: link.serial });
      },
    };
  }

  /** Assigns the device to the hub now; the poll reports the result. */
  private register(registrationId: string, group: string, issuerThumbprint: string, payload: unknown): Operation {
    const modelId = typeof (payload as { modelId?: unknown } | null)?.modelId === 'string' ? (payload as { modelId: string }).modelId : null;
    const rec: DeviceRecord = this.o.hub.provision({ deviceId: registrationId, registrationId, group, issuerThumbprint, modelId, payload });
    const n = ++this.opCounter;
    // Shaped like DPS operation ids ("4.<hex>.<guid>"), deterministic: no random source in sim/cloud.
    const h = createHash('sha256').update(`${this.idScope}|${registrationId}|${n}`).digest('hex');
    const operationId = `4.${h.slice(0, 16)}.${h.slice(16, 24)}-${h.slice(24, 28)}-${h.slice(28, 32)}-${h.slice(32, 36)}-${h.slice(36, 48)}`;
    const state: RegistrationState = {
      registrationId,
      createdDateTimeUtc: new Date(rec.createdAt).toISOString(),
      assignedHub: this.o.hub.hostName,
      deviceId: rec.deviceId,
      status: 'assigned',
      substatus: 'initialAssignment',
      lastUpdatedDateTimeUtc: new Date(rec.updatedAt).toISOString(),
      etag: rec.etag,
      payload,
    };
    const op = { operationId, registrationId, state };
    this.ops.set(operationId, op);
    this.o.events.emit('registered', { registrationId, group, modelId, at: this.o.clock.now(), operationId });
    return op;
  }
}
