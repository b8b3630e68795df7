// Loading and checking the hardware data: chip files (boards/<chip>/chip.json), board files
// (boards/<board>/board.json) and rig files (which part pin goes to which board pin). A mistake is
// one line naming the file and the key, as a devicetree binding would report it.
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BOARDS_DIR = dirname(fileURLToPath(import.meta.url));

export class HardwareError extends Error {}

export interface ChipSpec {
  name: string;
  coreClockHz: number;
  interruptEntryCycles: number;
  interruptExitCycles: number;
  halAccessCycles: number;
  gpioCount: number;
  /** GPIO0 .. GPIO(n-1) can raise edge interrupts (EINT) */
  gpioEdgeInterrupts: number;
  memory: { tcmBytes: number; sysramBytes: number };
  gpt: { microsecondCounterHz: number };
  mailbox: { outboundRingBytes: number; inboundRingBytes: number; highLevelLatencyUs: number };
}

export interface BoardSpec {
  name: string;
  chip: string;
  pins: Record<string, number>;
}

export interface RigPart {
  id: string;
  type: string;
  attrs: Record<string, unknown>;
}

export interface Rig {
  file: string;
  board: BoardSpec;
  chip: ChipSpec;
  parts: RigPart[];
  /** "part:PIN" -> GPIO number */
  wiring: Map<string, number>;
  rangers: string[];
  trace: string[];
}

/** Pins of each part type, and which must be connected. */
export const PART_PINS: Record<string, { pins: string[]; required: string[]; ranger: boolean }> = {
  'hc-sr04': { pins: ['VCC', 'TRIG', 'ECHO', 'GND'], required: ['TRIG', 'ECHO'], ranger: true },
  'grove-ultrasonic': { pins: ['VCC', 'SIG', 'GND'], required: ['SIG'], ranger: true },
};

function readJson(file: string, what: string): any {
  if (!existsSync(file)) throw new HardwareError(`${what} ${file} not found`);
  const text = readFileSync(file, 'utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new HardwareError(`${file}: not valid JSON (${(e as Error).message})`);
  }
}

function need(file: string, obj: any, key: string, kind: 'string' | 'number' | 'object' | 'array'): any {
  const v = key.split('.').reduce((o, k) => (o == null ? undefined : o[k]), obj);
  const ok = kind === 'array' ? Array.isArray(v) : kind === 'object' ? v !== null && typeof v === 'object' && !Array.isArray(v) : typeof v === kind;
  if (!ok || (kind === 'number' && !Number.isFinite(v))) {
    throw new HardwareError(`${file}: key '${key}' must be ${kind === 'array' ? 'an array' : `a${kind === 'object' ? 'n' : ''} ${kind}`}${v === undefined ? ' (missing)' : ''}`);
  }
  return v;
}

export function loadChip(name: string): ChipSpec {
  const file = join(BOARDS_DIR, name, 'chip.json');
  const c = readJson(file, `chip '${name}':`);
  for (const k of ['coreClockHz', 'interruptEntryCycles', 'interruptExitCycles', 'halAccessCycles', 'gpioCount', 'gpioEdgeInterrupts', 'gpt.microsecondCounterHz',
    'mailbox.outboundRingBytes', 'mailbox.inboundRingBytes', 'mailbox.highLevelLatencyUs', 'memory.tcmBytes', 'memory.sysramBytes']) {
    need(file, c, k, 'number');
  }
  return c as ChipSpec;
}

export function loadBoard(name: string): BoardSpec {
  if (!/^[a-z0-9-]+$/.test(name)) throw new HardwareError(`board name '${name}' is not a folder name under boards/`);
  const file = join(BOARDS_DIR, name, 'board.json');
  const b = readJson(file, `board '${name}':`);
  need(file, b, 'chip', 'string');
  const pins = need(file, b, 'pins', 'object');
  for (const [k, v] of Object.entries(pins)) {
    if (!Number.isInteger(v) || (v as number) < 0) throw new HardwareError(`${file}: pin '${k}' must be a GPIO number, got ${JSON.stringify(v)}`);
  }
  return { name, chip: b.chip, pins };
}

export const DEFAULT_RIG = join(BOARDS_DIR, 'rigs', 'rover-hcsr04.rig.json');

/** Load a rig file by path, or by name of a rig in boards/rigs/ (e.g. "rover-grove"). */
export function loadRig(pathOrName: string = DEFAULT_RIG): Rig {
  const file = existsSync(pathOrName) ? resolve(pathOrName) : join(BOARDS_DIR, 'rigs', `${pathOrName}.rig.json`);
  const r = readJson(file, 'rig');
  return checkRig(r, file);
}

export function checkRig(r: any, file: string): Rig {
  if (r === null || typeof r !== 'object' || Array.isArray(r)) throw new HardwareError(`${file}: a rig must be a JSON object`);
  const known = new Set(['$comment', 'board', 'parts', 'connections', 'rangers', 'trace']);
  for (const k of Object.keys(r)) if (!known.has(k)) throw new HardwareError(`${file}: unknown key '${k}' (expected one of ${[...known].slice(1).join(', ')})`);
  const board = loadBoard(need(file, r, 'board', 'string'));
  const chip = loadChip(board.chip);
  const parts: RigPart[] = [];
  const ids = new Set<string>();
  (need(file, r, 'parts', 'array') as any[]).forEach((p, i) => {
    const id = need(file, p, 'id', 'string');
    const type = need(file, p, 'type', 'string');
    if (!/^[a-z][a-z0-9_-]*$/.test(id)) throw new HardwareError(`${file}: parts[${i}].id '${id}' must be lower-case letters, digits, - or _`);
    if (ids.has(id)) throw new HardwareError(`${file}: parts[${i}].id '${id}' is used twice`);
    if (!PART_PINS[type]) throw new HardwareError(`${file}: parts[${i}].type '${type}' is not a known part (${Object.keys(PART_PINS).join(', ')})`);
    if (p.attrs !== undefined && (p.attrs === null || typeof p.attrs !== 'object')) throw new HardwareError(`${file}: parts[${i}].attrs must be an object`);
    ids.add(id);
    parts.push({ id, type, attrs: p.attrs ?? {} });
  });
  const wiring = new Map<string, number>();
  const usedGpio = new Map<number, string>();
  (need(file, r, 'connections', 'array') as any[]).forEach((c, i) => {
    if (!Array.isArray(c) || c.length !== 2 || typeof c[0] !== 'string' || typeof c[1] !== 'string') {
      throw new HardwareError(`${file}: connections[${i}] must be ["part:PIN", "board:NAME"]`);
    }
    const [partId, pinName] = c[0].split(':');
    const part = parts.find((p) => p.id === partId);
    if (!part) throw new HardwareError(`${file}: connections[${i}] names part '${partId}', which is not in parts`);
    if (!PART_PINS[part.type].pins.includes(pinName)) {
      throw new HardwareError(`${file}: connections[${i}]: ${part.type} has no pin '${pinName}' (${PART_PINS[part.type].pins.join(', ')})`);
    }
    const [b, boardPin] = c[1].split(':');
    if (b !== 'board' || !boardPin) throw new HardwareError(`${file}: connections[${i}] must end at "board:<pin>", got '${c[1]}'`);
    const gpio = board.pins[boardPin];
    if (gpio === undefined) throw new HardwareError(`${file}: connections[${i}]: board ${board.name} has no pin '${boardPin}'`);
    if (gpio >= chip.gpioCount) throw new HardwareError(`${file}: connections[${i}]: GPIO${gpio} does not exist on ${chip.name}`);
    const prev = usedGpio.get(gpio);
    if (prev) throw new HardwareError(`${file}: connections[${i}]: GPIO${gpio} (${boardPin}) is already wired to ${prev}`);
    usedGpio.set(gpio, c[0]);
    wiring.set(c[0], gpio);
  });
  for (const p of parts) {
    for (const req of PART_PINS[p.type].required) {
      if (!wiring.has(`${p.id}:${req}`)) throw new HardwareError(`${file}: part '${p.id}' pin ${req} is not connected (add ["${p.id}:${req}", "board:<pin>"] to connections)`);
    }
  }
  // Echo inputs need an edge interrupt (the firmware times echoes from edge captures).
  for (const p of parts) {
    for (const pin of ['ECHO', 'SIG']) {
      const g = wiring.get(`${p.id}:${pin}`);
      if (g !== undefined && g >= chip.gpioEdgeInterrupts) {
        throw new HardwareError(`${file}: ${p.id}:${pin} is on GPIO${g}, which has no edge interrupt on ${chip.name} (GPIO0-${chip.gpioEdgeInterrupts - 1} only); wire it to one of those`);
      }
    }
  }
  const rangers = need(file, r, 'rangers', 'array') as any[];
  if (rangers.length < 1 || rangers.length > 2) throw new HardwareError(`${file}: key 'rangers' must list 1 or 2 ranger parts`);
  rangers.forEach((id, i) => {
    const p = parts.find((x) => x.id === id);
    if (!p || !PART_PINS[p.type].ranger) throw new HardwareError(`${file}: rangers[${i}] '${id}' is not a ranger part of this rig`);
  });
  const trace = (r.trace ?? []) as any[];
  if (!Array.isArray(trace)) throw new HardwareError(`${file}: key 'trace' must be an array`);
  trace.forEach((t, i) => {
    if (typeof t !== 'string' || !wiring.has(t)) throw new HardwareError(`${file}: trace[${i}] '${t}' is not a connected part pin`);
  });
  return { file, board, chip, parts, wiring, rangers: rangers as string[], trace: trace as string[] };
}
