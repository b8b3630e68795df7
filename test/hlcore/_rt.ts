// A stand-in for the RT core's link layer, written from rtcore/PROTOCOL.md (not from hlcore's codec):
// it closes a batch every batchMs of simulated time, keeps each until acknowledged and sends the
// unacknowledged ones again every second, answers CONFIG / POWER_CYCLE / STATUS_REQUEST, and records
// every reading it produced — the truth the "nothing lost" tests compare the hub's contents with.
import { crc32 } from 'node:zlib';
import type { Clock } from '../../hlcore/clock.ts';
import type { IntercoreChannel } from '../../hlcore/intercore/client.ts';

function frame(type: number, seq: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + body.length + 4);
  const v = new DataView(out.buffer);
  v.setUint8(0, 1); // version
  v.setUint8(1, type);
  v.setUint16(2, body.length, true);
  v.setUint32(4, seq, true);
  out.set(body, 8);
  v.setUint32(8 + body.length, crc32(out.subarray(0, 8 + body.length)) >>> 0, true);
  return out;
}

export interface Reading {
  batchSeq: number;
  ranger: number;
  poll: number;
  us: number;
  code: number;
}

export class FakeRt {
  pollMs = 100;
  batchMs = 5000;
  temperatureC = 20;
  rangers = 2;
  seq = 0;
  readings = 0;
  noEcho = 0;
  readonly produced: Reading[] = [];
  readonly unacked = new Map<number, Uint8Array>();
  readonly configs: { pollMs: number; batchMs: number; temperatureC: number }[] = [];
  readonly powerCycles: number[] = [];
  private readonly bootMs: number;
  private stopped = false;
  private hl: IntercoreChannel | null = null;
  /** the HL side's end of the channel; a restarted HL core calls attach() again */
  readonly channel: IntercoreChannel;

  constructor(private readonly clock: Clock, opts: { pollMs?: number; batchMs?: number } = {}) {
    this.pollMs = opts.pollMs ?? this.pollMs;
    this.batchMs = opts.batchMs ?? this.batchMs;
    this.bootMs = clock.now();
    const self = this;
    this.channel = {
      onReceive: null,
      send(p: Uint8Array): boolean {
        self.receive(p);
        return true;
      },
    };
    this.hl = this.channel;
    this.scheduleBatch(this.bootMs + this.batchMs);
    this.pump();
  }

  /** A fresh channel for a restarted HL core (the old one is dead with its process). */
  attach(): IntercoreChannel {
    const self = this;
    const ch: IntercoreChannel = {
      onReceive: null,
      send(p: Uint8Array): boolean {
        if (self.hl !== ch) return false;
        self.receive(p);
        return true;
      },
    };
    this.hl = ch;
    return ch;
  }

  /** The HL process died: nothing is delivered until attach(). */
  detach(): void {
    this.hl = null;
  }

  stop(): void {
    this.stopped = true;
  }

  /** Distance the ranger sees: a slow sweep, plus a no-echo every 17th reading. */
  private sample(r: number, n: number): number {
    if (n % 17 === 5) return 0xffff;
    return 300 + ((n * 37 + r * 500) % 2500);
  }

  private scheduleBatch(at: number): void {
    this.clock.at(at, () => {
      if (this.stopped) return;
      this.closeBatch(at);
      this.scheduleBatch(at + this.batchMs);
    });
  }

  private closeBatch(endMs: number): void {
    const polls = this.batchMs / this.pollMs;
    const seq = ++this.seq;
    const body = new Uint8Array(44 + 2 * polls * this.rangers);
    const v = new DataView(body.buffer);
    const firstUs = BigInt(Math.round((endMs - this.bootMs - this.batchMs) * 1000));
    v.setBigUint64(0, firstUs, true);
    v.setUint16(8, this.pollMs, true);
    v.setUint8(10, this.rangers);
    v.setUint8(11, 1);
    v.setUint16(12, polls, true);
    v.setInt16(14, Math.round(this.temperatureC * 100), true);
    for (let k = 0; k < polls; k++) {
      for (let r = 0; r < this.rangers; r++) {
        const code = this.sample(r, this.readings);
        this.readings++;
        if (code === 0xffff) this.noEcho++;
        v.setUint16(44 + 2 * (k * this.rangers + r), code, true);
        // PROTOCOL.md: ranger r of poll k was triggered at firstSampleUs + k x period + r x period / rangers
        this.produced.push({ batchSeq: seq, ranger: r, poll: k, us: Number(firstUs) + k * this.pollMs * 1000 + Math.floor((r * this.pollMs * 1000) / this.rangers), code });
      }
    }
    v.setUint32(16, this.readings, true);
    v.setUint32(20, this.noEcho, true);
    const f = frame(0x01, seq, body);
    this.unacked.set(seq, f);
    this.deliver(f);
  }

  private deliver(f: Uint8Array): void {
    const ch = this.hl;
    if (ch?.onReceive) ch.onReceive(f);
  }

  /** PROTOCOL.md: frames not acknowledged within 1 s are sent again. */
  private pump(): void {
    this.clock.at(this.clock.now() + 1000, () => {
      if (this.stopped) return;
      for (const f of [...this.unacked.values()]) this.deliver(f);
      this.pump();
    });
  }

  private receive(p: Uint8Array): void {
    const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
    const type = v.getUint8(1);
    const len = v.getUint16(2, true);
    const seq = v.getUint32(4, true);
    if (crc32(p.subarray(0, 8 + len)) >>> 0 !== v.getUint32(8 + len, true)) return;
    const reply = (f: Uint8Array) => queueMicrotask(() => this.deliver(f));
    if (type === 0x81) {
      this.unacked.delete(v.getUint32(8, true));
    } else if (type === 0x82) {
      const pollMs = v.getUint16(8, true);
      const batchMs = v.getUint16(10, true);
      const temperatureC = v.getInt16(12, true) / 100;
      // PROTOCOL.md CONFIG rules.
      const ok = pollMs >= 60 && pollMs / this.rangers >= 50 && batchMs % pollMs === 0 && batchMs / pollMs <= 100 && temperatureC >= -40 && temperatureC <= 85;
      if (ok) {
        this.configs.push({ pollMs, batchMs, temperatureC });
        this.temperatureC = temperatureC;
      }
      reply(frame(0x03, seq, Uint8Array.of(0x82, ok ? 0 : 1)));
    } else if (type === 0x83) {
      const r = v.getUint8(8);
      const ok = r < this.rangers;
      if (ok) this.powerCycles.push(r);
      reply(frame(0x03, seq, Uint8Array.of(0x83, ok ? 0 : 1)));
    } else if (type === 0x84) {
      const b = new Uint8Array(58);
      const w = new DataView(b.buffer);
      w.setBigUint64(0, BigInt(Math.round((this.clock.now() - this.bootMs) * 1000)), true);
      w.setUint16(8, this.pollMs, true);
      w.setUint16(10, this.batchMs, true);
      w.setInt16(12, Math.round(this.temperatureC * 100), true);
      w.setUint8(14, 1);
      w.setUint8(15, this.rangers);
      w.setUint32(16, this.readings, true);
      w.setUint32(20, this.noEcho, true);
      w.setUint16(56, this.unacked.size, true);
      reply(frame(0x02, seq, b));
    } else {
      reply(frame(0x03, seq, Uint8Array.of(type, 2)));
    }
  }
}
