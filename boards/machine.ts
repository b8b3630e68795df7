// The discrete-event machine: simulated time as an integer count of core cycles, and a queue of
// events ordered by (time, insertion order) so that equal-time events run in a fixed order — the
// basis of bit-for-bit determinism. Nothing here reads the wall clock.

export type EventFn = (at: number) => void;

interface Ev {
  at: number;
  seq: number;
  fn: EventFn;
  live: boolean;
}

export class Machine {
  /** Current time in core cycles. Safe as an integer up to 2^53 (~527 days at 197.6 MHz). */
  now = 0;
  private heap: Ev[] = [];
  private seq = 0;

  constructor(readonly hz: number) {
    if (!Number.isInteger(hz) || hz <= 0) throw new Error(`core clock must be a positive integer Hz, got ${hz}`);
  }

  /** Run fn at cycle `at` (not before now). Returns a handle for cancel(). */
  at(at: number, fn: EventFn): Ev {
    const ev: Ev = { at: Math.max(Math.ceil(at), this.now), seq: this.seq++, fn, live: true };
    const h = this.heap;
    h.push(ev);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (less(h[p], ev)) break;
      h[i] = h[p];
      i = p;
    }
    h[i] = ev;
    return ev;
  }

  cancel(ev: Ev | null | undefined): void {
    if (ev) ev.live = false;
  }

  /** Time of the next live event, or Infinity. */
  nextAt(): number {
    const h = this.heap;
    while (h.length && !h[0].live) this.pop();
    return h.length ? h[0].at : Infinity;
  }

  /** Run every event due at or before now, in order (events may schedule more). */
  runDue(): void {
    const h = this.heap;
    while (h.length && h[0].at <= this.now) {
      const ev = this.pop();
      if (ev.live) ev.fn(ev.at);
    }
  }

  /** Seconds <-> cycles */
  seconds(cycles = this.now): number {
    return cycles / this.hz;
  }
  cyclesOf(seconds: number): number {
    return Math.round(seconds * this.hz);
  }

  private pop(): Ev {
    const h = this.heap;
    const top = h[0];
    const last = h.pop()!;
    if (h.length) {
      let i = 0;
      const n = h.length;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && less(h[r], h[l]) ? r : l;
        if (!less(h[c], last)) break;
        h[i] = h[c];
        i = c;
      }
      h[i] = last;
    }
    return top;
  }
}

function less(a: Ev, b: Ev): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
