// MT3620 intercore mailbox (shared/reference/hardware.md, "Intercore communication"): one ring
// buffer per direction in shared memory — a 64-byte header (writePosition u32 at 0, readPosition
// u32 at 4, 14 reserved words), then the data area; each block is a 4-byte length then the message,
// the block padded to 16 bytes; a write needs 16 bytes of spare room, so write never catches read.
// The RT side sees whole messages (component-ID header included); the high-level side is the
// OS's view: datagrams without the header, from and to the app named in the header.

const HDR = 64;
const ALIGN = 16;
const SPARE = 16;

export const OK = 0;
export const FULL = -1;
export const TOO_BIG = -2;

/** One direction's ring in a shared-memory view. Positions are byte offsets into the data area. */
export class Ring {
  readonly bytes: Uint8Array;
  private readonly v: DataView;

  constructor(readonly dataSize: number) {
    if (dataSize & (dataSize - 1)) throw new Error(`ring size must be a power of two (descriptor holds log2(size)), got ${dataSize}`);
    this.bytes = new Uint8Array(HDR + dataSize);
    this.v = new DataView(this.bytes.buffer);
  }

  get writePos(): number {
    return this.v.getUint32(0, true);
  }
  get readPos(): number {
    return this.v.getUint32(4, true);
  }

  used(): number {
    return (this.writePos - this.readPos + this.dataSize) % this.dataSize;
  }

  /** Bytes a message of n bytes occupies: length word + data, rounded up to 16. */
  static blockBytes(n: number): number {
    return Math.ceil((4 + n) / ALIGN) * ALIGN;
  }

  write(msg: Uint8Array): number {
    const need = Ring.blockBytes(msg.length);
    if (need + SPARE > this.dataSize) return TOO_BIG;
    if (this.dataSize - this.used() < need + SPARE) return FULL;
    let w = this.writePos;
    const len = new Uint8Array(4);
    new DataView(len.buffer).setUint32(0, msg.length, true);
    w = this.copyIn(w, len);
    this.copyIn(w, msg);
    this.v.setUint32(0, (this.writePos + need) % this.dataSize, true);
    return OK;
  }

  /** Next message, null when empty, or TOO_BIG (then skipped) when longer than max. */
  read(max = Infinity): Uint8Array | null | typeof TOO_BIG {
    if (this.used() === 0) return null;
    const r = this.readPos;
    const len = new DataView(this.copyOut(r, 4).buffer).getUint32(0, true);
    const out = len <= max ? this.copyOut((r + 4) % this.dataSize, len) : null;
    this.v.setUint32(4, (r + Ring.blockBytes(len)) % this.dataSize, true);
    return out ?? TOO_BIG;
  }

  private copyIn(pos: number, src: Uint8Array): number {
    const first = Math.min(src.length, this.dataSize - pos);
    this.bytes.set(src.subarray(0, first), HDR + pos);
    if (first < src.length) this.bytes.set(src.subarray(first), HDR);
    return (pos + src.length) % this.dataSize;
  }

  private copyOut(pos: number, n: number): Uint8Array {
    const out = new Uint8Array(n);
    const first = Math.min(n, this.dataSize - pos);
    out.set(this.bytes.subarray(HDR + pos, HDR + pos + first));
    if (first < n) out.set(this.bytes.subarray(HDR, HDR + n - first), first);
    return out;
  }
}

export interface MailboxSpec {
  outboundRingBytes: number;
  inboundRingBytes: number;
  highLevelLatencyUs: number;
}

/** What the high-level side (hlcore's IntercoreChannel in the simulator) is given. */
export interface HighLevelPort {
  /** Send a datagram to the RT app. False when the inbound ring has no room (EAGAIN). */
  send(payload: Uint8Array): boolean;
  /** Datagrams from the RT app are delivered here (the RT app's header stripped). */
  onReceive: ((payload: Uint8Array) => void) | null;
  /** While false, nobody reads the outbound ring (the HL app is not running). */
  running: boolean;
}

/**
 * Both rings plus the doorbells. `raise(bits)` requests the RT core's mailbox interrupt (IRQ 11):
 * bit 0 = the HL side wrote messages, bit 1 = the HL side took messages (room for the RT side).
 * `later(us, fn)` schedules the HL side's reaction on the simulated clock.
 */
export class Mailbox {
  readonly outbound: Ring; // RT -> HL
  readonly inbound: Ring; // HL -> RT
  readonly port: HighLevelPort;
  /** Messages whose header did not name the expected peer: the OS would not deliver them. */
  misaddressed = 0;
  /** Fault injection: corrupt this many of the next messages on their way to the HL side. */
  private corruptions = 0;
  corrupted = 0;

  constructor(
    spec: MailboxSpec,
    private readonly hlId: Uint8Array,
    private readonly raise: (bits: number) => void,
    private readonly later: (us: number, fn: () => void) => void,
  ) {
    this.outbound = new Ring(spec.outboundRingBytes);
    this.inbound = new Ring(spec.inboundRingBytes);
    const self = this;
    this.port = {
      onReceive: null,
      running: true,
      send(payload: Uint8Array): boolean {
        const msg = new Uint8Array(20 + payload.length);
        msg.set(self.hlId, 0); // the RT core sees the sender: the HL app's component ID
        msg.set(payload, 20);
        const r = self.inbound.write(msg);
        if (r !== OK) return false;
        self.raise(1);
        return true;
      },
    };
    this.latency = spec.highLevelLatencyUs;
  }

  private readonly latency: number;
  private drainPending = false;

  /** The next n messages from the RT core arrive corrupted (a scenario fault). */
  corruptNext(n: number): void {
    this.corruptions += n;
  }

  /** The RT app restarts: the OS sets both rings up again; what was in them is gone. */
  reset(): void {
    this.outbound.bytes.fill(0);
    this.inbound.bytes.fill(0);
  }

  // ---- RT side (HAL) ----
  rtSend(msg: Uint8Array): number {
    return this.outbound.write(msg);
  }

  rtRecv(max: number): Uint8Array | null | typeof TOO_BIG {
    return this.inbound.read(max);
  }

  /** The RT core rings SW_TX_INT_PORT. Bit 0 (sent): the HL side reads the ring shortly after. */
  doorbell(bits: number): void {
    if (bits & 1) this.scheduleDrain();
  }

  /** The HL app (re)starts: it reads whatever waits in the ring. */
  scheduleDrain(): void {
    if (this.drainPending) return;
    this.drainPending = true;
    this.later(this.latency, () => {
      this.drainPending = false;
      this.drain();
    });
  }

  private drain(): void {
    if (!this.port.running) return;
    let took = false;
    for (;;) {
      const m = this.outbound.read();
      if (m === null) break;
      took = true;
      if (m === TOO_BIG) continue;
      if (m.length < 20 || !equal(m.subarray(0, 16), this.hlId)) {
        this.misaddressed++;
        continue;
      }
      const payload = m.slice(20);
      if (this.corruptions > 0 && payload.length > 0) {
        this.corruptions--;
        this.corrupted++;
        payload[payload.length >> 1] ^= 0x5a; // a flipped byte in the middle: the CRC must catch it
      }
      this.port.onReceive?.(payload);
    }
    if (took) this.raise(2);
  }
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
