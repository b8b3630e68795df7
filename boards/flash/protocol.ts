// Bootloader protocol, version 1 (mcu/FLASHING.md): frame codec and message layouts, shared by the
// device (boards/flash/device.ts) and the host (tools/flash.ts). Pure: bytes in, bytes out.
//
// On the wire a frame is HDLC-like: 0x7E, the escaped body, 0x7E. Escaping: 0x7E and 0x7D inside the
// body are sent as 0x7D followed by the byte XOR 0x20. Body:
//   type u8 | seq u16 LE | payload | CRC-32 (IEEE, as zlib) u32 LE of type..payload
// seq: the host numbers its requests; the device echoes the seq of the request it answers.

export const VERSION = 1;
export const FLAG = 0x7e;
export const ESC = 0x7d;
/** Largest DATA chunk (payload bytes after the offset). */
export const MAX_CHUNK = 1024;
/** Largest body on the wire before escaping: type + seq + offset + chunk + CRC. */
export const MAX_BODY = 1 + 2 + 4 + MAX_CHUNK + 4 + 64;

export const Msg = {
  // host -> device
  HELLO: 0x01,
  BEGIN: 0x02, // size u32, sha256[32]
  DATA: 0x03, // offset u32, bytes
  END: 0x04,
  BOOT: 0x05,
  // device -> host
  INFO: 0x81, // version u8, slots u8, slotBytes u32, active i8, then per slot: state u8, size u32, written u32
  READY: 0x82, // slot u8, offset u32 (resume point)
  ACK: 0x83, // next offset u32
  NAK: 0x84, // reason u8, expected offset u32
  DONE: 0x85, // slot u8 (verified, signature good: pending trial boot)
  ERROR: 0x86, // code u8, UTF-8 message
  BOOTED: 0x87, // active slot i8, rolledBack u8, UTF-8 message
} as const;

export const Nak = { CRC: 1, OFFSET: 2, NO_SESSION: 3, TOO_LONG: 4, VERIFY: 5 } as const;
export const Err = { BAD_REQUEST: 1, TOO_BIG: 2, NO_SESSION: 3, INCOMPLETE: 4, HASH: 5, SIGNATURE: 6, NOTHING_TO_BOOT: 7 } as const;

/** Slot states, as stored in the device's metadata. */
export const SlotState = { EMPTY: 0, WRITING: 1, PENDING: 2, CONFIRMED: 3, REJECTED: 4 } as const;
export const SLOT_STATE_NAMES = ['empty', 'writing', 'pending', 'confirmed', 'rejected'];

const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < b.length; i++) c = TABLE[(c ^ b[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export interface Frame {
  type: number;
  seq: number;
  payload: Uint8Array;
}

/** One frame, flags and escapes included. */
export function encodeFrame(type: number, seq: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  const body = new Uint8Array(3 + payload.length + 4);
  const v = new DataView(body.buffer);
  body[0] = type;
  v.setUint16(1, seq & 0xffff, true);
  body.set(payload, 3);
  v.setUint32(3 + payload.length, crc32(body.subarray(0, 3 + payload.length)), true);
  const out: number[] = [FLAG];
  for (const b of body) {
    if (b === FLAG || b === ESC) out.push(ESC, b ^ 0x20);
    else out.push(b);
  }
  out.push(FLAG);
  return Uint8Array.from(out);
}

/**
 * Stream decoder: feed bytes as they arrive; complete frames go to onFrame, frames whose CRC or
 * length is wrong go to onBad (with the seq if it could be read), noise between frames is skipped.
 */
export class Decoder {
  private buf: number[] = [];
  private inFrame = false;
  private esc = false;

  constructor(
    private readonly onFrame: (f: Frame) => void,
    private readonly onBad: (reason: string) => void = () => {},
  ) {}

  push(bytes: Uint8Array): void {
    for (const b of bytes) {
      if (b === FLAG) {
        if (this.inFrame && this.buf.length > 0) this.finish();
        this.inFrame = true; // a flag both ends one frame and may start the next
        this.buf = [];
        this.esc = false;
        continue;
      }
      if (!this.inFrame) continue;
      if (this.esc) {
        this.buf.push(b ^ 0x20);
        this.esc = false;
      } else if (b === ESC) this.esc = true;
      else this.buf.push(b);
      if (this.buf.length > MAX_BODY) {
        this.inFrame = false;
        this.buf = [];
        this.onBad('frame too long');
      }
    }
  }

  private finish(): void {
    const body = Uint8Array.from(this.buf);
    this.buf = [];
    if (body.length < 7) return this.onBad('frame too short');
    const v = new DataView(body.buffer);
    const crc = v.getUint32(body.length - 4, true);
    if (crc32(body.subarray(0, body.length - 4)) !== crc) return this.onBad('CRC mismatch');
    this.onFrame({ type: body[0], seq: v.getUint16(1, true), payload: body.slice(3, body.length - 4) });
  }
}

// ---- payload helpers ----
export function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n >>> 0, true);
  return b;
}
export function cat(...parts: (Uint8Array | number[])[]): Uint8Array {
  const n = parts.reduce((s, p) => s + p.length, 0);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
export function readU32(p: Uint8Array, at: number): number {
  return new DataView(p.buffer, p.byteOffset, p.byteLength).getUint32(at, true);
}
export const text = (s: string) => new TextEncoder().encode(s);
export const untext = (b: Uint8Array) => new TextDecoder().decode(b);

export interface SlotInfo {
  state: number;
  size: number;
  written: number;
}
export interface Info {
  version: number;
  slotBytes: number;
  active: number;
  slots: SlotInfo[];
}

export function encodeInfo(i: Info): Uint8Array {
  const parts: (Uint8Array | number[])[] = [[i.version, i.slots.length], u32(i.slotBytes), [i.active & 0xff]];
  for (const s of i.slots) parts.push([s.state], u32(s.size), u32(s.written));
  return cat(...parts);
}

export function decodeInfo(p: Uint8Array): Info {
  const n = p[1];
  const slots: SlotInfo[] = [];
  for (let k = 0; k < n; k++) {
    const o = 7 + 9 * k;
    slots.push({ state: p[o], size: readU32(p, o + 1), written: readU32(p, o + 5) });
  }
  return { version: p[0], slotBytes: readU32(p, 2), active: (p[6] << 24) >> 24, slots };
}
