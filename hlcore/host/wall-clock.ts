// The Clock of a real deployment: the system's UTC time and timers. The only place in hlcore where
// Date.now() and setTimeout appear (DESIGN.md: time comes from the injected clock); tests and the
// simulator inject hlcore/manual-clock.ts or the board-driven clock of sim/rt-run.ts instead.
import type { Clock } from '../clock.ts';

export class WallClock implements Clock {
  private last = 0;

  /** Never goes backwards, even if the system clock is stepped back (clock.ts contract). */
  now(): number {
    this.last = Math.max(this.last, Date.now());
    return this.last;
  }

  at(atMs: number, fn: () => void): () => void {
    // setTimeout caps at 2^31-1 ms (~24.8 days): longer waits are chained.
    const MAX = 2_147_483_647;
    let handle: ReturnType<typeof setTimeout>;
    const arm = () => {
      const d = atMs - this.now();
      if (d > MAX) handle = setTimeout(arm, MAX);
      else handle = setTimeout(fn, Math.max(0, d));
    };
    arm();
    return () => clearTimeout(handle);
  }
}
