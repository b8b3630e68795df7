// A Clock that moves only when told (STYLE.md, "Time is one small contract": the mock driver with
// advance()). Tests and the simulator's stand-alone runs drive hlcore with it; timers fire in time
// order, ties in the order they were set, and a timer set while advancing fires in the same advance
// when it falls inside the step.
import type { Clock } from './clock.ts';

interface Timer {
  at: number;
  order: number;
  fn: () => void;
  cancelled: boolean;
}

export class ManualClock implements Clock {
  private timers: Timer[] = [];
  private order = 0;

  constructor(private t: number) {}

  now(): number {
    return this.t;
  }

  at(atMs: number, fn: () => void): () => void {
    const timer: Timer = { at: Math.max(atMs, this.t), order: this.order++, fn, cancelled: false };
    this.timers.push(timer);
    return () => {
      timer.cancelled = true;
    };
  }

  /** Time of the next pending timer, or null. */
  next(): number | null {
    this.timers = this.timers.filter((x) => !x.cancelled);
    if (this.timers.length === 0) return null;
    return Math.min(...this.timers.map((x) => x.at));
  }

  /** Moves time forward by ms, firing every timer due on the way (in order). */
  advance(ms: number): void {
    this.advanceTo(this.t + ms);
  }

  advanceTo(target: number): void {
    if (target < this.t) throw new Error(`ManualClock: time cannot go backwards (${target} < ${this.t})`);
    for (;;) {
      let first: Timer | null = null;
      for (const x of this.timers) {
        if (x.cancelled || x.at > target) continue;
        if (!first || x.at < first.at || (x.at === first.at && x.order < first.order)) first = x;
      }
      if (!first) break;
      this.timers = this.timers.filter((x) => x !== first);
      this.t = Math.max(this.t, first.at);
      first.fn();
    }
    this.timers = this.timers.filter((x) => !x.cancelled);
    this.t = target;
  }

  get pending(): number {
    return this.timers.filter((x) => !x.cancelled).length;
  }
}
