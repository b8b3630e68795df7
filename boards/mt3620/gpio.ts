// GPIO block: per pin a mode, an output latch, and what external parts drive. The level of a pin
// is the MCU's latch when it is an output, else what a part drives, else 0 (pull-down). Level
// changes are reported to watchers (parts, waveform trace) and, on pins configured for edge
// interrupts, raise an interrupt carrying the 1 MHz counter value captured at the edge.

export const MODE_INPUT = 0;
export const MODE_OUTPUT = 1;
export const MODE_INPUT_IRQ = 2;

export type Watcher = (level: number) => void;

export class Gpio {
  private readonly mode: Uint8Array;
  private readonly latch: Uint8Array;
  private readonly ext: Int8Array; // -1 = not driven by any part
  private readonly level: Uint8Array;
  private readonly watchers: Watcher[][];

  constructor(readonly count: number, private readonly edge: (pin: number, level: number) => void) {
    this.mode = new Uint8Array(count);
    this.latch = new Uint8Array(count);
    this.ext = new Int8Array(count).fill(-1);
    this.level = new Uint8Array(count);
    this.watchers = Array.from({ length: count }, () => []);
  }

  check(pin: number): void {
    if (!Number.isInteger(pin) || pin < 0 || pin >= this.count) throw new Error(`GPIO${pin} does not exist (0..${this.count - 1})`);
  }

  configure(pin: number, mode: number): void {
    this.check(pin);
    if (mode !== MODE_INPUT && mode !== MODE_OUTPUT && mode !== MODE_INPUT_IRQ) throw new Error(`GPIO${pin}: unknown mode ${mode}`);
    this.mode[pin] = mode;
    this.update(pin);
  }

  write(pin: number, v: number): void {
    this.check(pin);
    this.latch[pin] = v ? 1 : 0;
    this.update(pin);
  }

  read(pin: number): number {
    this.check(pin);
    return this.level[pin];
  }

  /** A part drives the pin (0/1), or releases it (null). */
  drive(pin: number, v: number | null): void {
    this.ext[pin] = v === null ? -1 : v ? 1 : 0;
    this.update(pin);
  }

  isOutput(pin: number): boolean {
    return this.mode[pin] === MODE_OUTPUT;
  }

  watch(pin: number, w: Watcher): void {
    this.check(pin);
    this.watchers[pin].push(w);
  }

  private update(pin: number): void {
    const e = this.ext[pin];
    const v = this.mode[pin] === MODE_OUTPUT ? this.latch[pin] : e < 0 ? 0 : e;
    if (v === this.level[pin]) return;
    this.level[pin] = v;
    for (const w of this.watchers[pin]) w(v);
    if (this.mode[pin] === MODE_INPUT_IRQ) this.edge(pin, v);
  }
}
