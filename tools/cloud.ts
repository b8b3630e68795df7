// `rover cloud`: the cloud emulator standalone (Security Service + relying party + DPS + IoT Hub on
// one MQTT-over-TLS port on 127.0.0.1), for a device on this machine or a script to talk to.
// The CLI is the one place that may read the real clock: here simulated time starts at --at (default
// now) and runs at real speed, so device certificates and DPS dates follow the chosen date.
import { existsSync, statSync } from 'node:fs';
import { CommandError, UsageError, jsonLine, num, parse } from './cli.ts';
import { parseAt } from './ca.ts';
import { startCloud, type Cloud } from '../sim/cloud/cloud.ts';
import type { SchedulingClock } from '../sim/cloud/iot-hub.ts';
import { SecurityService, SecurityServiceError } from '../sim/cloud/security-service.ts';
import { RelyingPartyError } from '../sim/cloud/relying-party.ts';
import { join } from 'node:path';

const DEFAULT_STATE = 'out/cloud-state';

export const help = `rover cloud [--state DIR] [--port N] [--at DATE] [--enroll GROUP] [--json]

Starts the cloud emulator: the tenant CA Security Service, the relying party (CA registry and
enrollment groups), DPS and IoT Hub, all on one MQTT-over-TLS port on 127.0.0.1, until SIGINT or
SIGTERM (then it closes the broker, the server and the database and exits 0).
Creates the tenant if the state directory has none. Prints the endpoints, the DPS ID scope and the
path of the server CA certificate devices must trust (NODE_EXTRA_CA_CERTS or the TLS 'ca' option).

  --state DIR     state directory (default: ${DEFAULT_STATE}); shared with 'rover ca'
  --port N        TCP port (default 8883, the IoT Hub / DPS port; 0 = any free port)
  --at DATE       simulated start date, ISO 8601 UTC (default: now); simulated time then runs at real speed
  --enroll GROUP  register, verify and enroll the tenant's Active CA in enrollment group GROUP first
  --json          one JSON object per line: {"event":"listening",...}, then connect / disconnect /
                  refused / registered / telemetry events, then {"event":"stopped"}
  -h, --help      this text`;

/** Simulated time from --at, advancing with the real monotonic clock; at() schedules on it. */
function runningClock(start: number): SchedulingClock {
  const t0 = performance.now();
  const now = () => start + Math.floor(performance.now() - t0);
  return {
    now,
    at(when, fn) {
      const timer = setTimeout(fn, Math.max(0, when - now()));
      return () => clearTimeout(timer);
    },
  };
}

const iso = (ms: number) => new Date(ms).toISOString();

export async function main(argv: string[]): Promise<number> {
  const parsed = parse(argv, { state: { type: 'string' }, port: { type: 'string' }, at: { type: 'string' }, enroll: { type: 'string' }, json: { type: 'boolean' } }, help);
  if (!parsed) return 0;
  const v = parsed.values;
  const state = v.state ?? DEFAULT_STATE;
  if (state === '') throw new UsageError('--state: empty directory name');
  if (existsSync(state) && !statSync(state).isDirectory()) throw new UsageError(`--state: ${state} is not a directory`);
  const port = num('port', v.port, 8883, (n) => Number.isInteger(n) && n >= 0 && n <= 65535, 'a TCP port (0-65535)');
  const start = v.at !== undefined ? parseAt(v.at) : Date.now();
  const group = v.enroll;
  if (group !== undefined && !/^[A-Za-z0-9._-]{1,128}$/.test(group)) throw new UsageError(`--enroll: expected an enrollment group name (1-128 of A-Z a-z 0-9 . _ -), got '${group}'`);
  const json = !!v.json;
  const clock = runningClock(start);
  const created = !SecurityService.exists(join(state, 'security-service'));

  let cloud: Cloud;
  try {
    cloud = await startCloud({ stateDir: state, clock, port });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'EADDRINUSE') throw new CommandError(`port ${port} on 127.0.0.1 is in use (choose another with --port, or 0 for any free port)`);
    if (err.code === 'EACCES') throw new CommandError(`not allowed to listen on port ${port}`);
    if (e instanceof SecurityServiceError) throw new CommandError(e.message);
    throw e;
  }
  let enrolled: { thumbprint: string; group: string } | null = null;
  if (group !== undefined) {
    try {
      enrolled = await cloud.enrollActiveCa(group);
    } catch (e) {
      await cloud.close();
      if (e instanceof RelyingPartyError || e instanceof SecurityServiceError) throw new CommandError(`--enroll ${group}: ${e.message}`);
      throw e;
    }
  }
  const active = await cloud.securityService.find();
  const info = {
    event: 'listening',
    host: cloud.host,
    port: cloud.port,
    dpsHost: cloud.dpsHost,
    hubHost: cloud.hubHost,
    idScope: cloud.idScope,
    serverCaPath: cloud.serverCaPath,
    stateDir: state,
    tenantId: cloud.securityService.tenantId,
    tenantCreated: created,
    activeCa: active.thumbprint,
    enrolled,
    at: iso(clock.now()),
  };
  if (json) {
    jsonLine(info);
    for (const name of ['connect', 'disconnect', 'refused', 'registered']) cloud.events.on(name, (e) => jsonLine({ event: name, ...e, at: iso(e.at) }));
    cloud.events.on('telemetry', (e) => jsonLine({ event: 'telemetry', deviceId: e.deviceId, seq: e.seq, bytes: e.body.length, messageId: e.messageId, at: iso(e.arrivedAt) }));
  } else {
    console.log(`cloud emulator listening on ${cloud.host}:${cloud.port} (simulated time ${info.at})`);
    console.log(`  tenant     ${info.tenantId}${created ? ' (created)' : ''}, Active CA ${active.thumbprint}${enrolled ? `, enrolled in group ${enrolled.group}` : ''}`);
    console.log(`  DPS        provisioningHost ${cloud.dpsHost}, ID scope ${cloud.idScope}`);
    console.log(`  IoT Hub    ${cloud.hubHost} (the assignedHub DPS returns)`);
    console.log(`  server CA  ${cloud.serverCaPath}  (trust it: NODE_EXTRA_CA_CERTS=${cloud.serverCaPath})`);
    console.log('stop with Ctrl-C');
    cloud.events.on('refused', (e) => console.log(`refused ${e.kind} ${e.deviceId}: CONNACK ${e.returnCode}: ${e.reason}`));
    cloud.events.on('connect', (e) => console.log(`connect ${e.kind} ${e.deviceId}`));
    cloud.events.on('disconnect', (e) => console.log(`disconnect ${e.kind} ${e.deviceId}: ${e.reason}`));
  }

  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await cloud.close();
  if (json) jsonLine({ event: 'stopped' });
  else console.log('cloud emulator stopped');
  return 0;
}
