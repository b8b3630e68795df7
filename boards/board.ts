// A board with its rig, assembled from data: the chip's peripherals, the firmware core, the parts
// wired as the rig file says, and an optional waveform trace. The world reaches the parts through
// the Environment interface; nothing here knows about sim/.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Machine } from './machine.ts';
import { Gpio, MODE_OUTPUT } from './mt3620/gpio.ts';
import { Gpt } from './mt3620/gpt.ts';
import { Mailbox } from './mt3620/mailbox.ts';
import { M4Core, type CoreOptions } from './mt3620/m4-core.ts';
import { BOARDS_DIR, type Rig } from './hardware.ts';
import type { Environment, Part, PartContext, PartPin } from './parts/part.ts';
import { UltrasonicRanger } from './parts/ultrasonic.ts';
import { HcSr04 } from './parts/hcsr04.ts';
import { GroveUltrasonic } from './parts/grove-ultrasonic.ts';
import { VcdTrace } from './vcd.ts';
import { Random } from './random.ts';
import { componentIdBytes } from '../hlcore/intercore/frame.ts';

const PART_TYPES: Record<string, new (ctx: PartContext) => UltrasonicRanger> = {
  'hc-sr04': HcSr04,
  'grove-ultrasonic': GroveUltrasonic,
};

/** The app manifests name the two apps; the mailbox delivers only between them. */
function componentId(manifest: string): Uint8Array {
  const m = JSON.parse(readFileSync(join(BOARDS_DIR, '..', manifest), 'utf8'));
  return componentIdBytes(m.ComponentId);
}

export interface BoardOptions {
  rig: Rig;
  env: Environment;
  wasm: Uint8Array;
  seed?: number;
  /** Record a VCD of the rig's trace pins (for the first `vcdSeconds`, default all of the run). */
  vcd?: boolean;
  vcdSeconds?: number;
  /** Keep every level change of the trace pins in pinLog (tests; default true). */
  pinLog?: boolean;
  core?: CoreOptions;
}

export interface UartLine {
  t: number;
  text: string;
}

export class Board {
  readonly machine: Machine;
  readonly gpio: Gpio;
  readonly gpt: Gpt;
  readonly mailbox: Mailbox;
  readonly core: M4Core;
  readonly parts = new Map<string, Part>();
  readonly rangers: UltrasonicRanger[];
  readonly vcd: VcdTrace | null;
  readonly uart: UartLine[] = [];
  private uartPartial = '';
  /** Every TRIG/SIG level change with its cycle time (timing tests). */
  readonly pinLog = new Map<string, [number, number][]>();

  constructor(readonly opts: BoardOptions) {
    const { rig } = opts;
    const chip = rig.chip;
    const m = (this.machine = new Machine(chip.coreClockHz));
    const random = new Random(opts.seed ?? 1);
    this.gpio = new Gpio(chip.gpioCount, (pin, level) => this.core.raiseGpio(pin, level, this.gpt.read()));
    this.gpt = new Gpt(m, chip.gpt.microsecondCounterHz, (id) => this.core.raiseTimer(id));
    this.mailbox = new Mailbox(
      chip.mailbox,
      componentId('hlcore/app_manifest.json'),
      (bits) => this.core.raiseMailbox(bits),
      (us, fn) => m.at(m.now + this.usToCycles(us), fn),
    );
    this.vcd = opts.vcd ? new VcdTrace(chip.coreClockHz) : null;
    const vcdEnd = opts.vcdSeconds === undefined ? Infinity : opts.vcdSeconds * chip.coreClockHz;

    const gpioOf = (part: string, pin: string) => rig.wiring.get(`${part}:${pin}`);
    for (const p of rig.parts) {
      const Ctor = PART_TYPES[p.type];
      const rnd = random.fork(p.id);
      const ctx: PartContext = {
        id: p.id,
        attrs: p.attrs,
        pin: (name) => this.partPin(p.id, name, gpioOf(p.id, name)),
        seconds: () => m.now / m.hz,
        cycles: () => m.now,
        hz: () => m.hz,
        after: (us, fn) => {
          const ev = m.at(m.now + this.usToCycles(us), fn);
          return () => m.cancel(ev);
        },
        env: opts.env,
        random: () => rnd.next(),
      };
      this.parts.set(p.id, new Ctor(ctx));
    }
    this.rangers = rig.rangers.map((id) => this.parts.get(id) as UltrasonicRanger);

    for (const name of rig.trace) {
      const gpio = rig.wiring.get(name)!;
      const set = this.vcd?.add(name.replace(':', '.'), this.gpio.read(gpio));
      const log: [number, number][] | null = opts.pinLog === false ? null : [];
      if (log) this.pinLog.set(name, log);
      this.gpio.watch(gpio, (v) => {
        log?.push([m.now, v]);
        if (m.now <= vcdEnd) set?.(v, m.now);
      });
    }

    const roles: number[] = [];
    rig.rangers.forEach((id, r) => {
      const single = gpioOf(id, 'SIG');
      roles[2 * r] = single ?? gpioOf(id, 'TRIG')!;
      roles[2 * r + 1] = single ?? gpioOf(id, 'ECHO')!;
    });
    this.core = new M4Core(m, chip, {
      gpio: this.gpio,
      gpt: this.gpt,
      mailbox: this.mailbox,
      pinOfRole: (role) => roles[role] ?? -1,
      sensorPower: (r, on) => {
        const id = rig.rangers[r];
        const vcc = id === undefined ? undefined : gpioOf(id, 'VCC');
        if (vcc === undefined) return; // supply not switched on this rig
        this.gpio.configure(vcc, MODE_OUTPUT);
        this.gpio.write(vcc, on ? 1 : 0);
      },
      uart: (bytes) => this.onUart(bytes),
    }, opts.wasm, opts.core);
  }

  /** Power on: the firmware's start function and init(). */
  boot(): this {
    this.core.boot();
    return this;
  }

  /** Restart the RT app (a scenario fault): its RAM — the batch being gathered and every frame not
   *  yet acknowledged — is lost; the 1 MHz counter keeps running; rangers are powered off by the
   *  reset (their supply pins go low) until init() powers them again. */
  restartRt(): void {
    this.gpt.cancelAll();
    this.mailbox.reset();
    for (const [id, gpio] of this.opts.rig.wiring) if (id.endsWith(':VCC')) this.gpio.write(gpio, 0);
    this.core.restart();
  }

  /** The whole board loses power (a scenario fault): the RT core stops, its RAM is lost, the
   *  rangers' supplies drop. Time then passes from event to event, so a long power-off costs nothing. */
  powerOff(): void {
    this.gpt.cancelAll();
    this.mailbox.reset();
    for (const [id, gpio] of this.opts.rig.wiring) if (id.endsWith(':VCC')) this.gpio.write(gpio, 0);
    this.core.powerOff();
  }

  /** Power comes back: the RT app boots again (the 1 MHz counter kept its count, as after restartRt). */
  powerOn(): void {
    this.core.restart();
  }

  /** Run for `seconds` of simulated time from now. Throws when the firmware halts. */
  runFor(seconds: number): void {
    this.runUntil(this.machine.now + this.machine.cyclesOf(seconds));
  }

  runUntil(cycles: number, yieldIf?: () => boolean): void {
    this.core.runUntil(cycles, yieldIf);
    if (this.core.halted) throw new Error(`firmware halted at ${this.core.halted}`);
  }

  seconds(): number {
    return this.machine.now / this.machine.hz;
  }

  usToCycles(us: number): number {
    return Math.round((us * this.machine.hz) / 1e6);
  }

  private partPin(part: string, name: string, gpio: number | undefined): PartPin {
    const g = this.gpio;
    if (gpio === undefined) {
      // Not wired: VCC is then tied to the supply, anything else floats low.
      const level = name === 'VCC' ? 1 : 0;
      return { name: `${part}:${name}`, read: () => level, drive: () => {}, watch: () => {}, mcuDriving: () => false };
    }
    return {
      name: `${part}:${name}`,
      read: () => g.read(gpio),
      drive: (v) => g.drive(gpio, v),
      watch: (fn) => g.watch(gpio, fn),
      mcuDriving: () => g.isOutput(gpio),
    };
  }

  private onUart(bytes: Uint8Array): void {
    this.uartPartial += Buffer.from(bytes).toString('latin1');
    let i: number;
    while ((i = this.uartPartial.indexOf('\n')) >= 0) {
      this.uart.push({ t: this.seconds(), text: this.uartPartial.slice(0, i) });
      this.uartPartial = this.uartPartial.slice(i + 1);
    }
  }
}
