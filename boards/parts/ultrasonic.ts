// Physics and timing shared by the HC-SR04 and the Grove ranger. Every number is from
// shared/reference/hardware.md (HC-SR04 section) unless said otherwise.
import type { FaultKind, Part, PartContext, PartPin, Truth } from './part.ts';

/** c = 331.3 + 0.606 * T m/s */
export function speedOfSound(tempC: number): number {
  return 331.3 + 0.606 * tempC;
}

/** ECHO high time for a target at d metres: the round trip. */
export function roundTripUs(distanceM: number, tempC: number): number {
  return ((2 * distanceM) / speedOfSound(tempC)) * 1e6;
}

export const MIN_TRIGGER_US = 10; // TRIG high >= 10 us
export const BURST_US = 200; // 8 cycles at 40 kHz
export const NO_ECHO_US = 38000; // ECHO falls after ~38 ms when nothing answers
/** Trigger-to-echo-rise delay reported for common modules (~2.27 ms from the start of the trigger;
 *  forum measurement, not datasheet): from the end of a 10 us trigger that is 2260 us, of which the
 *  burst is the last 200 us. An attribute, so a rig can model another module. */
export const ECHO_DELAY_US = 2260;
/** A spurious short echo (multipath/crosstalk): a pulse far shorter than any real echo. */
export const SPURIOUS_US = 60;

export interface RangerSpec {
  minM: number;
  maxM: number;
}

/**
 * The ranging engine: on a valid trigger it samples the world, then drives the echo output with the
 * right timing. The two part types differ only in their pins (HC-SR04: TRIG + ECHO; Grove: one SIG).
 */
export abstract class UltrasonicRanger implements Part {
  abstract readonly type: string;
  readonly id: string;
  readonly truths: Truth[] = [];
  protected powered = false;
  protected busy = false;
  protected stuck = false;
  protected pendingFaults: FaultKind[] = [];
  protected rates: Partial<Record<FaultKind, number>> = {};
  private cancels: (() => void)[] = [];
  protected readonly echoDelayUs: number;
  /** Measurements ignored because the module was busy or unpowered, and pulses too short. */
  ignoredTriggers = 0;

  constructor(protected readonly ctx: PartContext, protected readonly spec: RangerSpec, vcc: PartPin) {
    this.id = ctx.id;
    this.echoDelayUs = typeof ctx.attrs.echoDelayUs === 'number' ? ctx.attrs.echoDelayUs : ECHO_DELAY_US;
    this.powered = vcc.read() === 1;
    vcc.watch((v) => this.setPower(v === 1));
  }

  inject(kind: FaultKind, count = 1): void {
    for (let i = 0; i < count; i++) this.pendingFaults.push(kind);
  }

  setFaultRates(rates: Partial<Record<FaultKind, number>>): void {
    this.rates = { ...rates };
  }

  /** The echo output: ECHO (HC-SR04) or SIG (Grove). */
  protected abstract setEcho(level: number): void;
  protected abstract releaseEcho(): void;

  protected setPower(on: boolean): void {
    if (on === this.powered) return;
    this.powered = on;
    if (!on) {
      // Power loss resets the module's MCU: nothing pending, ECHO low, the stuck state gone.
      for (const c of this.cancels) c();
      this.cancels = [];
      this.busy = false;
      this.stuck = false;
      this.releaseEcho();
    }
  }

  /** A trigger pulse ended; it lasted widthUs. */
  protected triggered(widthUs: number): void {
    if (!this.powered || this.busy || this.stuck || widthUs < MIN_TRIGGER_US) {
      this.ignoredTriggers++;
      return;
    }
    this.busy = true;
    const t = this.ctx.seconds();
    const temperatureC = this.ctx.env.temperatureC(t);
    const d = this.ctx.env.distanceM(this.id, t);
    let kind: Truth['kind'] = 'echo';
    let echoUs: number;
    if (d === null || d > this.spec.maxM || d < 0) {
      kind = 'noEcho';
      echoUs = NO_ECHO_US;
    } else {
      echoUs = roundTripUs(d, temperatureC);
    }
    const fault = this.pendingFaults.shift() ?? this.drawFault();
    if (fault === 'missed') {
      kind = 'missed';
      echoUs = NO_ECHO_US;
    } else if (fault === 'spurious') {
      kind = 'spurious';
      echoUs = SPURIOUS_US;
    } else if (fault === 'stuck') {
      kind = 'stuck';
      echoUs = Infinity;
    }
    this.truths.push({ part: this.id, t, distanceM: d, temperatureC, echoUs, kind });
    this.later(this.echoDelayUs, () => {
      this.setEcho(1);
      if (fault === 'stuck') {
        this.stuck = true; // held until the supply is cycled
        return;
      }
      this.later(echoUs, () => {
        this.setEcho(0);
        this.busy = false;
        this.echoDone();
      });
    });
  }

  /** Call triggered() at the end of each high pulse the MCU drives on `pin` (TRIG, or Grove SIG
   *  while the MCU holds it as an output). */
  protected watchTrigger(pin: PartPin, onlyWhileMcuDrives: boolean): void {
    let roseAt = -1;
    pin.watch((v) => {
      if (onlyWhileMcuDrives && !pin.mcuDriving()) return; // our own echo, not a trigger
      const now = this.ctx.cycles();
      if (v === 1) roseAt = now;
      else if (roseAt >= 0) {
        const widthUs = ((now - roseAt) / this.ctx.hz()) * 1e6;
        roseAt = -1;
        this.triggered(widthUs);
      }
    });
  }

  /** Grove: the module lets go of SIG after the echo. */
  protected echoDone(): void {}

  private drawFault(): FaultKind | undefined {
    for (const k of ['stuck', 'missed', 'spurious'] as const) {
      const p = this.rates[k];
      if (p && this.ctx.random() < p) return k;
    }
    return undefined;
  }

  private later(us: number, fn: () => void): void {
    const c = this.ctx.after(us, () => {
      this.cancels = this.cancels.filter((x) => x !== c);
      fn();
    });
    this.cancels.push(c);
  }
}
