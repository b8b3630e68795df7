// The whole cloud emulator in one call: the tenant CA Security Service, the relying party (CA
// registry + enrollment groups), DPS and IoT Hub sharing one MQTT-over-TLS port on 127.0.0.1, the
// SQLite store, and the service-side API. Clients tell DPS from the hub by the CONNECT username
// (azure-iot-protocols.md, "CONNECT" and "Device Provisioning Service").
//
// State directory layout (shared with `rover ca`):
//   <stateDir>/security-service/   tenant, tenant CAs, keys
//   <stateDir>/relying-party/      registry.json (registered CAs, enrollment groups)
//   <stateDir>/cloud/              server-ca.pem, server.pem, keys (0600), hub.sqlite
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { RelyingParty } from './relying-party.ts';
import { registerCa } from './register-ca.ts';
import { SecurityService, type RotationPolicy } from './security-service.ts';
import { CONNACK, startBroker, type Admission, type Broker, type ConnectInfo } from './broker.ts';
import { Dps, parseDpsUsername } from './dps.ts';
import { IotHub, parseHubUsername, type SchedulingClock } from './iot-hub.ts';
import { ensureServerTls } from './server-tls.ts';
import { TelemetryStore } from './telemetry-store.ts';

export interface CloudOptions {
  /** state directory (created if missing) */
  stateDir: string;
  /** simulated time; with at(when, fn) direct-method timeouts run on simulated time too */
  clock: SchedulingClock;
  /** TCP port on 127.0.0.1; default 8883 (azure-iot-protocols.md: "port 8883"); 0 = ephemeral */
  port?: number;
  /** host part of the hub name DPS assigns; default '127.0.0.1' (resolves to the loopback listener) */
  hubHostName?: string;
  /** DPS ID scope; default derived from the tenant ID ('0ne' + 8 hex digits) */
  idScope?: string;
  /** create the tenant when stateDir has none (default true); its rotation policy */
  createTenant?: boolean;
  policy?: RotationPolicy | string;
  /** DPS 202 retry-after in seconds (default 3) */
  dpsRetryAfterSeconds?: number;
  /** SQLite file or ':memory:' (default <stateDir>/cloud/hub.sqlite) */
  database?: string;
  /** refuse hub connections of devices DPS never registered (default true) */
  requireRegistration?: boolean;
}

export interface CloudEndpoints {
  /** loopback address the broker listens on */
  host: string;
  port: number;
  /** DPS "provisioningHost" for the SDK / MQTT.js: `127.0.0.1:<port>` (mqtts://<dpsHost>) */
  dpsHost: string;
  /** what DPS returns as assignedHub and what the hub CONNECT username names: `<hubHostName>:<port>`, or the bare name on 8883 */
  hubHost: string;
  idScope: string;
  /** PEM of the emulator's server CA: trust it with `ca` or NODE_EXTRA_CA_CERTS */
  serverCaPath: string;
}

export interface Cloud extends CloudEndpoints {
  serverCaPem: string;
  securityService: SecurityService;
  relyingParty: RelyingParty;
  /** the service side: twins, methods, C2D, telemetry, connection state */
  hub: IotHub;
  dps: Dps;
  /** 'connect' | 'disconnect' | 'refused' | 'telemetry' | 'registered' | 'reported' | 'twin-error' */
  events: EventEmitter;
  /**
   * Registers the tenant's Active CA with the relying party (upload, proof of possession signed by the
   * Security Service, verify) and puts it in a free slot of `group` (created if needed). Idempotent.
   */
  enrollActiveCa(group?: string): Promise<{ thumbprint: string; group: string }>;
  close(): Promise<void>;
}

export interface RefusedEvent {
  clientId: string;
  deviceId: string;
  kind: 'hub' | 'dps' | 'unknown';
  returnCode: number;
  reason: string;
  at: number;
}

/** IoT Central ID scopes look like `0ne0012ABCD`. */
function scopeFor(tenantId: string): string {
  return '0ne' + createHash('sha256').update(tenantId).digest('hex').slice(0, 8).toUpperCase();
}

export async function startCloud(opts: CloudOptions): Promise<Cloud> {
  const { stateDir, clock } = opts;
  const ssDir = join(stateDir, 'security-service');
  const securityService = SecurityService.exists(ssDir)
    ? await SecurityService.open(ssDir, { clock })
    : opts.createTenant === false
      ? await SecurityService.open(ssDir, { clock }) // throws the 'no tenant' error
      : await SecurityService.createTenant(ssDir, { clock, policy: opts.policy });
  const relyingParty = RelyingParty.open(join(stateDir, 'relying-party'), { clock });
  const tls = await ensureServerTls(join(stateDir, 'cloud'));
  const store = new TelemetryStore(opts.database ?? join(stateDir, 'cloud', 'hub.sqlite'));
  const events = new EventEmitter();
  events.on('error', () => undefined); // a listener's error must not take the emulator down

  const idScope = opts.idScope ?? scopeFor(securityService.tenantId);
  const hubHostName = opts.hubHostName ?? '127.0.0.1';
  // The hub name is fixed before the port is known when port = 0: resolved below, before any connection.
  let hub!: IotHub;
  let dps!: Dps;

  const admit = (info: ConnectInfo): Admission => {
    const u = info.username ?? '';
    const du = parseDpsUsername(u);
    if (du) return dps.admit(info, du);
    const hu = parseHubUsername(u);
    if (hu) return hub.admit(info, hu);
    return {
      ok: false,
      returnCode: CONNACK.BAD_USERNAME_OR_PASSWORD,
      reason: `username '${u.slice(0, 200)}' is neither a DPS ({idScope}/registrations/{id}/api-version=...) nor a hub ({host}/{deviceId}/?api-version=...) username`,
    };
  };

  let broker: Broker;
  try {
    broker = await startBroker({
      port: opts.port ?? 8883,
      certPem: tls.certPem,
      keyPem: tls.keyPem,
      admit,
      onRefused(info, returnCode, reason) {
        const u = info.username ?? '';
        const du = parseDpsUsername(u);
        const hu = du ? null : parseHubUsername(u);
        const kind = du ? 'dps' : hu ? 'hub' : 'unknown';
        const deviceId = du?.registrationId ?? hu?.deviceId ?? info.clientId;
        if (kind !== 'unknown') hub.noteRefusal(deviceId, kind, returnCode, reason);
        const ev: RefusedEvent = { clientId: info.clientId, deviceId, kind, returnCode, reason, at: clock.now() };
        events.emit('refused', ev);
      },
    });
  } catch (e) {
    store.close();
    throw e;
  }
  const port = broker.port;
  // azure-iot-protocols.md: the SDK connects to mqtts://<host> (port 8883); any other port travels in the name.
  const hubHost = port === 8883 ? hubHostName : `${hubHostName}:${port}`;
  hub = new IotHub({ hostName: hubHost, aliases: [hubHostName], store, relyingParty, clock, events, requireRegistration: opts.requireRegistration });
  dps = new Dps({ idScope, hub, relyingParty, clock, events, retryAfterSeconds: opts.dpsRetryAfterSeconds });

  let closed: Promise<void> | null = null;
  return {
    host: broker.host,
    port,
    dpsHost: `${broker.host}:${port}`,
    hubHost,
    idScope,
    serverCaPath: tls.caPath,
    serverCaPem: tls.caPem,
    securityService,
    relyingParty,
    hub,
    dps,
    events,
    async enrollActiveCa(group = 'default') {
      const active = await securityService.find();
      await registerCa(securityService, relyingParty, active.thumbprint, group);
      return { thumbprint: active.thumbprint, group };
    },
    close() {
      closed ??= (async () => {
        hub.close();
        await broker.close();
        store.close();
      })();
      return closed;
    },
  };
}
