// The one time source of the cloud emulators: simulated milliseconds since the Unix epoch.
// The caller drives it (the simulator's board clock, a test, or `rover ca --at`); nothing in
// sim/cloud reads the wall clock (see /work/shared/DESIGN.md, "Time").
export interface Clock {
  now(): number;
}

/** A clock that stays where it is put: for tests and for one-shot CLI commands. */
export class ManualClock implements Clock {
  constructor(private t: number) {}
  now(): number {
    return this.t;
  }
  set(t: number): void {
    this.t = t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

export const DAY_MS = 86_400_000;
