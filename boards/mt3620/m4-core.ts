// The MT3620 real-time core (Cortex-M4F) running the firmware's WebAssembly: the HAL imports,
// interrupt dispatch and the WFI loop, all on the machine's cycle clock.
//
// Time (DESIGN.md, contract 2): the release .wasm is instrumented after the build so each metered
// segment adds its Cortex-M4F cost to a counter global (boards/instrument.ts). The counter is exact
// at every import call, so each HAL call first moves machine time forward by what ran since the last
// call, then adds the HAL access cost, then lets every event that is now due happen. Interrupt entry
// and exit cost 12 cycles each (chip.json). WFI jumps to the next event.
import type { Machine } from '../machine.ts';
import type { ChipSpec } from '../hardware.ts';
import type { Gpio } from './gpio.ts';
import type { Gpt } from './gpt.ts';
import { TOO_BIG, type Mailbox } from './mailbox.ts';
import { instrument } from '../instrument.ts';
import { cortexM4FCosts } from './cortex-m4f-costs.ts';

/** Everything the HAL needs from the rest of the board. */
export interface CorePeripherals {
  gpio: Gpio;
  gpt: Gpt;
  mailbox: Mailbox;
  /** GPIO for a firmware role, or -1 (rig data). */
  pinOfRole(role: number): number;
  sensorPower(ranger: number, on: boolean): void;
  uart(bytes: Uint8Array): void;
}

type Irq = { kind: 0; pin: number; level: number; capture: number } | { kind: 1; id: number } | { kind: 2; bits: number };

export interface CoreOptions {
  /** Run the release binary as shipped, without cycle counting (differential tests, benchmarks). */
  uninstrumented?: boolean;
  /** Uninstrumented only: firmware cycles to assume between two HAL calls (a benchmark sets the
   *  instrumented run's average, so both runs do the same simulated work). */
  cyclesPerHalCall?: number;
  /** Observe every HAL call (name, args, returned value) and export call, in order. */
  onHal?: (name: string, args: number[], ret: number | undefined) => void;
  onExport?: (name: string, args: number[]) => void;
}

export class FirmwareHalted extends Error {}

type V = 'i32' | 'i64' | 'f32' | 'f64';
/** The board's side of the HAL ABI (rtcore/hal.ts declares the firmware's side): every import
 *  this core provides, with its wasm signature. test/boards/hal-abi.test.ts holds the built
 *  release .wasm against this table. */
export const HAL_IMPORTS: Record<string, { params: V[]; results: V[] }> = {
  pin: { params: ['i32'], results: ['i32'] },
  gpio_configure: { params: ['i32', 'i32'], results: [] },
  gpio_write: { params: ['i32', 'i32'], results: [] },
  gpio_read: { params: ['i32'], results: ['i32'] },
  counter_us: { params: [], results: ['i32'] },
  timer_set: { params: ['i32', 'i32'], results: [] },
  timer_cancel: { params: ['i32'], results: [] },
  mbox_send: { params: ['i32', 'i32'], results: ['i32'] },
  mbox_recv: { params: ['i32', 'i32'], results: ['i32'] },
  mbox_doorbell: { params: ['i32'], results: [] },
  uart_write: { params: ['i32', 'i32'], results: [] },
  sensor_power: { params: ['i32', 'i32'], results: [] },
  irq_save: { params: [], results: ['i32'] },
  irq_restore: { params: ['i32'], results: [] },
  panic: { params: ['i32', 'i32'], results: [] },
};

/** The exports this core calls: entry points and the firmware's memory. */
export const FIRMWARE_EXPORTS: Record<string, { params: V[]; results: V[] } | 'memory'> = {
  init: { params: [], results: [] },
  idle: { params: [], results: [] },
  isr_gpio: { params: ['i32', 'i32', 'i32'], results: [] },
  isr_timer: { params: ['i32'], results: [] },
  isr_mailbox: { params: ['i32'], results: [] },
  memory: 'memory',
};

const instrumentedCache = new WeakMap<Uint8Array, WebAssembly.Module>();

export class M4Core {
  halted: string | null = null;
  /** No supply: nothing runs, interrupts are not taken, time passes from event to event. */
  private off = false;
  /** Cycles spent in firmware code (instrumented count), in HAL access, in interrupt entry/exit. */
  readonly stats = { codeCycles: 0, halCycles: 0, irqCycles: 0, halCalls: 0, interrupts: 0, idleCalls: 0 };
  private masked = false;
  private readonly pending: Irq[] = [];
  private counter: WebAssembly.Global | null = null;
  private exports!: {
    init(): void;
    idle(): void;
    isr_gpio(pin: number, level: number, capture: number): void;
    isr_timer(id: number): void;
    isr_mailbox(bits: number): void;
    memory: WebAssembly.Memory;
  };
  private mem!: Uint8Array;
  private needIdle = false;
  private readonly halCost: number;

  constructor(
    private readonly m: Machine,
    private readonly chip: ChipSpec,
    private readonly p: CorePeripherals,
    private readonly wasm: Uint8Array,
    private readonly opts: CoreOptions = {},
  ) {
    this.halCost = chip.halAccessCycles;
  }

  /** Interrupt requests from peripherals (NVIC pending bits). */
  raiseGpio(pin: number, level: number, capture: number): void {
    if (this.off) return;
    this.pending.push({ kind: 0, pin, level, capture });
  }
  raiseTimer(id: number): void {
    if (this.off) return;
    this.pending.push({ kind: 1, id });
  }
  raiseMailbox(bits: number): void {
    if (this.off) return;
    const last = this.pending.find((q) => q.kind === 2) as { kind: 2; bits: number } | undefined;
    if (last) last.bits |= bits; // one IRQ line (11): pending bits merge
    else this.pending.push({ kind: 2, bits });
  }

  /** Module compiled once per binary: instrumentation is part of loading, not of the build. */
  private module(): WebAssembly.Module {
    if (this.opts.uninstrumented) return new WebAssembly.Module(this.wasm as Uint8Array<ArrayBuffer>);
    let mod = instrumentedCache.get(this.wasm);
    if (!mod) {
      mod = new WebAssembly.Module(instrument(this.wasm, cortexM4FCosts));
      instrumentedCache.set(this.wasm, mod);
    }
    return mod;
  }

  boot(): void {
    const hal = this.halImports();
    const inst = new WebAssembly.Instance(this.module(), { hal });
    this.exports = inst.exports as any;
    this.counter = this.opts.uninstrumented ? null : (inst.exports.__cycles as WebAssembly.Global);
    this.mem = new Uint8Array(this.exports.memory.buffer);
    this.charge(); // the start function (static initialisers)
    this.call('init', []);
    this.needIdle = true;
  }

  /** The RT app restarts: a fresh instance of the same binary (RAM lost), no pending interrupt,
   *  interrupts unmasked, then init() again. Peripherals are reset by the board. */
  restart(): void {
    this.pending.length = 0;
    this.masked = false;
    this.halted = null;
    this.off = false;
    this.boot();
  }

  /** The supply goes away: RAM and pending interrupts are lost until restart(). */
  powerOff(): void {
    this.off = true;
    this.pending.length = 0;
    this.masked = false;
    this.needIdle = false;
  }

  /** Run until machine time reaches `end` cycles (or the firmware halts), or — checked after every
   *  batch of due events and every firmware entry — until `yieldIf()` says the world outside the
   *  board needs a turn (the orchestrator lets network traffic settle, then calls again). */
  runUntil(end: number, yieldIf?: () => boolean): void {
    const m = this.m;
    while (this.halted === null) {
      m.runDue();
      if (yieldIf?.()) break;
      if (this.off) {
        const next = m.nextAt();
        if (next > end) {
          if (m.now < end) m.now = end;
          break;
        }
        if (next > m.now) m.now = next;
        continue;
      }
      if (this.pending.length && !this.masked) {
        this.dispatch(this.pending.shift()!);
        this.needIdle = true;
        if (yieldIf?.()) break;
        continue;
      }
      if (this.needIdle) {
        this.needIdle = false;
        this.stats.idleCalls++;
        this.call('idle', []);
        if (yieldIf?.()) break;
        continue;
      }
      if (this.masked) {
        this.halt('WFI with interrupts masked (irq_save without irq_restore): the core would sleep forever');
        break;
      }
      const next = m.nextAt();
      if (next > end) {
        if (m.now < end) m.now = end;
        break;
      }
      if (next > m.now) m.now = next; // WFI: sleep until the next event
    }
  }

  private dispatch(q: Irq): void {
    this.stats.interrupts++;
    this.m.now += this.chip.interruptEntryCycles;
    this.stats.irqCycles += this.chip.interruptEntryCycles + this.chip.interruptExitCycles;
    if (q.kind === 0) this.call('isr_gpio', [q.pin, q.level, q.capture]);
    else if (q.kind === 1) this.call('isr_timer', [q.id]);
    else this.call('isr_mailbox', [q.bits]);
    this.m.now += this.chip.interruptExitCycles;
  }

  private call(name: 'init' | 'idle' | 'isr_gpio' | 'isr_timer' | 'isr_mailbox', args: number[]): void {
    if (this.halted !== null) return;
    this.opts.onExport?.(name, args);
    try {
      (this.exports[name] as (...a: number[]) => void)(...args);
    } catch (e) {
      if (!(e instanceof FirmwareHalted)) this.halt(`trap in ${name}: ${(e as Error).message}`);
    }
    this.charge();
  }

  private halt(reason: string): void {
    this.halted = `${(this.m.now / this.m.hz).toFixed(6)} s: ${reason}`;
  }

  /** Move time forward by the firmware cycles counted since the last charge. */
  private charge(): void {
    const c = this.counter;
    if (c === null) {
      const d = this.opts.cyclesPerHalCall ?? 0;
      this.m.now += d;
      this.stats.codeCycles += d;
      return;
    }
    const d = (c.value as number) >>> 0; // i32 counter, read unsigned (wraps after 2^32 cycles)
    if (d !== 0) {
      c.value = 0;
      this.m.now += d;
      this.stats.codeCycles += d;
    }
  }

  /** Every HAL call starts here: firmware time, access cost, then whatever became due. */
  private enter(): void {
    this.charge();
    this.m.now += this.halCost;
    this.stats.halCycles += this.halCost;
    this.stats.halCalls++;
    this.m.runDue();
  }

  private halImports(): Record<string, (...a: number[]) => number | void> {
    const impl = this.halImplementations();
    const core = this;
    const wrapped: Record<string, (...a: number[]) => number | void> = {};
    for (const name of Object.keys(HAL_IMPORTS)) {
      const f = impl[name];
      const onHal = this.opts.onHal;
      wrapped[name] = onHal
        ? (...a: number[]) => {
            core.enter();
            const r = f(...a);
            onHal(name, a, r as number | undefined);
            return r;
          }
        : (a0: number, a1: number, a2: number) => {
            // Fixed arity (no HAL function takes more than three): no rest/spread on the hot path.
            core.enter();
            return f(a0, a1, a2);
          };
    }
    return wrapped;
  }

  private halImplementations(): Record<string, (...a: number[]) => number | void> {
    const p = this.p;
    const core = this;
    const bytes = (ptr: number, len: number) => {
      if (ptr < 0 || len < 0 || ptr + len > core.mem.length) throw core.fatal(`HAL buffer [${ptr}, +${len}) outside memory`);
      return core.mem.subarray(ptr, ptr + len);
    };
    return {
      pin: (role) => p.pinOfRole(role),
      gpio_configure: (pin, mode) => {
        core.gpioCheck(pin);
        p.gpio.configure(pin, mode);
      },
      gpio_write: (pin, level) => {
        core.gpioCheck(pin);
        p.gpio.write(pin, level);
      },
      gpio_read: (pin) => {
        core.gpioCheck(pin);
        return p.gpio.read(pin);
      },
      counter_us: () => p.gpt.read() | 0,
      timer_set: (id, deadline) => p.gpt.set(id, deadline >>> 0),
      timer_cancel: (id) => p.gpt.cancel(id),
      mbox_send: (ptr, len) => p.mailbox.rtSend(bytes(ptr, len).slice()),
      mbox_recv: (ptr, max) => {
        const msg = p.mailbox.rtRecv(max);
        if (msg === null) return 0;
        if (msg === TOO_BIG) return TOO_BIG;
        bytes(ptr, msg.length).set(msg);
        return msg.length;
      },
      mbox_doorbell: (bits) => p.mailbox.doorbell(bits),
      uart_write: (ptr, len) => p.uart(bytes(ptr, len).slice()),
      sensor_power: (r, on) => p.sensorPower(r, on !== 0),
      irq_save: () => {
        const was = core.masked ? 1 : 0;
        core.masked = true;
        return was;
      },
      irq_restore: (s) => {
        core.masked = s !== 0;
      },
      panic: (line, col) => {
        throw core.fatal(`firmware panic (abort) at line ${line}:${col}`);
      },
    };
  }

  private gpioCheck(pin: number): void {
    if (!Number.isInteger(pin) || pin < 0 || pin >= this.chip.gpioCount) throw this.fatal(`GPIO${pin} does not exist`);
  }

  private fatal(reason: string): FirmwareHalted {
    this.halt(reason);
    return new FirmwareHalted(reason);
  }

  /** Names of the HAL functions this core implements (HAL ABI test: must equal HAL_IMPORTS). */
  static implementedHal(): string[] {
    const fake = Object.create(M4Core.prototype) as M4Core;
    (fake as any).p = {};
    (fake as any).opts = {};
    (fake as any).chip = {};
    return Object.keys(fake.halImplementations());
  }
}
