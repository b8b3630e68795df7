// Scenario files (sim/scenarios/*.json): the rig, the world, the start date, the tenant policy,
// events at simulated times (faults and operator actions) and expectations. A scenario is checked
// whole before anything runs; each event kind is a row of EVENT_KINDS with its parameters; every
// mistake is one line naming the file and the key, and events name their simulated time.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Profile } from './world.ts';
import { compile, WorldError } from './world.ts';
import { Random } from '../boards/random.ts';
import { loadRig, HardwareError } from '../boards/hardware.ts';

export const SCENARIO_DIR = join(dirname(fileURLToPath(import.meta.url)), 'scenarios');

export class ScenarioError extends Error {}

/** "90s", "10m", "6h", "40d" or a number of seconds. */
export function parseDuration(v: unknown, where: string): number {
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return v;
  const m = typeof v === 'string' ? /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/.exec(v.trim()) : null;
  if (!m) throw new ScenarioError(`${where}: expected a duration like "90s", "10m", "6h", "40d" or seconds, got ${JSON.stringify(v)}`);
  const unit = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit;
}

type ParamKind = 'duration' | 'ranger' | 'count' | 'object' | 'string' | 'json';
interface EventKind {
  summary: string;
  params: Record<string, { kind: ParamKind; required?: boolean }>;
}

/** The event table: faults, then operator actions. The orchestrator has one handler per row. */
export const EVENT_KINDS: Record<string, EventKind> = {
  'wifi-down': { summary: 'the access point disappears', params: { for: { kind: 'duration', required: true } } },
  'broker-down': { summary: 'the cloud endpoint stops accepting connections', params: { for: { kind: 'duration', required: true } } },
  'hl-restart': { summary: 'the high-level app is killed and restarted from its storage', params: { downFor: { kind: 'duration' } } },
  'power-off': { summary: 'the whole device loses power (RAM lost, storage kept) and comes back after a while', params: { for: { kind: 'duration', required: true } } },
  'rt-restart': { summary: 'the real-time app restarts (the 1 MHz counter keeps running)', params: {} },
  'sensor-stuck': { summary: 'a ranger\'s ECHO sticks high until its supply is cycled', params: { ranger: { kind: 'ranger', required: true } } },
  'sensor-missed': { summary: 'a ranger misses echoes', params: { ranger: { kind: 'ranger', required: true }, count: { kind: 'count' } } },
  'sensor-spurious': { summary: 'a ranger gives short spurious echoes', params: { ranger: { kind: 'ranger', required: true }, count: { kind: 'count' } } },
  'mailbox-corrupt': { summary: 'the next intercore message from the RT core is corrupted in transit', params: { count: { kind: 'count' } } },
  'register-ca': { summary: 'the operator registers, verifies and enrolls the tenant\'s newest CA', params: { group: { kind: 'string' } } },
  'set-desired': { summary: 'the operator sets desired properties', params: { patch: { kind: 'object', required: true } } },
  'invoke-command': { summary: 'the operator invokes a command', params: { name: { kind: 'string', required: true }, payload: { kind: 'json' } } },
};

export interface ScenarioEvent {
  at: number;
  do: string;
  [param: string]: unknown;
}

export type Expectation =
  | { kind: 'all-delivered-once' }
  | { kind: 'all-accounted' }
  | { kind: 'no-auth-failure' }
  | { kind: 'auth-refused'; reason: string }
  | { kind: 'max-delivery-latency'; seconds: number }
  | { kind: 'property-acknowledged'; name: string; ac: number }
  | { kind: 'counter-at-least'; counter: string; value: number };

const EXPECTATION_KINDS: Record<string, Record<string, 'number' | 'string'>> = {
  'all-delivered-once': {},
  'all-accounted': {},
  'no-auth-failure': {},
  'auth-refused': { reason: 'string' },
  'max-delivery-latency': { seconds: 'number' },
  'property-acknowledged': { name: 'string', ac: 'number' },
  'counter-at-least': { counter: 'string', value: 'number' },
};

export interface Scenario {
  file: string;
  name: string;
  description: string;
  rig: string;
  startMs: number;
  durationS: number;
  seed: number;
  tenant: { policy: '2020' | 'later'; createdAt: number; registered: 'all' | 'active' | 'none' };
  world: { distanceCm: Record<string, Profile>; temperatureC?: Profile };
  events: ScenarioEvent[];
  expect: Expectation[];
}

const TOP = ['$comment', 'name', 'description', 'rig', 'start', 'duration', 'seed', 'tenant', 'world', 'events', 'expect'];

/** A built-in scenario name, or a path to a scenario file. */
export function loadScenario(nameOrPath: string): Scenario {
  const file = existsSync(nameOrPath) ? resolve(nameOrPath) : join(SCENARIO_DIR, `${nameOrPath}.json`);
  if (!existsSync(file)) throw new ScenarioError(`scenario '${nameOrPath}' not found (built in: ${builtInScenarios().join(', ')}; or give a file path)`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ScenarioError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  return checkScenario(raw, file);
}

export function builtInScenarios(): string[] {
  return ['default', 'ca-rollover', 'outages', 'sensor-faults'];
}

function date(v: unknown, where: string): number {
  const t = typeof v === 'string' && /^\d{4}-\d\d-\d\d(T[\d:.]+Z)?$/.test(v) ? Date.parse(v) : NaN;
  if (!Number.isFinite(t)) throw new ScenarioError(`${where}: expected a UTC date like "2026-06-01" or "2026-06-01T08:00:00Z", got ${JSON.stringify(v)}`);
  return t;
}

export function checkScenario(raw: unknown, file: string): Scenario {
  const s = raw as Record<string, any>;
  if (!s || typeof s !== 'object' || Array.isArray(s)) throw new ScenarioError(`${file}: a scenario is a JSON object`);
  for (const k of Object.keys(s)) if (!TOP.includes(k)) throw new ScenarioError(`${file}: unknown key '${k}' (expected ${TOP.slice(1).join(', ')})`);
  const str = (k: string, dflt?: string) => {
    const v = s[k] ?? dflt;
    if (typeof v !== 'string' || !v) throw new ScenarioError(`${file}: '${k}' must be a non-empty string`);
    return v;
  };
  const name = str('name');
  const rig = str('rig', 'rover-hcsr04');
  try {
    loadRig(rig);
  } catch (e) {
    if (e instanceof HardwareError) throw new ScenarioError(`${file}: rig: ${e.message}`);
    throw e;
  }
  const startMs = date(s.start, `${file}: start`);
  const durationS = parseDuration(s.duration, `${file}: duration`);
  if (durationS <= 0) throw new ScenarioError(`${file}: duration must be positive`);
  const seed = s.seed ?? 1;
  if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32) throw new ScenarioError(`${file}: seed must be an integer 0..4294967295`);

  const t = s.tenant ?? {};
  if (typeof t !== 'object' || Array.isArray(t)) throw new ScenarioError(`${file}: tenant must be an object`);
  for (const k of Object.keys(t)) if (!['policy', 'createdAt', 'registered'].includes(k)) throw new ScenarioError(`${file}: tenant: unknown key '${k}'`);
  const policy = t.policy ?? '2020';
  if (policy !== '2020' && policy !== 'later') throw new ScenarioError(`${file}: tenant.policy must be "2020" or "later"`);
  const registered = t.registered ?? 'all';
  if (!['all', 'active', 'none'].includes(registered)) throw new ScenarioError(`${file}: tenant.registered must be "all", "active" or "none"`);
  const createdAt = t.createdAt === undefined ? startMs - 30 * 86400_000 : date(t.createdAt, `${file}: tenant.createdAt`);
  if (createdAt > startMs) throw new ScenarioError(`${file}: tenant.createdAt is after start`);

  const w = s.world;
  if (!w || typeof w !== 'object' || typeof w.distanceCm !== 'object' || w.distanceCm === null) throw new ScenarioError(`${file}: world.distanceCm must be an object (part id or "*" -> profile)`);
  for (const k of Object.keys(w)) if (!['distanceCm', 'temperatureC'].includes(k)) throw new ScenarioError(`${file}: world: unknown key '${k}'`);
  const fix = (p: Profile): Profile => (p && typeof p === 'object' && p.kind === 'csv' ? { ...p, file: resolve(dirname(file), p.file) } : p);
  const world: Scenario['world'] = { distanceCm: {} };
  try {
    for (const [k, p] of Object.entries(w.distanceCm)) compile((world.distanceCm[k] = fix(p as Profile)), `${file}: world.distanceCm.${k}`, new Random(1));
    if (w.temperatureC !== undefined) compile((world.temperatureC = fix(w.temperatureC)), `${file}: world.temperatureC`, new Random(1));
  } catch (e) {
    if (e instanceof WorldError) throw new ScenarioError(e.message);
    throw e;
  }

  if (s.events !== undefined && !Array.isArray(s.events)) throw new ScenarioError(`${file}: events must be an array`);
  const events: ScenarioEvent[] = ((s.events ?? []) as any[]).map((e, i) => checkEvent(e, `${file}: events[${i}]`, durationS));
  events.sort((a, b) => a.at - b.at); // stable: equal times keep file order

  if (!Array.isArray(s.expect)) throw new ScenarioError(`${file}: expect must be an array (may be empty)`);
  const expect = (s.expect as any[]).map((x, i) => {
    const where = `${file}: expect[${i}]`;
    const spec = x && typeof x === 'object' ? EXPECTATION_KINDS[x.kind] : undefined;
    if (!spec) throw new ScenarioError(`${where}: kind must be one of ${Object.keys(EXPECTATION_KINDS).join(', ')}`);
    for (const k of Object.keys(x)) if (k !== 'kind' && !(k in spec)) throw new ScenarioError(`${where}: unknown key '${k}'`);
    for (const [k, type] of Object.entries(spec)) if (typeof x[k] !== type) throw new ScenarioError(`${where}: '${k}' must be a ${type}`);
    return x as Expectation;
  });

  return { file, name, description: typeof s.description === 'string' ? s.description : '', rig, startMs, durationS, seed, tenant: { policy, createdAt, registered }, world, events, expect };
}

function checkEvent(e: any, where: string, durationS: number): ScenarioEvent {
  if (!e || typeof e !== 'object' || Array.isArray(e)) throw new ScenarioError(`${where}: an event is an object with "at" and "do"`);
  const at = parseDuration(e.at, `${where}.at`);
  const label = `${where} (at ${formatDuration(at)})`;
  if (at > durationS) throw new ScenarioError(`${label}: after the end of the scenario (${formatDuration(durationS)})`);
  const kind = EVENT_KINDS[e.do];
  if (!kind) throw new ScenarioError(`${label}: "do" must be one of ${Object.keys(EVENT_KINDS).join(', ')}, got ${JSON.stringify(e.do)}`);
  const out: ScenarioEvent = { at, do: e.do };
  for (const k of Object.keys(e)) if (k !== 'at' && k !== 'do' && !(k in kind.params)) throw new ScenarioError(`${label}: ${e.do} takes no '${k}' (takes ${Object.keys(kind.params).join(', ') || 'nothing'})`);
  for (const [k, p] of Object.entries(kind.params)) {
    const v = e[k];
    if (v === undefined) {
      if (p.required) throw new ScenarioError(`${label}: ${e.do} needs '${k}'`);
      continue;
    }
    const bad = (what: string) => new ScenarioError(`${label}: '${k}' must be ${what}, got ${JSON.stringify(v)}`);
    if (p.kind === 'duration') out[k] = parseDuration(v, `${label}.${k}`);
    else if (p.kind === 'ranger') {
      if (v !== 0 && v !== 1 && v !== 'left' && v !== 'right') throw bad('0, 1, "left" or "right"');
      out[k] = v === 'left' ? 0 : v === 'right' ? 1 : v;
    } else if (p.kind === 'count') {
      if (!Number.isInteger(v) || v < 1) throw bad('a whole number >= 1');
      out[k] = v;
    } else if (p.kind === 'object') {
      if (!v || typeof v !== 'object' || Array.isArray(v)) throw bad('an object');
      out[k] = v;
    } else if (p.kind === 'string') {
      if (typeof v !== 'string' || !v) throw bad('a non-empty string');
      out[k] = v;
    } else out[k] = v;
  }
  return out;
}

export function formatDuration(s: number): string {
  if (s >= 86400 && s % 3600 === 0) return `${s / 86400}d`.replace(/(\.\d{2})\d+d$/, '$1d');
  if (s >= 3600) return `${+(s / 3600).toFixed(2)}h`;
  if (s >= 60) return `${+(s / 60).toFixed(2)}m`;
  return `${+s.toFixed(3)}s`;
}
