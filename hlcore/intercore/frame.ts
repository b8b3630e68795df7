// Host-side codec for the intercore payload protocol (rtcore/PROTOCOL.md). Pure: bytes in, objects
// out, and back. Used by hlcore's intercore client and by the simulator; tested against frames the
// firmware produced. CRC-32 is zlib's (node:zlib crc32), the same polynomial the firmware uses.
import { crc32 } from 'node:zlib';

export const VERSION = 1;
export const PREAMBLE = 8;
export const CRC_BYTES = 4;
export const HEADER = 20;

export const FrameType = {
  BATCH: 0x01,
  STATUS: 0x02,
  RESULT: 0x03,
  ACK: 0x81,
  CONFIG: 0x82,
  POWER_CYCLE: 0x83,
  STATUS_REQUEST: 0x84,
} as const;

export const Sample = { NO_ECHO: 0xffff, OUT_OF_RANGE: 0xfffe, FAULT: 0xfffd, SPURIOUS: 0xfffc } as const;
export type SampleKind = 'mm' | 'noEcho' | 'outOfRange' | 'fault' | 'spurious';
export const FLAG_COMPENSATED = 1;

export class FrameError extends Error {}

export interface RawFrame {
  version: number;
  type: number;
  seq: number;
  body: Uint8Array;
}

export interface Counters {
  readings: number;
  noEcho: number;
  outOfRange: number;
  spurious: number;
  stuck: number;
  powerCycles: number;
  droppedFrames: number;
}

export interface Batch {
  seq: number;
  firstSampleUs: bigint;
  periodMs: number;
  rangers: number;
  compensated: boolean;
  polls: number;
  temperatureC: number;
  counters: Counters;
  /** samples[ranger][poll]: millimetres, or null when the sample is not a distance */
  samples: (number | null)[][];
  /** the raw codes, same shape: the kind of every sample */
  kinds: SampleKind[][];
}

export interface Status {
  seq: number;
  uptimeUs: bigint;
  pollMs: number;
  batchMs: number;
  temperatureC: number;
  compensated: boolean;
  rangers: number;
  counters: Counters & { retransmissions: number; rxErrors: number; overruns: number };
  queueDepth: number;
}

export interface Result {
  seq: number;
  command: number;
  code: number;
}

export function sampleKind(code: number): SampleKind {
  switch (code) {
    case Sample.NO_ECHO: return 'noEcho';
    case Sample.OUT_OF_RANGE: return 'outOfRange';
    case Sample.FAULT: return 'fault';
    case Sample.SPURIOUS: return 'spurious';
    default: return 'mm';
  }
}

/** Split and check a payload (no component-ID header). Throws FrameError naming the defect. */
export function parseFrame(p: Uint8Array): RawFrame {
  if (p.length < PREAMBLE + CRC_BYTES) throw new FrameError(`frame too short: ${p.length} bytes, need at least ${PREAMBLE + CRC_BYTES}`);
  const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const version = v.getUint8(0);
  if (version !== VERSION) throw new FrameError(`unsupported frame version ${version} (expected ${VERSION})`);
  const len = v.getUint16(2, true);
  if (p.length !== PREAMBLE + len + CRC_BYTES) {
    throw new FrameError(`frame length ${p.length} does not match body length ${len} (+${PREAMBLE + CRC_BYTES})`);
  }
  const want = v.getUint32(PREAMBLE + len, true);
  const got = crc32(p.subarray(0, PREAMBLE + len)) >>> 0;
  if (want !== got) throw new FrameError(`CRC mismatch: frame says ${hex(want)}, bytes give ${hex(got)}`);
  return { version, type: v.getUint8(1), seq: v.getUint32(4, true), body: p.subarray(PREAMBLE, PREAMBLE + len) };
}

export function buildFrame(type: number, seq: number, body: Uint8Array = new Uint8Array(0)): Uint8Array {
  if (body.length > 0xffff) throw new FrameError(`body too long: ${body.length} bytes`);
  const out = new Uint8Array(PREAMBLE + body.length + CRC_BYTES);
  const v = new DataView(out.buffer);
  v.setUint8(0, VERSION);
  v.setUint8(1, type);
  v.setUint16(2, body.length, true);
  v.setUint32(4, seq >>> 0, true);
  out.set(body, PREAMBLE);
  v.setUint32(PREAMBLE + body.length, crc32(out.subarray(0, PREAMBLE + body.length)) >>> 0, true);
  return out;
}

function counters(v: DataView, at: number): Counters {
  const u = (i: number) => v.getUint32(at + 4 * i, true);
  return { readings: u(0), noEcho: u(1), outOfRange: u(2), spurious: u(3), stuck: u(4), powerCycles: u(5), droppedFrames: u(6) };
}

export function decodeBatch(f: RawFrame): Batch {
  if (f.type !== FrameType.BATCH) throw new FrameError(`not a batch frame: type 0x${f.type.toString(16)}`);
  const b = f.body;
  if (b.length < 44) throw new FrameError(`batch body too short: ${b.length} bytes`);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const rangers = v.getUint8(10);
  const polls = v.getUint16(12, true);
  if (rangers < 1 || rangers > 2) throw new FrameError(`batch names ${rangers} rangers (1 or 2 allowed)`);
  if (b.length !== 44 + 2 * polls * rangers) {
    throw new FrameError(`batch body is ${b.length} bytes, ${polls} polls x ${rangers} rangers need ${44 + 2 * polls * rangers}`);
  }
  const samples: (number | null)[][] = [];
  const kinds: SampleKind[][] = [];
  for (let r = 0; r < rangers; r++) {
    samples.push([]);
    kinds.push([]);
  }
  for (let k = 0; k < polls; k++) {
    for (let r = 0; r < rangers; r++) {
      const code = v.getUint16(44 + 2 * (k * rangers + r), true);
      const kind = sampleKind(code);
      kinds[r].push(kind);
      samples[r].push(kind === 'mm' ? code : null);
    }
  }
  return {
    seq: f.seq,
    firstSampleUs: v.getBigUint64(0, true),
    periodMs: v.getUint16(8, true),
    rangers,
    compensated: (v.getUint8(11) & FLAG_COMPENSATED) !== 0,
    polls,
    temperatureC: v.getInt16(14, true) / 100,
    counters: counters(v, 16),
    samples,
    kinds,
  };
}

export function decodeStatus(f: RawFrame): Status {
  if (f.type !== FrameType.STATUS || f.body.length !== 58) throw new FrameError(`not a status frame (type 0x${f.type.toString(16)}, ${f.body.length} bytes)`);
  const v = new DataView(f.body.buffer, f.body.byteOffset, f.body.byteLength);
  const c = counters(v, 16);
  return {
    seq: f.seq,
    uptimeUs: v.getBigUint64(0, true),
    pollMs: v.getUint16(8, true),
    batchMs: v.getUint16(10, true),
    temperatureC: v.getInt16(12, true) / 100,
    compensated: (v.getUint8(14) & FLAG_COMPENSATED) !== 0,
    rangers: v.getUint8(15),
    counters: { ...c, retransmissions: v.getUint32(44, true), rxErrors: v.getUint32(48, true), overruns: v.getUint32(52, true) },
    queueDepth: v.getUint16(56, true),
  };
}

export function decodeResult(f: RawFrame): Result {
  if (f.type !== FrameType.RESULT || f.body.length !== 2) throw new FrameError(`not a result frame (type 0x${f.type.toString(16)}, ${f.body.length} bytes)`);
  return { seq: f.seq, command: f.body[0], code: f.body[1] };
}

export function ackFrame(hlSeq: number, batchSeq: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, batchSeq >>> 0, true);
  return buildFrame(FrameType.ACK, hlSeq, b);
}

export interface Config {
  pollMs: number;
  batchMs: number;
  temperatureC: number;
  compensate: boolean;
}

export function configFrame(hlSeq: number, c: Config): Uint8Array {
  for (const [k, max] of [['pollMs', 0xffff], ['batchMs', 0xffff]] as const) {
    if (!Number.isInteger(c[k]) || c[k] < 1 || c[k] > max) throw new FrameError(`config ${k} must be an integer 1..${max}, got ${c[k]}`);
  }
  const centi = Math.round(c.temperatureC * 100);
  if (!Number.isFinite(centi) || centi < -32768 || centi > 32767) throw new FrameError(`config temperature out of range: ${c.temperatureC}`);
  const b = new Uint8Array(8);
  const v = new DataView(b.buffer);
  v.setUint16(0, c.pollMs, true);
  v.setUint16(2, c.batchMs, true);
  v.setInt16(4, centi, true);
  v.setUint8(6, c.compensate ? FLAG_COMPENSATED : 0);
  return buildFrame(FrameType.CONFIG, hlSeq, b);
}

export function powerCycleFrame(hlSeq: number, ranger: number): Uint8Array {
  return buildFrame(FrameType.POWER_CYCLE, hlSeq, Uint8Array.of(ranger));
}

export function statusRequestFrame(hlSeq: number): Uint8Array {
  return buildFrame(FrameType.STATUS_REQUEST, hlSeq);
}

/** A batch's identity across retransmissions, HL restarts and RT restarts: the sequence number
 *  alone restarts at 1 when the RT app restarts, but the first-sample time (RT counter time) does
 *  not repeat then. Used to drop duplicates and as the telemetry message id. */
export function batchId(b: Pick<Batch, 'seq' | 'firstSampleUs'>): string {
  return `${b.firstSampleUs}-${b.seq}`;
}

/** Trigger time of one sample in microseconds since RT boot (PROTOCOL.md, BATCH periodMs). */
export function sampleTimeUs(b: Batch, ranger: number, poll: number): bigint {
  return b.firstSampleUs + BigInt(poll * b.periodMs * 1000) + BigInt(Math.floor((ranger * b.periodMs * 1000) / b.rangers));
}

function hex(n: number): string {
  return '0x' + n.toString(16).padStart(8, '0');
}

/** GUID text -> the 16 bytes of an Azure Sphere component ID (data1..3 little-endian). */
export function componentIdBytes(guid: string): Uint8Array {
  const m = /^([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})$/i.exec(guid);
  if (!m) throw new FrameError(`not a GUID: '${guid}'`);
  const out = new Uint8Array(16);
  const v = new DataView(out.buffer);
  v.setUint32(0, parseInt(m[1], 16), true);
  v.setUint16(4, parseInt(m[2], 16), true);
  v.setUint16(6, parseInt(m[3], 16), true);
  const rest = m[4] + m[5];
  for (let i = 0; i < 8; i++) out[8 + i] = parseInt(rest.slice(2 * i, 2 * i + 2), 16);
  return out;
}
