// The world around the rover: what each ranger sees and the air temperature, as functions of
// simulated time. Profiles are data (constant, ramp, steps, seeded random walk, CSV samples) so
// scenario and CLI users describe them without code. Distances in profiles are centimetres
// (what people measure with a tape); the parts get metres.
import { readFileSync } from 'node:fs';
import type { Environment } from '../boards/parts/part.ts';
import { Random } from '../boards/random.ts';

export class WorldError extends Error {}

/** null = nothing in range (no echo). */
export type Profile =
  | number
  | null
  | { kind: 'constant'; value: number | null }
  | { kind: 'ramp'; from: number; to: number; start?: number; end: number }
  | { kind: 'steps'; steps: { at: number; value: number | null }[] }
  | { kind: 'walk'; start: number; step: number; min: number; max: number; every?: number }
  | { kind: 'csv'; file: string };

export interface WorldSpec {
  /** per part id, or '*' for every part without its own */
  distanceCm: Record<string, Profile>;
  temperatureC?: Profile;
  seed?: number;
}

type Fn = (t: number) => number | null;

export class World implements Environment {
  private readonly distance = new Map<string, Fn>();
  private readonly temperature: Fn;

  constructor(spec: WorldSpec) {
    const random = new Random(spec.seed ?? 1);
    for (const [id, p] of Object.entries(spec.distanceCm)) this.distance.set(id, compile(p, `distance of ${id}`, random.fork(`d:${id}`)));
    this.temperature = compile(spec.temperatureC ?? 20, 'temperature', random.fork('temperature'));
  }

  distanceM(partId: string, t: number): number | null {
    const f = this.distance.get(partId) ?? this.distance.get('*');
    if (!f) return null;
    const cm = f(t);
    return cm === null ? null : cm / 100;
  }

  temperatureC(t: number): number {
    return this.temperature(t) ?? 20;
  }
}

function num(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new WorldError(`${what}: expected a number, got ${JSON.stringify(v)}`);
  return v;
}

export function compile(p: Profile, what: string, random: Random): Fn {
  if (p === null) return () => null;
  if (typeof p === 'number') {
    num(p, what);
    return () => p;
  }
  if (typeof p !== 'object' || Array.isArray(p)) throw new WorldError(`${what}: a profile is a number, null or an object with "kind"`);
  switch (p.kind) {
    case 'constant': {
      const v = p.value === null ? null : num(p.value, `${what}.value`);
      return () => v;
    }
    case 'ramp': {
      const from = num(p.from, `${what}.from`);
      const to = num(p.to, `${what}.to`);
      const start = p.start === undefined ? 0 : num(p.start, `${what}.start`);
      const end = num(p.end, `${what}.end`);
      if (end <= start) throw new WorldError(`${what}: ramp end (${end}) must be after start (${start})`);
      return (t) => (t <= start ? from : t >= end ? to : from + ((to - from) * (t - start)) / (end - start));
    }
    case 'steps': {
      if (!Array.isArray(p.steps) || p.steps.length === 0) throw new WorldError(`${what}.steps: expected a non-empty array of {at, value}`);
      const steps = p.steps.map((s, i) => ({ at: num(s?.at, `${what}.steps[${i}].at`), value: s.value === null ? null : num(s?.value, `${what}.steps[${i}].value`) }));
      for (let i = 1; i < steps.length; i++) if (steps[i].at <= steps[i - 1].at) throw new WorldError(`${what}.steps[${i}].at must be after steps[${i - 1}].at`);
      return (t) => {
        let v = steps[0].value;
        for (const s of steps) if (s.at <= t) v = s.value;
        return v;
      };
    }
    case 'walk': {
      const start = num(p.start, `${what}.start`);
      const step = num(p.step, `${what}.step`);
      const min = num(p.min, `${what}.min`);
      const max = num(p.max, `${what}.max`);
      const every = p.every === undefined ? 1 : num(p.every, `${what}.every`);
      if (min > max || every <= 0) throw new WorldError(`${what}: walk needs min <= max and every > 0`);
      // Values per step index, drawn in order: the same seed gives the same path whatever times are asked.
      const path = [Math.min(max, Math.max(min, start))];
      return (t) => {
        const k = Math.max(0, Math.floor(t / every));
        while (path.length <= k) path.push(Math.min(max, Math.max(min, path[path.length - 1] + step * (2 * random.next() - 1))));
        return path[k];
      };
    }
    case 'csv':
      return fromCsv(p.file, what);
    default:
      throw new WorldError(`${what}: unknown profile kind '${(p as { kind: unknown }).kind}' (constant, ramp, steps, walk, csv)`);
  }
}

/** CSV: "seconds,value" per line (header and # comments allowed; an empty value = nothing in
 *  range). Linear interpolation between samples; held before the first and after the last. */
function fromCsv(file: string, what: string): Fn {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new WorldError(`${what}: cannot read CSV file ${file}`);
  }
  const pts: { t: number; v: number | null }[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    const s = line.trim();
    if (!s || s.startsWith('#')) return;
    const cells = s.split(',').map((c) => c.trim());
    if (pts.length === 0 && i === 0 && Number.isNaN(Number(cells[0]))) return; // header
    const t = Number(cells[0]);
    const v = cells[1] === undefined || cells[1] === '' ? null : Number(cells[1]);
    if (cells.length < 2 || !Number.isFinite(t) || (v !== null && !Number.isFinite(v))) {
      throw new WorldError(`${file}:${i + 1}: expected "seconds,value", got '${s}'`);
    }
    if (pts.length && t <= pts[pts.length - 1].t) throw new WorldError(`${file}:${i + 1}: time ${t} is not after the previous line's`);
    pts.push({ t, v });
  });
  if (pts.length === 0) throw new WorldError(`${file}: no samples`);
  return (t) => {
    if (t <= pts[0].t) return pts[0].v;
    let lo = 0;
    let hi = pts.length - 1;
    if (t >= pts[hi].t) return pts[hi].v;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (pts[mid].t <= t) lo = mid;
      else hi = mid;
    }
    const a = pts[lo];
    const b = pts[hi];
    if (a.v === null || b.v === null) return a.v;
    return a.v + ((b.v - a.v) * (t - a.t)) / (b.t - a.t);
  };
}
