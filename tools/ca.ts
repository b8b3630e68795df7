// `rover ca`: the operator's view of tenant CA certificates, mirroring the legacy
// `azsphere ca-certificate` family (reference/tenant-ca.md, "Commands an operator has") against the
// Security Service emulator, plus the relying-party side (register, proof of possession, enrollment)
// and `check`, the rotation advisor: what to register, where, and by when, before devices fail.
// The CLI is the one place that may read the real clock, and only as the default for --at.
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CommandError, UsageError, jsonLine, num, parse } from './cli.ts';
import { DAY_MS, ManualClock } from '../sim/cloud/clock.ts';
import { SecurityService, SecurityServiceError, POLICIES, type CaSelector, type TenantCa } from '../sim/cloud/security-service.ts';
import { RelyingParty, RelyingPartyError, SLOTS, type Slot } from '../sim/cloud/relying-party.ts';
import { toPem, normalizeThumbprint } from '../sim/cloud/x509.ts';

const DEFAULT_STATE = 'out/cloud-state';

const GLOBAL = `Options of every subcommand:
  --state DIR   emulator state directory (default: ${DEFAULT_STATE}, relative to the current directory);
                the Security Service lives in DIR/security-service, the relying party in DIR/relying-party
  --at DATE     evaluate at this simulated date, ISO 8601 UTC: 2026-06-01 or 2026-06-01T12:00:00Z
                (default: the real clock's now)
  --json        print one JSON object per line
  -h, --help    this text`;

export const help = `rover ca <subcommand> [options]

Tenant CA certificates of the Security Service emulator (reference/tenant-ca.md) and their
registration with the relying party (IoT Hub / DPS / IoT Central enrollment groups).

Security Service (tenant side):
  tenant create [--policy 2020|later] [--tenant-id ID]   create the tenant at --at (first CA Active)
  tenant revoke                        revoke the tenant: nothing is issued any more
  list                                 every tenant CA: index, thumbprint, status, label, subject, dates
  download [--index N | --thumbprint T] --output F.cer        one CA as DER (default: the Active one)
  download-chain [--index N | --thumbprint T] --output F.p7b  the CA and its root as PKCS#7 DER
  download-proof --verification-code CODE [--index N | --thumbprint T] --output F.cer
                                       proof of possession signed by the chosen CA's key
  revoke (--index N | --thumbprint T)  revoke one tenant CA (a replacement becomes Active if needed)
  device-cert --csr F --device-id ID --output F.pem
                                       issue a 24-hour device certificate (leaf + issuing CA, PEM)
Relying party:
  register --input F.cer|F.pem         upload a CA certificate -> Unverified
  code --thumbprint T [--etag E]       generate a verification code (default etag: the current one)
  verify --thumbprint T --input proof.cer [--etag E]          proof of possession -> Verified
  enroll --group NAME --thumbprint T [--slot primary|secondary]   put a verified CA in a slot
  unenroll --group NAME --slot primary|secondary
  group --group NAME (--enable | --disable)
  registrations                        registered CAs and enrollment groups
Advisor:
  check [--group NAME]                 each CA's state and what to do, with dates.
                                       exit 0 = nothing to do, 1 = action needed before a deadline,
                                       2 = devices are failing now

${GLOBAL}

rover ca <subcommand> --help documents each subcommand.`;

// ---------------------------------------------------------------- options

const globalOptions = {
  state: { type: 'string' },
  at: { type: 'string' },
  json: { type: 'boolean' },
} as const;
const selectOptions = { index: { type: 'string' }, thumbprint: { type: 'string' } } as const;

type Values = Record<string, string | boolean | undefined>;

interface Ctx {
  v: Values;
  state: string;
  at: number;
  json: boolean;
  clock: ManualClock;
}

/** ISO 8601 date or UTC date-time; a time without a zone is taken as UTC. Impossible dates are refused. */
export function parseAt(s: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})?)?$/.exec(s.trim());
  if (!m) throw new UsageError(`--at: expected an ISO date such as 2026-06-01 or 2026-06-01T12:00:00Z, got '${s}'`);
  const [, y, mo, d, hh = '00', mm = '00', ss = '00', frac = '', zone = 'Z'] = m;
  const t = Date.parse(`${y}-${mo}-${d}T${hh}:${mm}:${ss}${frac}${zone}`);
  const check = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d)));
  if (!Number.isFinite(t) || check.getUTCMonth() !== Number(mo) - 1 || check.getUTCDate() !== Number(d) || Number(hh) > 23 || Number(mm) > 59 || Number(ss) > 59)
    throw new UsageError(`--at: '${s}' is not a valid date`);
  return t;
}

function selector(v: Values): CaSelector {
  if (v.index !== undefined && v.thumbprint !== undefined) throw new UsageError('give --index or --thumbprint, not both');
  if (v.index !== undefined) return { index: num('index', v.index as string, 0, (n) => Number.isInteger(n) && n >= 0, 'a CA index (0, 1, ...)') };
  if (v.thumbprint !== undefined) return { thumbprint: thumbprintArg(v.thumbprint as string) };
  return {};
}

function thumbprintArg(s: string | undefined, flag = 'thumbprint'): string {
  if (s === undefined) throw new UsageError(`--${flag} is required`);
  const t = normalizeThumbprint(s);
  if (!/^[0-9A-F]{40}$/.test(t)) throw new UsageError(`--${flag}: expected a SHA-1 thumbprint (40 hex digits), got '${s}'`);
  return t;
}

function required(v: Values, name: string): string {
  const x = v[name];
  if (typeof x !== 'string' || x === '') throw new UsageError(`--${name} is required`);
  return x;
}

function readInput(path: string, flag: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new UsageError(`--${flag}: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

function writeOutput(path: string, data: Uint8Array | string): void {
  try {
    writeFileSync(path, data);
  } catch (e) {
    throw new CommandError(`--output: cannot write ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const isoZ = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');

async function service(c: Ctx): Promise<SecurityService> {
  return SecurityService.open(join(c.state, 'security-service'), { clock: c.clock });
}

function relyingParty(c: Ctx): RelyingParty {
  return RelyingParty.open(join(c.state, 'relying-party'), { clock: c.clock });
}

function out(c: Ctx, obj: Record<string, unknown>, text: string): void {
  if (c.json) jsonLine(obj);
  else process.stdout.write(text + '\n');
}

function caJson(ca: TenantCa): Record<string, unknown> {
  return {
    index: ca.index,
    thumbprint: ca.thumbprint,
    status: ca.status,
    label: ca.label,
    subject: ca.subject,
    start: isoZ(ca.notBefore),
    end: isoZ(ca.notAfter),
    activeFrom: isoZ(ca.activeFrom),
    revokedAt: ca.revokedAt === null ? null : isoZ(ca.revokedAt),
  };
}

// ---------------------------------------------------------------- subcommands

interface Sub {
  usage: string;
  options: Record<string, { type: 'string' | 'boolean' }>;
  run(c: Ctx): Promise<number>;
}

const subs: Record<string, Sub> = {
  'tenant create': {
    usage: `rover ca tenant create [--policy 2020|later] [--tenant-id ID]
Creates the tenant at --at: the Security Service root and the first tenant CA, Active at once, valid two
years. --policy: 2020 (default; new CA 60 days before expiry, Active 30 days later) or later (90 / 45 days)
(reference/tenant-ca.md, "Rotation policy").`,
    options: { policy: { type: 'string' }, 'tenant-id': { type: 'string' } },
    async run(c) {
      const policy = (c.v.policy as string | undefined) ?? '2020';
      if (!POLICIES[policy]) throw new UsageError(`--policy: expected one of ${Object.keys(POLICIES).join(', ')}, got '${policy}'`);
      const tid = c.v['tenant-id'] as string | undefined;
      if (tid !== undefined && !/^[A-Za-z0-9-]{1,40}$/.test(tid)) throw new UsageError(`--tenant-id: expected 1-40 letters, digits or '-', got '${tid}'`);
      const ss = await SecurityService.createTenant(join(c.state, 'security-service'), { clock: c.clock, policy, tenantId: tid });
      const first = await ss.find();
      out(c, { tenantId: ss.tenantId, policy: ss.policy, createdAt: isoZ(ss.tenantCreatedAt), activeCa: caJson(first) }, `tenant ${ss.tenantId} created ${day(ss.tenantCreatedAt)} (policy ${policy}); Active CA 0 ${first.thumbprint} valid until ${day(first.notAfter)}`);
      return 0;
    },
  },
  'tenant revoke': {
    usage: 'rover ca tenant revoke\nRevokes the tenant at --at: every tenant CA becomes Revoked; no device certificate is issued any more.',
    options: {},
    async run(c) {
      const ss = await service(c);
      await ss.revokeTenant();
      out(c, { tenantId: ss.tenantId, revokedAt: isoZ(ss.tenantRevokedAt!) }, `tenant ${ss.tenantId} revoked at ${isoZ(ss.tenantRevokedAt!)}`);
      return 0;
    },
  },
  list: {
    usage: 'rover ca list\nEvery tenant CA existing at --at, with index, thumbprint (SHA-1), status, label, subject, start and end.',
    options: {},
    async run(c) {
      const ss = await service(c);
      const cas = await ss.list();
      if (c.json) for (const ca of cas) jsonLine(caJson(ca));
      else {
        console.log(`${'#'.padEnd(3)} ${'thumbprint'.padEnd(40)} ${'status'.padEnd(18)} ${'start'.padEnd(10)} ${'end'.padEnd(10)} subject`);
        for (const ca of cas) {
          const st = ca.label ? `${ca.status} (${ca.label})` : ca.status;
          console.log(`${String(ca.index).padEnd(3)} ${ca.thumbprint} ${st.padEnd(18)} ${day(ca.notBefore)} ${day(ca.notAfter)} ${ca.subject}`);
        }
      }
      return 0;
    },
  },
  download: {
    usage: 'rover ca download [--index N | --thumbprint T] --output F.cer\nOne tenant CA certificate as DER (default: the Active one). Expired CAs cannot be downloaded.',
    options: { ...selectOptions, output: { type: 'string' } },
    async run(c) {
      const sel = selector(c.v);
      const output = required(c.v, 'output');
      const ss = await service(c);
      const ca = await ss.find(sel);
      const der = await ss.download(sel);
      writeOutput(output, der);
      out(c, { ...caJson(ca), output }, `wrote CA ${ca.index} ${ca.thumbprint} (${ca.status}${ca.label ? ' ' + ca.label : ''}) to ${output}`);
      return 0;
    },
  },
  'download-chain': {
    usage: 'rover ca download-chain [--index N | --thumbprint T] --output F.p7b\nThe tenant CA and the Security Service root as PKCS#7 (DER).',
    options: { ...selectOptions, output: { type: 'string' } },
    async run(c) {
      const sel = selector(c.v);
      const output = required(c.v, 'output');
      const ss = await service(c);
      const ca = await ss.find(sel);
      writeOutput(output, await ss.downloadChain(sel));
      out(c, { ...caJson(ca), output }, `wrote the chain of CA ${ca.index} ${ca.thumbprint} to ${output}`);
      return 0;
    },
  },
  'download-proof': {
    usage: `rover ca download-proof --verification-code CODE [--index N | --thumbprint T] --output F.cer
A proof-of-possession certificate (DER) whose subject CN is CODE, signed by the chosen tenant CA's private
key (default: the Active CA). Care: for a new CA, choose it by --thumbprint.`,
    options: { ...selectOptions, output: { type: 'string' }, 'verification-code': { type: 'string' } },
    async run(c) {
      const sel = selector(c.v);
      const code = required(c.v, 'verification-code');
      const output = required(c.v, 'output');
      const ss = await service(c);
      const ca = await ss.find(sel);
      writeOutput(output, await ss.downloadProof(code, sel));
      out(c, { thumbprint: ca.thumbprint, index: ca.index, code, output }, `wrote proof for code ${code} signed by CA ${ca.index} ${ca.thumbprint} to ${output}`);
      return 0;
    },
  },
  revoke: {
    usage: 'rover ca revoke (--index N | --thumbprint T)\nRevokes one tenant CA at --at. If it was Active, the pending new CA (or a fresh replacement) becomes Active at once.',
    options: { ...selectOptions },
    async run(c) {
      const sel = selector(c.v);
      if (sel.index === undefined && sel.thumbprint === undefined) throw new UsageError('--index or --thumbprint is required');
      const ss = await service(c);
      const ca = await ss.revokeCa(sel);
      const active = await ss.find();
      out(c, { revoked: caJson(ca), active: caJson(active) }, `revoked CA ${ca.index} ${ca.thumbprint}; Active now: CA ${active.index} ${active.thumbprint}`);
      return 0;
    },
  },
  'device-cert': {
    usage: 'rover ca device-cert --csr F --device-id ID --output F.pem\nIssues a 24-hour device certificate from a PKCS#10 CSR (PEM or DER; CN must be the device ID), by the CA Active at --at.\nThe output holds the device certificate followed by the issuing tenant CA.',
    options: { csr: { type: 'string' }, 'device-id': { type: 'string' }, output: { type: 'string' } },
    async run(c) {
      const csr = readInput(required(c.v, 'csr'), 'csr');
      const id = required(c.v, 'device-id');
      const output = required(c.v, 'output');
      const ss = await service(c);
      const dc = await ss.issueDeviceCertificate(new Uint8Array(csr), id);
      writeOutput(output, toPem(dc.certificate) + toPem(dc.chain[0]));
      out(c, { deviceId: id, issuerIndex: dc.issuerIndex, issuerThumbprint: dc.issuerThumbprint, notBefore: isoZ(dc.notBefore), notAfter: isoZ(dc.notAfter), output }, `wrote certificate for ${id} issued by CA ${dc.issuerIndex} ${dc.issuerThumbprint}, valid ${isoZ(dc.notBefore)} to ${isoZ(dc.notAfter)}, to ${output}`);
      return 0;
    },
  },
  register: {
    usage: 'rover ca register --input F.cer|F.pem\nUploads a CA certificate (DER, PEM or base64 DER) to the relying party: status Unverified.',
    options: { input: { type: 'string' } },
    async run(c) {
      const data = readInput(required(c.v, 'input'), 'input');
      const r = relyingParty(c).upload(new Uint8Array(data), { at: c.at });
      out(c, { thumbprint: r.thumbprint, subject: r.subject, notAfter: isoZ(r.notAfter), status: r.status, etag: r.etag }, `registered ${r.thumbprint} (${r.subject}), ${r.status}, valid until ${day(r.notAfter)}; next: rover ca code --thumbprint ${r.thumbprint}`);
      return 0;
    },
  },
  code: {
    usage: 'rover ca code --thumbprint T [--etag E]\nGenerates a verification code for an Unverified CA (If-Match: --etag, default the current etag).',
    options: { thumbprint: { type: 'string' }, etag: { type: 'string' } },
    async run(c) {
      const t = thumbprintArg(c.v.thumbprint as string | undefined);
      const rp = relyingParty(c);
      const etag = (c.v.etag as string | undefined) ?? rp.registration(t)?.etag ?? '';
      const r = rp.generateVerificationCode(t, etag);
      out(c, { thumbprint: t, code: r.code, etag: r.etag }, `${r.code}\n(next: rover ca download-proof --thumbprint ${t} --verification-code ${r.code} --output proof.cer)`);
      return 0;
    },
  },
  verify: {
    usage: 'rover ca verify --thumbprint T --input proof.cer [--etag E]\nChecks the proof of possession; the CA becomes Verified.',
    options: { thumbprint: { type: 'string' }, input: { type: 'string' }, etag: { type: 'string' } },
    async run(c) {
      const t = thumbprintArg(c.v.thumbprint as string | undefined);
      const data = readInput(required(c.v, 'input'), 'input');
      const rp = relyingParty(c);
      const etag = (c.v.etag as string | undefined) ?? rp.registration(t)?.etag ?? '';
      const r = rp.verify(t, etag, new Uint8Array(data), { at: c.at });
      out(c, { thumbprint: r.thumbprint, status: r.status, etag: r.etag }, `${r.thumbprint} ${r.status}`);
      return 0;
    },
  },
  enroll: {
    usage: 'rover ca enroll --group NAME --thumbprint T [--slot primary|secondary]\nPuts a Verified CA into a slot of an enrollment group (created if missing). Default slot: the free one.\nA slot holding an unexpired CA is never overwritten.',
    options: { group: { type: 'string' }, thumbprint: { type: 'string' }, slot: { type: 'string' } },
    async run(c) {
      const group = required(c.v, 'group');
      const t = thumbprintArg(c.v.thumbprint as string | undefined);
      const slot = c.v.slot as string | undefined;
      if (slot !== undefined && !SLOTS.includes(slot as Slot)) throw new UsageError(`--slot: expected primary or secondary, got '${slot}'`);
      const r = relyingParty(c).enroll(group, t, { slot: slot as Slot | undefined, at: c.at });
      out(c, { thumbprint: t, group: r.group, slot: r.slot }, `${t} is in the ${r.slot} slot of ${r.group}`);
      return 0;
    },
  },
  unenroll: {
    usage: 'rover ca unenroll --group NAME --slot primary|secondary\nEmpties a slot of an enrollment group.',
    options: { group: { type: 'string' }, slot: { type: 'string' } },
    async run(c) {
      const group = required(c.v, 'group');
      const slot = required(c.v, 'slot');
      if (!SLOTS.includes(slot as Slot)) throw new UsageError(`--slot: expected primary or secondary, got '${slot}'`);
      relyingParty(c).unenroll(group, slot as Slot);
      out(c, { group, slot, thumbprint: null }, `the ${slot} slot of ${group} is empty`);
      return 0;
    },
  },
  group: {
    usage: 'rover ca group --group NAME (--enable | --disable)\nEnables or disables an enrollment group (created if missing).',
    options: { group: { type: 'string' }, enable: { type: 'boolean' }, disable: { type: 'boolean' } },
    async run(c) {
      const name = required(c.v, 'group');
      if (!!c.v.enable === !!c.v.disable) throw new UsageError('give exactly one of --enable, --disable');
      const rp = relyingParty(c);
      const g = rp.group(name) ? rp.setGroupEnabled(name, !!c.v.enable) : rp.createGroup(name, { enabled: !!c.v.enable });
      out(c, { ...g }, `enrollment group ${g.name} ${g.enabled ? 'enabled' : 'disabled'}`);
      return 0;
    },
  },
  registrations: {
    usage: 'rover ca registrations\nThe relying party\'s registered CAs (status, etag, slots) and enrollment groups.',
    options: {},
    async run(c) {
      const rp = relyingParty(c);
      for (const r of rp.registrations())
        out(c, { kind: 'ca', ...r, notBefore: isoZ(r.notBefore), notAfter: isoZ(r.notAfter) }, `CA ${r.thumbprint} ${r.status.padEnd(10)} until ${day(r.notAfter)} etag ${r.etag} ${r.slots.map((s) => `${s.group}/${s.slot}`).join(' ')}`);
      for (const g of rp.groups()) out(c, { kind: 'group', ...g }, `group ${g.name} ${g.enabled ? 'enabled' : 'DISABLED'} primary ${g.primary ?? '-'} secondary ${g.secondary ?? '-'}`);
      return 0;
    },
  },
  check: {
    usage: `rover ca check [--group NAME]
The rotation advisor: for each tenant CA at --at, its state at the relying party and what to do, with dates.
--group: the enrollment group the devices use (default: the groups that hold any tenant CA).
Exit code: 0 nothing to do, 1 action needed before a deadline, 2 devices are failing now.`,
    options: { group: { type: 'string' } },
    async run(c) {
      const ss = await service(c);
      const rp = relyingParty(c);
      const advice = await advise(ss, rp, c.at, c.v.group as string | undefined);
      for (const a of advice.items) out(c, { ...a }, [a.message, ...a.steps.map((x) => `    ${x}`)].join('\n'));
      out(c, { exitCode: advice.exitCode, summary: advice.summary }, advice.summary);
      return advice.exitCode;
    },
  },
};

// ---------------------------------------------------------------- the rotation advisor

export interface Advice {
  thumbprint: string | null;
  index: number | null;
  status: string;
  /** 0 nothing to do, 1 act before `deadline`, 2 devices fail now */
  level: 0 | 1 | 2;
  deadline: string | null;
  message: string;
  /** commands that fix it, in order */
  steps: string[];
}

/**
 * What the operator must do at `at` (reference/tenant-ca.md, "What goes wrong"): the Active CA must be
 * trusted now, or devices fail (2); a new CA must be trusted before it becomes Active, about 30 days
 * after its creation (1); retired and expired CAs stay where they are until they expire (0).
 * "Trusted" is exactly what admit() requires: Verified, unexpired, in a slot of an enabled group.
 */
export async function advise(ss: SecurityService, rp: RelyingParty, at: number, groupName?: string): Promise<{ items: Advice[]; exitCode: 0 | 1 | 2; summary: string }> {
  const cas = await ss.list();
  const items: Advice[] = [];
  const groups = groupName ? [groupName] : rp.groups().filter((g) => cas.some((ca) => g.primary === ca.thumbprint || g.secondary === ca.thumbprint)).map((g) => g.name);
  const where = groups.length ? `enrollment group ${groups.join(', ')}` : 'any enrollment group';
  const target = groups[0] ?? 'NAME';

  /** What is missing for this CA to be trusted, and the commands that fix it. */
  const missing = (ca: TenantCa): { what: string; steps: string[] } | null => {
    const problem = rp.trustProblem(ca.thumbprint, at);
    const inTarget = (groupName ? rp.registration(ca.thumbprint)?.slots.some((s) => s.group === groupName && s.enabled) : true) ?? false;
    if (problem === null && inTarget) return null;
    const t = ca.thumbprint;
    const reg = rp.registration(t);
    const exists = rp.group(target) !== null;
    const slot = exists ? rp.freeSlot(target, at) : null; // a group made by enroll fills its primary slot first
    const enroll = `rover ca enroll --group ${target} --thumbprint ${t}${slot ? ` --slot ${slot}` : ''}`;
    const proof = [
      `rover ca code --thumbprint ${t}`,
      `rover ca download-proof --thumbprint ${t} --verification-code CODE --output proof.cer`,
      `rover ca verify --thumbprint ${t} --input proof.cer`,
      enroll,
    ];
    if (!reg) return { what: `not registered in ${where}`, steps: [`rover ca download --thumbprint ${t} --output ca-${ca.index}.cer`, `rover ca register --input ca-${ca.index}.cer`, ...proof] };
    if (reg.status !== 'Verified') return { what: `uploaded but not verified (no proof of possession)`, steps: proof };
    if (exists && !slot && !reg.slots.some((s) => s.group === target)) return { what: `verified but not in ${where}, and both of its slots hold unexpired CAs`, steps: [] };
    return { what: problem ?? `verified but not in enrollment group ${target}`, steps: [enroll] };
  };

  if (at < ss.tenantCreatedAt) {
    items.push({ thumbprint: null, index: null, status: 'none', level: 0, deadline: null, message: `the tenant is created on ${day(ss.tenantCreatedAt)}: nothing exists yet`, steps: [] });
  } else if (ss.tenantRevokedAt !== null && ss.tenantRevokedAt <= at) {
    items.push({ thumbprint: null, index: null, status: 'Revoked', level: 2, deadline: null, message: `tenant ${ss.tenantId} was revoked on ${day(ss.tenantRevokedAt)}: no device certificates are issued; devices cannot connect`, steps: [] });
  }
  for (const ca of cas) {
    const t = ca.thumbprint;
    const base = { thumbprint: t, index: ca.index, status: ca.label ? `${ca.status} (${ca.label})` : ca.status };
    if (ca.status === 'Revoked') {
      const held = rp.registration(t)?.slots ?? [];
      if (held.length) items.push({ ...base, level: 1, deadline: isoZ(at), message: `revoked CA ${t} is still trusted in ${held.map((s) => `${s.group}/${s.slot}`).join(', ')}: remove it now (rover ca unenroll --group ${held[0].group} --slot ${held[0].slot})`, steps: [] });
      else items.push({ ...base, level: 0, deadline: null, message: `revoked CA ${t}: not trusted by the relying party; nothing to do`, steps: [] });
    } else if (ca.status === 'Active') {
      const m = missing(ca);
      if (m) items.push({ ...base, level: 2, deadline: isoZ(at), message: `Active CA ${t} is ${m.what}: devices cannot connect now; register it at once`, steps: m.steps });
      else items.push({ ...base, level: 0, deadline: null, message: `Active CA ${t} is trusted (${(rp.registration(t)?.slots ?? []).map((s) => `${s.group}/${s.slot}`).join(', ')}) until ${day(ca.notAfter)}; its successor is created about ${day(ca.notAfter - ss.policy.leadDays * DAY_MS)}`, steps: [] });
    } else if (ca.label === 'new') {
      const m = missing(ca);
      const days = Math.ceil((ca.activeFrom - at) / DAY_MS);
      if (m) items.push({ ...base, level: 1, deadline: isoZ(ca.activeFrom), message: `new CA ${t} created ${day(ca.createdAt)} becomes Active about ${day(ca.activeFrom)}: ${m.what}; register it within ${days} day${days === 1 ? '' : 's'}`, steps: m.steps });
      else items.push({ ...base, level: 0, deadline: null, message: `new CA ${t} created ${day(ca.createdAt)} is trusted and ready; it becomes Active about ${day(ca.activeFrom)}`, steps: [] });
    } else if (ca.label === 'retired') {
      items.push({ ...base, level: 0, deadline: null, message: `retired CA ${t} expires ${day(ca.notAfter)}: keep it enrolled until then (remove nothing that has not expired)`, steps: [] });
    } else {
      const held = rp.registration(t)?.slots ?? [];
      items.push({ ...base, level: 0, deadline: null, message: `expired CA ${t} (${day(ca.notAfter)})${held.length ? `: its slot ${held.map((s) => `${s.group}/${s.slot}`).join(', ')} is free for the next CA` : ''}`, steps: [] });
    }
  }
  const exitCode = Math.max(0, ...items.map((i) => i.level)) as 0 | 1 | 2;
  const summary = exitCode === 2 ? 'devices are failing now' : exitCode === 1 ? `action needed before ${day(Math.min(...items.filter((i) => i.level === 1).map((i) => Date.parse(i.deadline!))))}` : 'nothing to do';
  return { items, exitCode, summary };
}

// ---------------------------------------------------------------- entry

export async function main(argv: string[]): Promise<number> {
  const [first, second] = argv;
  if (!first || first === '--help' || first === '-h' || first === 'help') {
    process.stdout.write(help + '\n');
    return first ? 0 : 2;
  }
  const name = first === 'tenant' ? `tenant ${second ?? ''}` : first;
  const sub = subs[name];
  if (!sub) {
    if (first === 'tenant') throw new UsageError(`tenant: expected 'create' or 'revoke', got '${second ?? ''}'`);
    throw new UsageError(`unknown subcommand '${first}' (try rover ca --help)`);
  }
  const rest = argv.slice(first === 'tenant' ? 2 : 1);
  const parsed = parse(rest, { ...globalOptions, ...sub.options }, `${sub.usage}\n\n${GLOBAL}`);
  if (!parsed) return 0;
  const v = parsed.values as Values;
  // The CLI is the one place allowed to read the real clock: the default for --at.
  const at = v.at !== undefined ? parseAt(v.at as string) : Date.now();
  const state = (v.state as string | undefined) ?? DEFAULT_STATE;
  if (v.state !== undefined && state === '') throw new UsageError('--state: empty directory name');
  if (existsSync(state) && !statSync(state).isDirectory()) throw new UsageError(`--state: ${state} is not a directory`);
  const c: Ctx = { v, state, at, json: !!v.json, clock: new ManualClock(at) };
  try {
    return await sub.run(c);
  } catch (e) {
    if (e instanceof SecurityServiceError || e instanceof RelyingPartyError) throw new CommandError(e.message);
    throw e;
  }
}
