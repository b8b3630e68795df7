// The high-level core, wired: Wi-Fi, identity, DPS, the IoT Hub session, the outbox and the intercore
// client, all behind interfaces hlcore owns (DESIGN.md, "Dependency direction") and all timing on the
// injected Clock with a seeded Random for jitter.
//
// The connection loop (one attempt at a time):
//   Wi-Fi up? -> certificate valid (issue / renew) -> assigned hub known? (else DPS) -> hub session
//   -> twin GET, desired properties applied, reported properties flushed, outbox drained.
// Any failure is classified (mqtt-connection.ts, FailureKind), reported (reported property
// `connection` + `connectionFailure` event, both queued while offline) and retried after a capped
// exponential backoff with jitter, forever. An auth refusal renews the certificate (rate-limited)
// and provisions again: after a tenant CA rollover the device keeps buffering and recovers by itself
// once the relying party registers the new CA (tenant-ca.md, "What goes wrong").
//
// Use (the simulator passes simulated parts, a deployment real ones):
//   const device = new Device({ clock, random: seededRandom(seed), deviceId, firmwareVersion,
//     intercore /* IntercoreChannel: board.mailbox.port */, radio /* WifiRadio */, networks,
//     link /* NetworkLink */, secureStore, storage: new SqliteStorage(path), ca /* CertificateAuthorityClient */,
//     cloud: { dps: { host, port, ca }, idScope } });
//   await device.start();   ...   device.stop();
import type { Clock } from './clock.ts';
import type { Random } from './random.ts';
import { Backoff } from './backoff.ts';
import { IntercoreClient, type IntercoreChannel } from './intercore/client.ts';
import type { Batch, Config, Status } from './intercore/frame.ts';
import { WifiManager, type WifiNetwork, type WifiRadio } from './wifi.ts';
import { DeviceIdentity, type CertificateAuthorityClient, type CertificateInfo } from './identity.ts';
import type { SecureStore } from './secure-store.ts';
import type { NetworkLink, TlsEndpoint } from './network.ts';
import { Outbox, DEFAULT_BOUNDS, type OutboxBounds, type OutboxEntry, type OutboxStorage } from './outbox.ts';
import { provision, type Assignment } from './dps-client.ts';
import { HubSession } from './hub-client.ts';
import { ConnectFailure, classify, parseBag, type FailureKind } from './mqtt-connection.ts';
import { COMMANDS, MODEL_ID, REPORTED, TELEMETRY, WRITABLE, writableAck, type WritableAck } from './pnp.ts';
import { batchDigest, batchTelemetry, lastSampleUs } from './telemetry.ts';

export interface CloudEndpoints {
  /** DPS (azure-iot-protocols.md: global.azure-devices-provisioning.net:8883) */
  dps: TlsEndpoint;
  idScope: string;
  /** where to connect for an assigned hub name (default: that name, port 8883, the DPS trust anchors) */
  hub?: (assignedHub: string) => TlsEndpoint;
  /** skip DPS: connect straight to this hub (a broker without DPS, e.g. the Mosquitto interop test) */
  fixedHub?: { hubHost: string; endpoint: TlsEndpoint };
}

export interface DeviceOptions {
  clock: Clock;
  random: Random;
  deviceId: string;
  firmwareVersion: string;
  intercore: IntercoreChannel;
  radio: WifiRadio;
  networks: WifiNetwork[];
  link: NetworkLink;
  secureStore: SecureStore;
  storage: OutboxStorage;
  ca: CertificateAuthorityClient;
  cloud: CloudEndpoints;
  outboxBounds?: OutboxBounds;
  /** reconnect backoff (default 1 s doubling to 5 min) */
  backoff?: { baseMs: number; capMs: number };
  /** messages in flight while draining (default 4) */
  window?: number;
  /** at boot, how long to wait for Wi-Fi before reporting network-down (default 60 s) */
  wifiGraceMs?: number;
  /** certificate renewal point and refusal-renewal rate limit (hlcore/identity.ts defaults: 2/3, 10 min) */
  identity?: { renewFraction?: number; refusalRenewIntervalMs?: number };
  /** a line of diagnostics (never contains key material) */
  log?: (line: string) => void;
}

export type ConnectionState = 'starting' | 'offline' | 'connecting' | 'connected' | 'stopped';

export interface ConnectionDiagnostics {
  state: ConnectionState;
  lastFailureKind?: FailureKind;
  lastFailureReason?: string;
  lastFailureAt?: string;
  /**
   * After an auth refusal: the SHA-1 thumbprint of the CA that issued our certificate. Taken from the
   * device's own certificate chain — MQTT 3.1.1 CONNACK carries only a return code, no reason, so
   * the relying party cannot tell us which issuer it does not know.
   */
  unknownIssuer?: string;
  failures: number;
  connects: number;
  outboxRows: number;
  outboxBytes: number;
  droppedRows: number;
  droppedBytes: number;
}

export interface FailureRecord {
  kind: FailureKind;
  stage: 'wifi' | 'ca' | 'dps' | 'hub';
  reason: string;
  at: number;
  attempt: number;
  unknownIssuer?: string;
}

/** RT defaults until the cloud says otherwise (PROTOCOL.md / DESIGN.md: poll 100 ms, batch 5 s). */
const DEFAULT_CONFIG: Config = { pollMs: 100, batchMs: 5000, temperatureC: 20, compensate: true };
const DEFAULT_ALERT_CM = 30;
/** Batches more than this late are taken as coming from a new RT boot (RT queue: 40 frames x 5 s). */
const SAME_BOOT_SLACK_MS = 300_000;
const META = { config: 'rtConfig', alert: 'alertDistanceCm', hub: 'assignedHub', rtBoot: 'rtBootMs' } as const;

export class Device {
  readonly wifi: WifiManager;
  readonly identity: DeviceIdentity;
  readonly outbox: Outbox;
  readonly intercore: IntercoreClient;
  readonly failures: FailureRecord[] = [];
  private readonly backoff: Backoff;
  private session: HubSession | null = null;
  private state: ConnectionState = 'starting';
  private attemptTimer: () => void = () => {};
  private renewTimer: () => void = () => {};
  private attempting = false;
  private stopped = false;
  private connects = 0;
  private failureCount = 0;
  private unknownIssuer: string | undefined;
  private config: Config;
  private alertCm: number;
  private rangers = 2;
  private lastStatus: Status | null = null;
  private lastBatch: Batch | null = null;
  private pendingReported: Record<string, unknown> = {};
  private flushing: Promise<void> | null = null;
  private desiredQueue: Promise<void> = Promise.resolve();
  readonly stats = { batchesStored: 0, batchDuplicates: 0, published: 0, desiredHandled: 0, commands: 0, badInput: 0 };

  constructor(readonly o: DeviceOptions) {
    this.wifi = new WifiManager({ clock: o.clock, random: o.random, radio: o.radio, networks: o.networks });
    this.identity = new DeviceIdentity({ store: o.secureStore, ca: o.ca, clock: o.clock, deviceId: o.deviceId, ...o.identity });
    this.outbox = new Outbox(o.storage, o.outboxBounds ?? DEFAULT_BOUNDS);
    this.backoff = new Backoff({ baseMs: o.backoff?.baseMs ?? 1000, capMs: o.backoff?.capMs ?? 300_000, random: o.random });
    const stored = o.storage.getMeta(META.config);
    this.config = stored ? (JSON.parse(stored) as Config) : { ...DEFAULT_CONFIG };
    this.alertCm = Number(o.storage.getMeta(META.alert) ?? DEFAULT_ALERT_CM);
    // The RT core is acknowledged only after the outbox insert committed (PROTOCOL.md 0x81 ACK).
    this.intercore = new IntercoreClient(o.intercore, o.clock, {
      batch: (b) => this.onBatch(b),
      status: (s) => {
        this.lastStatus = s;
        this.rangers = s.rangers;
      },
      rejected: (r) => this.log(`intercore: rejected frame: ${r}`),
    });
    this.wifi.onChange((s) => {
      if (this.stopped) return;
      if (s.state === 'connected') this.scheduleAttempt(0); // link back: try at once
      else if (this.session) this.session.close(); // link gone: the session is dead even if no error arrived yet
    });
  }

  private log(line: string): void {
    this.o.log?.(`${new Date(this.o.clock.now()).toISOString()} ${this.o.deviceId} ${line}`);
  }

  /** Boots the HL core: key and certificate from the secure store, Wi-Fi, RT configuration, cloud. */
  async start(): Promise<void> {
    await this.identity.init();
    if (this.o.storage.getMeta(META.config)) {
      // A configuration the cloud set before a restart: the RT core may have rebooted since.
      this.intercore.configure(this.config).then(
        (r) => r.code !== 0 && this.log(`RT core refused the stored configuration (code ${r.code})`),
        (e) => this.log(`RT core did not take the stored configuration: ${(e as Error).message}`),
      );
    }
    this.report({ [REPORTED.firmwareVersion]: this.o.firmwareVersion });
    this.state = 'offline';
    this.wifi.start();
    // The first attempt follows Wi-Fi's `connected`; if Wi-Fi never comes, this one reports why.
    this.scheduleAttempt(this.wifi.connected ? 0 : this.o.wifiGraceMs ?? 60_000);
  }

  /** Stops everything (a clean shutdown; a crash is simply dropping the object and its storage). */
  stop(): void {
    this.stopped = true;
    this.state = 'stopped';
    this.attemptTimer();
    this.renewTimer();
    this.session?.close();
    this.session = null;
    this.wifi.stop();
  }

  get connected(): boolean {
    return this.session?.open ?? false;
  }

  /** True while real I/O is in progress (a connection attempt, a drain, a certificate request). */
  get busy(): boolean {
    return this.attempting || this.outbox.busy || this.identity.busy || this.flushing !== null;
  }

  get connectionState(): ConnectionState {
    return this.state;
  }

  diagnostics(): ConnectionDiagnostics {
    const c = this.outbox.counters();
    const last = this.failures[this.failures.length - 1];
    const d: ConnectionDiagnostics = {
      state: this.state,
      failures: this.failureCount,
      connects: this.connects,
      outboxRows: c.rows,
      outboxBytes: c.bytes,
      droppedRows: c.droppedRows,
      droppedBytes: c.droppedBytes,
    };
    if (last) {
      d.lastFailureKind = last.kind;
      d.lastFailureReason = last.reason;
      d.lastFailureAt = new Date(last.at).toISOString();
    }
    if (this.unknownIssuer) d.unknownIssuer = this.unknownIssuer;
    return d;
  }

  // ------------------------------------------------------------------ RT batches -> outbox

  /** Stores a batch; a rejected promise (insert failed) keeps it unacknowledged: the RT core resends it. */
  private onBatch(b: Batch): void | Promise<void> {
    try {
      this.storeBatch(b);
    } catch (e) {
      this.log(`outbox insert failed: ${(e as Error).message}; batch ${b.seq} left with the RT core`);
      return Promise.reject(e);
    }
  }

  private storeBatch(b: Batch): void {
    this.rangers = b.rangers;
    this.lastBatch = b;
    const now = this.o.clock.now();
    const r = this.outbox.append({
      kind: 'batch',
      createdMs: now,
      source: { seq: b.seq, digest: batchDigest(b) },
      body: () => JSON.stringify(batchTelemetry(b, this.rtBootMs(b, now), this.alertCm)),
    });
    if (!r.stored) this.stats.batchDuplicates++;
    else this.stats.batchesStored++;
    if (r.stored && r.dropped > 0) this.log(`outbox full: dropped ${r.dropped} oldest entries`);
    if (b.seq % 12 === 0) this.report({ [REPORTED.rtCore]: this.rtCoreReport() }); // about once a minute
    this.kick();
  }

  /**
   * The RT core's boot on the UTC clock, from batch arrivals: a batch is sent the moment its last
   * sample is in (PROTOCOL.md, "Timing"), so arrival - lastSampleUs estimates it, at worst late by
   * the mailbox latency. The earliest estimate wins and is kept across HL restarts (a resent batch
   * arrives late); an estimate SAME_BOOT_SLACK_MS later than the stored one means a new RT boot.
   */
  private rtBootMs(b: Batch, arrivalMs: number): number {
    const est = arrivalMs - Number(lastSampleUs(b)) / 1000;
    const stored = Number(this.o.storage.getMeta(META.rtBoot) ?? NaN);
    if (Number.isFinite(stored) && est >= stored - 1000 && est < stored + SAME_BOOT_SLACK_MS) return Math.min(stored, est);
    this.o.storage.setMeta(META.rtBoot, String(est));
    return est;
  }

  private rtCoreReport(): Record<string, number> {
    const s = this.lastStatus;
    const b = this.lastBatch;
    const c = s?.counters ?? b?.counters;
    const out: Record<string, number> = {
      pollMs: s?.pollMs ?? b?.periodMs ?? this.config.pollMs,
      batchMs: s?.batchMs ?? this.config.batchMs,
      temperatureC: s?.temperatureC ?? b?.temperatureC ?? this.config.temperatureC,
      rangers: this.rangers,
      batches: this.intercore.stats.batches,
      duplicates: this.intercore.stats.duplicates,
      rejected: this.intercore.stats.rejected,
    };
    if (s) out.uptimeS = Number(s.uptimeUs) / 1e6;
    if (c) Object.assign(out, { readings: c.readings, noEcho: c.noEcho, outOfRange: c.outOfRange, spurious: c.spurious, stuck: c.stuck, powerCycles: c.powerCycles, droppedFrames: c.droppedFrames });
    return out;
  }

  // ------------------------------------------------------------------ connection loop

  private scheduleAttempt(delayMs: number): void {
    if (this.stopped) return;
    this.attemptTimer();
    this.attemptTimer = this.o.clock.at(this.o.clock.now() + delayMs, () => void this.attempt());
  }

  private async attempt(): Promise<void> {
    if (this.stopped || this.attempting || this.session) return;
    this.attempting = true;
    this.state = 'connecting';
    let stage: FailureRecord['stage'] = 'wifi';
    try {
      if (!this.wifi.connected || !this.o.link.up) throw new ConnectFailure('network-down', `Wi-Fi ${this.wifi.status.state}${this.wifi.status.lastFailure ? ` (${this.wifi.status.lastFailure})` : ''}`);
      stage = 'ca';
      let cert: CertificateInfo;
      try {
        cert = await this.identity.ensureCertificate();
      } catch (e) {
        // The old certificate may still be valid: use it until it expires.
        const info = this.identity.info();
        if (!info || this.o.clock.now() >= info.notAfter) throw new ConnectFailure('broker-unreachable', `no valid device certificate: ${(e as Error).message}`);
        cert = info;
      }
      this.scheduleRenewal(cert);
      this.reportCertificate();
      const creds = this.identity.tlsCredentials();
      let hubHost: string;
      let endpoint: TlsEndpoint;
      if (this.o.cloud.fixedHub) {
        ({ hubHost, endpoint } = this.o.cloud.fixedHub);
      } else {
        let assignment: Assignment | null = JSON.parse(this.o.storage.getMeta(META.hub) ?? 'null');
        if (!assignment || assignment.deviceId !== this.o.deviceId) {
          stage = 'dps';
          assignment = await provision({
            link: this.o.link,
            clock: this.o.clock,
            endpoint: this.o.cloud.dps,
            creds,
            idScope: this.o.cloud.idScope,
            registrationId: this.o.deviceId,
            modelId: MODEL_ID,
          });
          this.o.storage.setMeta(META.hub, JSON.stringify(assignment));
          this.log(`provisioned: hub ${assignment.assignedHub}`);
        }
        hubHost = assignment.assignedHub;
        endpoint = this.o.cloud.hub?.(hubHost) ?? hubEndpoint(hubHost, this.o.cloud.dps.ca);
      }
      stage = 'hub';
      // Handlers are in place before the subscriptions: a method or desired patch that arrives right
      // after SUBACK (or queued in the persistent session, clean=false) must not meet "no handler".
      let opened: HubSession | null = null;
      const session = await HubSession.open({
        link: this.o.link, clock: this.o.clock, endpoint, creds, hubHost, deviceId: this.o.deviceId, modelId: MODEL_ID,
        handlers: {
          desired: (patch, version) => this.queueDesired(patch, version, null),
          method: (name, payload, respond) => void this.command(name, payload, respond),
          devicebound: (topic, payload) => this.offlineCommand(topic, payload),
          badInput: (reason) => {
            this.stats.badInput++;
            this.log(`refused from the hub: ${reason}`);
          },
          closed: (reason) => opened && this.sessionClosed(opened, reason),
        },
      });
      opened = session;
      if (this.stopped) {
        session.close();
        return;
      }
      this.session = session;
      this.connects++;
      this.backoff.reset();
      this.unknownIssuer = undefined;
      this.state = 'connected';
      this.log(`connected to ${hubHost}`);
      void this.afterConnect(session);
    } catch (e) {
      this.failed(stage, classify(e));
    } finally {
      this.attempting = false;
    }
  }

  private async afterConnect(session: HubSession): Promise<void> {
    try {
      const twin = await session.getTwin();
      this.queueDesired(twin.desired, twin.desired.$version, twin.reported);
      const rt = () => this.report({ [REPORTED.rtCore]: this.rtCoreReport() });
      this.intercore.requestStatus().then(rt, rt); // status answered or not: report what we know
      this.report({ [REPORTED.connection]: this.diagnostics() });
      this.kick();
    } catch (e) {
      this.log(`after connect: ${(e as Error).message}`);
    }
  }

  private sessionClosed(session: HubSession, reason: string | null): void {
    if (this.session !== session) return;
    this.session = null;
    if (this.stopped) return;
    this.state = 'offline';
    if (reason === null) {
      // We closed it (renewed certificate, Wi-Fi down): reconnect as soon as the link allows.
      this.scheduleAttempt(0);
      return;
    }
    const kind: FailureKind = !this.wifi.connected || !this.o.link.up ? 'network-down' : 'broker-unreachable';
    this.failed('hub', new ConnectFailure(kind, `connection lost: ${reason}`));
  }

  private failed(stage: FailureRecord['stage'], f: ConnectFailure): void {
    if (this.stopped) return;
    this.state = 'offline';
    this.failureCount++;
    const rec: FailureRecord = { kind: f.kind, stage, reason: f.message, at: this.o.clock.now(), attempt: this.backoff.attempts + 1 };
    if (f.kind === 'auth-refused') {
      // The refusal itself does not say why (MQTT 3.1.1 CONNACK has only a code). The likely cause
      // after a tenant CA rollover is our issuer: name it by thumbprint from our own chain.
      rec.unknownIssuer = this.identity.info()?.issuerThumbprint;
      this.unknownIssuer = rec.unknownIssuer;
      if (stage === 'hub') this.o.storage.setMeta(META.hub, null); // provision again: the assignment may have moved
      this.identity.renewAfterRefusal().then(
        (renewed) => renewed && this.log(`certificate renewed after a refusal: issuer ${this.identity.info()?.issuerThumbprint}`),
        (e) => this.log(`renewal after refusal failed: ${(e as Error).message}`),
      );
    }
    this.failures.push(rec);
    if (this.failures.length > 100) this.failures.shift();
    this.log(`${stage} failed (${f.kind}): ${f.message}${rec.unknownIssuer ? `; our issuer ${rec.unknownIssuer}` : ''}`);
    // Reported on the next connection: the event through the outbox (in order with the readings),
    // the diagnostics as the `connection` property.
    const event: Record<string, unknown> = { kind: rec.kind, stage: rec.stage, reason: rec.reason, at: new Date(rec.at).toISOString(), attempt: rec.attempt };
    if (rec.unknownIssuer) event.unknownIssuer = rec.unknownIssuer;
    this.outbox.append({ kind: 'event', createdMs: rec.at, body: () => JSON.stringify({ [TELEMETRY.connectionFailure]: event }) });
    this.report({ [REPORTED.connection]: this.diagnostics() });
    // Wi-Fi down: the Wi-Fi manager's own backoff runs; its `connected` triggers the next attempt.
    this.scheduleAttempt(f.kind === 'network-down' && !this.wifi.connected ? this.backoff.capMs : this.backoff.next());
  }

  private scheduleRenewal(cert: CertificateInfo): void {
    this.renewTimer();
    this.renewTimer = this.o.clock.at(Math.max(cert.renewAt, this.o.clock.now()), () => {
      this.identity.renew().then(
        (next) => {
          this.log(`certificate renewed, valid until ${new Date(next.notAfter).toISOString()}`);
          this.scheduleRenewal(next);
          this.reportCertificate();
          // The credential is read at the TLS handshake: reconnect to present the new certificate.
          this.session?.close();
        },
        (e) => {
          this.log(`certificate renewal failed: ${(e as Error).message}; retrying in 5 min`);
          this.reportCertificate();
          this.renewTimer = this.o.clock.at(this.o.clock.now() + 300_000, () => this.scheduleRenewal({ ...cert, renewAt: this.o.clock.now() }));
        },
      );
    });
  }

  private reportCertificate(): void {
    const i = this.identity.info();
    if (!i) return;
    const v: Record<string, unknown> = {
      issuerThumbprint: i.issuerThumbprint,
      issuer: i.issuer,
      notBefore: new Date(i.notBefore).toISOString(),
      notAfter: new Date(i.notAfter).toISOString(),
      renewAt: new Date(i.renewAt).toISOString(),
      renewals: this.identity.renewals,
    };
    if (this.identity.lastError) v.lastRenewalError = this.identity.lastError;
    this.report({ [REPORTED.certificate]: v });
  }

  // ------------------------------------------------------------------ drain and reported properties

  /** Starts draining the outbox and flushing reported properties when connected. */
  private kick(): void {
    const s = this.session;
    if (!s || !s.open) return;
    void this.flushReported();
    this.outbox
      .drain((e) => this.publish(s, e), this.o.window ?? 4)
      .then(
        (n) => {
          this.stats.published += n;
          // Outbox figures in the `connection` property, at most once a minute while traffic flows.
          if (n > 0 && this.o.clock.now() - this.lastConnectionReport >= 60_000) this.report({ [REPORTED.connection]: this.diagnostics() });
        },
        (err) => this.log(`drain stopped: ${(err as Error).message}`),
      );
  }

  private publish(s: HubSession, e: OutboxEntry): Promise<void> {
    // azure-iot-protocols.md, "Telemetry": QoS 1, system properties in the topic's property bag.
    return s.sendTelemetry(e.body, {
      ...e.props,
      '$.mid': e.mid,
      '$.ct': 'application/json',
      '$.ce': 'utf-8',
      'iothub-creation-time-utc': new Date(e.createdMs).toISOString(),
    });
  }

  private lastConnectionReport = -Infinity;

  private report(patch: Record<string, unknown>): void {
    if (REPORTED.connection in patch) this.lastConnectionReport = this.o.clock.now();
    Object.assign(this.pendingReported, patch);
    if (this.session?.open) void this.flushReported();
  }

  private async flushReported(): Promise<void> {
    if (this.flushing) {
      await this.flushing;
      if (Object.keys(this.pendingReported).length === 0) return;
    }
    const s = this.session;
    if (!s || !s.open || Object.keys(this.pendingReported).length === 0) return;
    const patch = this.pendingReported;
    this.pendingReported = {};
    this.flushing = s.patchReported(patch).then(
      () => undefined,
      (e) => {
        this.pendingReported = { ...patch, ...this.pendingReported }; // resent on the next connection
        this.log(`reported PATCH failed: ${(e as Error).message}`);
      },
    );
    try {
      await this.flushing;
    } finally {
      this.flushing = null;
    }
  }

  // ------------------------------------------------------------------ writable properties

  private queueDesired(desired: Record<string, unknown>, version: number, reported: Record<string, unknown> | null): void {
    this.desiredQueue = this.desiredQueue.then(() => this.applyDesired(desired, version, reported)).catch((e) => this.log(`desired: ${(e as Error).message}`));
  }

  /**
   * Applies a desired patch (or, at connect, the twin's desired section — skipping properties whose
   * acknowledgement already carries this $version). Acks: azure-iot-protocols.md, "Writable-property
   * acknowledgement"; value rules: PROTOCOL.md, 0x82 CONFIG.
   */
  private async applyDesired(desired: Record<string, unknown>, version: number, reported: Record<string, unknown> | null): Promise<void> {
    const acks: Record<string, WritableAck> = {};
    const wanted = new Map<string, unknown>();
    for (const name of Object.values(WRITABLE)) {
      if (!(name in desired) || desired[name] === null) continue; // null deletes the property: nothing to apply
      const prev = reported?.[name] as { av?: number; ac?: number; value?: unknown } | undefined;
      if (reported && prev?.av === version) continue; // acknowledged already
      // The twin's $version moves with every desired change: a value already applied is not re-applied.
      if (reported && prev?.ac === 200 && JSON.stringify(prev.value) === JSON.stringify(desired[name])) continue;
      wanted.set(name, desired[name]);
    }
    if (wanted.size === 0) return;
    this.stats.desiredHandled++;
    const cand: Config = { ...this.config };
    const rtFields: string[] = [];
    const reject = (n: string, why: string) => (acks[n] = writableAck(wanted.get(n), 400, version, why));
    const int = (n: string, v: unknown) => (typeof v === 'number' && Number.isInteger(v) ? v : (reject(n, `${n} must be an integer`), null));
    const num = (n: string, v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : (reject(n, `${n} must be a number`), null));
    for (const [n, v] of wanted) {
      if (n === WRITABLE.pollPeriodMs) {
        const x = int(n, v);
        if (x === null) continue;
        if (x < 60 || x > 0xffff) reject(n, `pollPeriodMs must be 60..65535 (HC-SR04 cycle > 60 ms), got ${x}`);
        else if (x / this.rangers < 50) reject(n, `pollPeriodMs / ${this.rangers} rangers must be >= 50 ms (45 ms measurement slot), got ${x}`);
        else {
          cand.pollMs = x;
          rtFields.push(n);
        }
      } else if (n === WRITABLE.batchPeriodMs) {
        const x = int(n, v);
        if (x === null) continue;
        if (x < 1 || x > 0xffff) reject(n, `batchPeriodMs must be 1..65535, got ${x}`);
        else {
          cand.batchMs = x;
          rtFields.push(n);
        }
      } else if (n === WRITABLE.airTemperatureC) {
        const x = num(n, v);
        if (x === null) continue;
        if (x < -40 || x > 85) reject(n, `airTemperatureC must be -40..85, got ${x}`);
        else {
          cand.temperatureC = x;
          rtFields.push(n);
        }
      } else if (n === WRITABLE.alertDistanceCm) {
        const x = num(n, v);
        if (x === null) continue;
        if (x < 2 || x > 400) reject(n, `alertDistanceCm must be 2..400 (HC-SR04 range), got ${x}`);
        else {
          this.alertCm = x;
          this.o.storage.setMeta(META.alert, String(x));
          acks[n] = writableAck(x, 200, version, 'applied');
        }
      }
    }
    if (rtFields.length > 0) {
      // The batch must hold whole polls, at most 100 (PROTOCOL.md, CONFIG rules).
      let problem: string | null = null;
      if (cand.batchMs % cand.pollMs !== 0) problem = `batchPeriodMs ${cand.batchMs} is not a multiple of pollPeriodMs ${cand.pollMs}`;
      else if (cand.batchMs / cand.pollMs > 100) problem = `batchPeriodMs ${cand.batchMs} / pollPeriodMs ${cand.pollMs} = ${cand.batchMs / cand.pollMs} polls; at most 100`;
      if (problem) {
        for (const n of rtFields) reject(n, problem);
      } else {
        let ac: 200 | 400 | 500 = 200;
        let ad = 'applied by the RT core';
        try {
          const r = await this.intercore.configure(cand);
          if (r.code !== 0) {
            ac = 400;
            ad = `RT core refused the configuration (code ${r.code}${r.code === 1 ? ': bad argument' : r.code === 2 ? ': unknown command' : ''})`;
          }
        } catch (e) {
          ac = 500;
          ad = `RT core did not answer: ${(e as Error).message}`;
        }
        if (ac === 200) {
          this.config = cand;
          this.o.storage.setMeta(META.config, JSON.stringify(cand));
        }
        for (const n of rtFields) acks[n] = writableAck(wanted.get(n), ac, version, ad);
      }
    }
    this.report(acks);
  }

  // ------------------------------------------------------------------ commands

  /**
   * azure-iot-protocols.md, "IoT Central commands": offline commands arrive as cloud-to-device
   * messages with a `method-name` property; they run like direct methods, with no one to answer.
   */
  private offlineCommand(topic: string, payload: Buffer): void {
    const bag = parseBag(topic.slice(topic.indexOf('/devicebound/') + '/devicebound/'.length));
    const name = bag['method-name'];
    if (!name) return;
    let body: unknown = null;
    try {
      body = payload.length ? JSON.parse(payload.toString('utf8')) : null;
    } catch {
      body = payload.toString('utf8');
    }
    void this.command(name, body, (status, result) => this.log(`offline command ${name}: ${status} ${JSON.stringify(result)}`));
  }

  private async command(name: string, payload: unknown, respond: (status: number, body: unknown) => void): Promise<void> {
    this.stats.commands++;
    try {
      if (name === COMMANDS.sensorPowerCycle) {
        // IoT Central sends the request value itself: {"ranger": n} is accepted too.
        const ranger = typeof payload === 'number' ? payload : (payload as { ranger?: unknown } | null)?.ranger;
        if (typeof ranger !== 'number' || !Number.isInteger(ranger) || ranger < 0 || ranger >= this.rangers) {
          return respond(400, { error: `ranger must be an integer 0..${this.rangers - 1}` });
        }
        const r = await this.intercore.powerCycle(ranger);
        return respond(r.code === 0 ? 200 : 400, { ranger, code: r.code });
      }
      if (name === COMMANDS.rtStatus) {
        const s = await this.intercore.requestStatus();
        this.report({ [REPORTED.rtCore]: this.rtCoreReport() });
        return respond(200, {
          uptimeS: Number(s.uptimeUs) / 1e6,
          pollMs: s.pollMs,
          batchMs: s.batchMs,
          temperatureC: s.temperatureC,
          rangers: s.rangers,
          queueDepth: s.queueDepth,
          counters: s.counters,
        });
      }
      respond(404, { error: `unknown command ${name}` });
    } catch (e) {
      respond(504, { error: `RT core did not answer: ${(e as Error).message}` });
    }
  }
}

/** An assigned hub name as DPS returns it, `host` or `host:port` (default port 8883, azure-iot-protocols.md). */
export function hubEndpoint(assignedHub: string, ca?: string | string[]): TlsEndpoint {
  const m = /^(.*):(\d+)$/.exec(assignedHub);
  return { host: m ? m[1] : assignedHub, port: m ? Number(m[2]) : 8883, ca };
}
