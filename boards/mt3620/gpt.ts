// MT3620 GPT block as the firmware uses it (shared/reference/hardware.md, "MT3620 timers"):
// GPT3 is a 1 MHz counter (26 MHz / (osc_cnt_1us + 1), osc_cnt_1us = 0x19) read for microsecond
// timing, plus one-shot compare timers with interrupts. Counting is driven by the core clock:
// counter = floor(cycles * 1e6 / coreHz), computed with the reduced ratio to stay exact.
import type { Machine } from '../machine.ts';

export class Gpt {
  private readonly num: number;
  private readonly den: number;
  private readonly timers = new Map<number, ReturnType<Machine['at']>>();

  constructor(private readonly m: Machine, counterHz: number, private readonly fire: (id: number) => void) {
    const g = gcd(counterHz, m.hz);
    this.num = counterHz / g; // 5 for 1 MHz at 197.6 MHz
    this.den = m.hz / g; // 988
  }

  /** Full (unwrapped) counter value at a cycle time. */
  ticksAt(cycles: number): number {
    return Math.floor((cycles * this.num) / this.den);
  }

  /** The first cycle at which the counter reads `ticks`. */
  cycleOfTick(ticks: number): number {
    return Math.ceil((ticks * this.den) / this.num);
  }

  /** What the firmware reads: the 32-bit counter, wrapping. */
  read(): number {
    return this.ticksAt(this.m.now) % 0x100000000;
  }

  /** One-shot compare: fires when the counter reaches `deadline` (u32, wrap-aware). */
  set(id: number, deadline: number): void {
    this.cancel(id);
    const now = this.ticksAt(this.m.now);
    const diff = ((deadline >>> 0) - (now % 0x100000000)) | 0; // signed distance, as the hardware compare sees it
    const at = diff <= 0 ? this.m.now : this.cycleOfTick(now + diff);
    this.timers.set(id, this.m.at(at, () => {
      this.timers.delete(id);
      this.fire(id);
    }));
  }

  /** Every compare timer stopped (the RT app restarts); the counter keeps running. */
  cancelAll(): void {
    for (const id of [...this.timers.keys()]) this.cancel(id);
  }

  cancel(id: number): void {
    this.m.cancel(this.timers.get(id));
    this.timers.delete(id);
  }
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}
