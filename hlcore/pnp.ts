// IoT Plug and Play names and conventions, read from the one DTDL v2 interface (rover.dtdl.json,
// DESIGN.md contract 5). Every telemetry field, property and command name hlcore sends or accepts
// comes from here; loading fails at once if a name hlcore uses is missing from the DTDL file.
// Conventions: azure-iot-protocols.md, "IoT Plug and Play / DTDL v2".
import dtdlJson from './rover.dtdl.json' with { type: 'json' };

export interface DtdlEntry {
  '@type': string | string[];
  name: string;
  schema?: unknown;
  writable?: boolean;
  request?: { name: string; schema: unknown };
  response?: { name: string; schema: unknown };
}

export interface DtdlInterface {
  '@context': string;
  '@id': string;
  '@type': string;
  contents: DtdlEntry[];
}

export const DTDL_PATH = new URL('./rover.dtdl.json', import.meta.url);
// Imported, not read at run time: the hlcore bundle (tools/pack.ts) carries the model inside it.
export const DTDL: DtdlInterface = dtdlJson as unknown as DtdlInterface;

/** The model ID sent in the DPS payload and the IoT Hub username (azure-iot-protocols.md). */
export const MODEL_ID: string = DTDL['@id'];

export type Kind = 'Telemetry' | 'Property' | 'Command';

function kindOf(e: DtdlEntry): Kind | null {
  const t = Array.isArray(e['@type']) ? e['@type'] : [e['@type']];
  return (['Telemetry', 'Property', 'Command'] as const).find((k) => t.includes(k)) ?? null;
}

export function entry(kind: Kind, name: string): DtdlEntry {
  const e = DTDL.contents.find((c) => c.name === name && kindOf(c) === kind);
  if (!e) throw new Error(`rover.dtdl.json has no ${kind} named '${name}' (hlcore uses it): add it to the model`);
  return e;
}

/** Every name hlcore uses, checked against the DTDL file when this module loads. */
function names<const N extends string>(kind: Kind, list: readonly N[], writable?: boolean): { readonly [K in N]: K } {
  const out = {} as { [K in N]: K };
  for (const n of list) {
    const e = entry(kind, n);
    if (writable !== undefined && Boolean(e.writable) !== writable) {
      throw new Error(`rover.dtdl.json: property '${n}' must ${writable ? '' : 'not '}be writable`);
    }
    out[n] = n;
  }
  return out;
}

export const TELEMETRY = names('Telemetry', ['batchSeq', 'ranger0', 'ranger1', 'samples', 'connectionFailure'] as const);
export const REPORTED = names('Property', ['firmwareVersion', 'rtCore', 'connection', 'certificate'] as const, false);
export const WRITABLE = names('Property', ['pollPeriodMs', 'batchPeriodMs', 'airTemperatureC', 'alertDistanceCm'] as const, true);
export const COMMANDS = names('Command', ['sensorPowerCycle', 'rtStatus'] as const);

/** Summary telemetry name of ranger r. */
export function rangerTelemetry(r: number): 'ranger0' | 'ranger1' {
  if (r === 0) return TELEMETRY.ranger0;
  if (r === 1) return TELEMETRY.ranger1;
  throw new Error(`no summary telemetry for ranger ${r} (PROTOCOL.md: 1 or 2 rangers)`);
}

/** Field names of an Object schema in the DTDL (telemetry or property), for checks in tests. */
export function objectFields(kind: Kind, name: string): string[] {
  const s = entry(kind, name).schema as { '@type'?: string; fields?: { name: string }[]; elementSchema?: { fields?: { name: string }[] } };
  if (s && s['@type'] === 'Object') return (s.fields ?? []).map((f) => f.name);
  if (s && s['@type'] === 'Array') return (s.elementSchema?.fields ?? []).map((f) => f.name);
  return [];
}

// ------------------------------------------------------------------ writable-property acknowledgements

/**
 * azure-iot-protocols.md, "Writable-property acknowledgement (reported)":
 * {"<name>":{"value":v,"ac":200,"av":<desired $version>,"ad":"text"}}; ac 200 accepted, 202 in progress,
 * 203 device-set (av 0), 400 rejected, 500 exception.
 */
export type AckCode = 200 | 202 | 203 | 400 | 500;
export interface WritableAck {
  value: unknown;
  ac: AckCode;
  av: number;
  ad: string;
}

export function writableAck(value: unknown, ac: AckCode, av: number, ad: string): WritableAck {
  return { value, ac, av: ac === 203 ? 0 : av, ad };
}

// ------------------------------------------------------------------ commands (IoT Central conventions)

/**
 * azure-iot-protocols.md, "IoT Central commands: return 200 + payload". The request body is the
 * command's request value itself (not wrapped in its name); the response body is the response value.
 */
export interface CommandResult {
  status: number;
  payload: unknown;
}
