// Capped exponential backoff with seeded jitter, for every retry loop in hlcore (Wi-Fi, DPS, IoT Hub).
// Why: azure-iot-protocols.md, "What users ... complain about" — clients that give up (c #213) or
// retry in lock-step. We retry forever; the delay grows to a cap, and jitter spreads a fleet that lost
// the same access point or hub at the same moment.
import type { Random } from './random.ts';

export interface BackoffOptions {
  /** first delay (ms) */
  baseMs: number;
  /** the delay never exceeds this (ms) */
  capMs: number;
  /** growth per attempt (default 2) */
  factor?: number;
  /** fraction of the delay taken off at random, 0..1 (default 0.5): delay in [d(1-j), d] */
  jitter?: number;
  random: Random;
}

export class Backoff {
  private n = 0;
  readonly baseMs: number;
  readonly capMs: number;
  readonly factor: number;
  readonly jitter: number;

  constructor(private readonly o: BackoffOptions) {
    this.baseMs = o.baseMs;
    this.capMs = o.capMs;
    this.factor = o.factor ?? 2;
    this.jitter = o.jitter ?? 0.5;
    if (!(this.baseMs > 0 && this.capMs >= this.baseMs && this.factor >= 1 && this.jitter >= 0 && this.jitter <= 1)) {
      throw new Error(`backoff: need 0 < baseMs <= capMs, factor >= 1, 0 <= jitter <= 1 (got ${JSON.stringify({ ...o, random: undefined })})`);
    }
  }

  /** The ceiling of attempt n (0-based) before jitter: min(cap, base * factor^n). */
  ceiling(n: number): number {
    return Math.min(this.capMs, this.baseMs * Math.pow(this.factor, n));
  }

  /** Delay before the next attempt; each call counts one failure. */
  next(): number {
    const d = this.ceiling(this.n);
    if (d < this.capMs) this.n++; // stop counting at the cap: no overflow after days of outage
    return Math.round(d * (1 - this.jitter * this.o.random()));
  }

  /** After a success: the next failure starts from baseMs again. */
  reset(): void {
    this.n = 0;
  }

  get attempts(): number {
    return this.n;
  }
}
