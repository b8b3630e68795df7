// Helpers for the MCU tests: record a simulator run's HAL trace, encode it for the replay image
// (format: mcu/qemu-mps2-an386/replay.c), run QEMU with a hard timeout, read the framed UART lines.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { RtRun, type RtRunOptions } from '../../sim/rt-run.ts';
import { HAL_IMPORTS } from '../../boards/mt3620/m4-core.ts';

export const QEMU = 'qemu-system-arm';

/** Deterministic machine: -icount with sleep=off (virtual time jumps over WFI, independent of the host). */
export function qemuArgs(elf: string): string[] {
  return ['-M', 'mps2-an386', '-nographic', '-icount', 'shift=4,sleep=off', '-semihosting-config', 'enable=on,target=native', '-kernel', elf];
}

/** Run QEMU until it exits, `until(stdout)` is true, or `timeoutMs` passes; it is always killed. */
export function runQemu(elf: string, timeoutMs: number, until?: (out: string) => boolean): Promise<{ out: string; code: number | null; timedOut: boolean }> {
  return new Promise((resolve) => {
    let out = '';
    let timedOut = false;
    const child = execFile(QEMU, qemuArgs(elf), { maxBuffer: 64 << 20 });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout!.on('data', (d) => {
      out += d;
      if (until?.(out)) child.kill('SIGKILL');
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ out, code, timedOut });
    });
  });
}

/** "@X <hex>" lines of the output, as bytes. */
export function frames(out: string, tag: string): Uint8Array[] {
  const r: Uint8Array[] = [];
  for (const line of out.split(/\r?\n/)) if (line.startsWith(`@${tag} `)) r.push(Buffer.from(line.slice(3).trim(), 'hex'));
  return r;
}

export const EXPORTS = ['init', 'idle', 'isr_gpio', 'isr_timer', 'isr_mailbox'];
/** replay.c's H_* enum is this order; the test fails if HAL_IMPORTS is reordered without it. */
export const HAL_ORDER = ['pin', 'gpio_configure', 'gpio_write', 'gpio_read', 'counter_us', 'timer_set', 'timer_cancel',
  'mbox_send', 'mbox_recv', 'mbox_doorbell', 'uart_write', 'sensor_power', 'irq_save', 'irq_restore', 'panic'];

export interface Recording {
  words: Uint32Array;
  /** Payloads the firmware put into the outbound ring (mbox_send returned OK), in order. */
  sent: Uint8Array[];
  halCalls: number;
  memory: Uint8Array;
  run: RtRun;
}

/** Run the firmware in the simulator with every HAL call and entry point recorded, and encode it. */
export function record(opts: RtRunOptions, seconds: number): Recording {
  const w: number[] = [];
  const sent: Uint8Array[] = [];
  let halCalls = 0;
  const mem = () => new Uint8Array((run.board.core as any).exports.memory.buffer);
  const run: RtRun = new RtRun({
    ...opts,
    core: {
      onExport: (name, args) => {
        const e = EXPORTS.indexOf(name);
        if (e < 0) throw new Error(`unknown entry point ${name}`);
        w.push((0xe0000000 | (e << 8) | args.length) >>> 0, ...args.map((a) => a >>> 0));
      },
      onHal: (name, args, ret) => {
        const h = HAL_ORDER.indexOf(name);
        const sig = HAL_IMPORTS[name];
        halCalls++;
        const bytes = name === 'mbox_recv' && ret! > 0 ? mem().slice(args[0], args[0] + ret!) : null;
        if (name === 'mbox_send' && ret === 0) sent.push(mem().slice(args[0], args[0] + args[1]));
        const hasRet = sig.results.length > 0;
        w.push((0xa0000000 | (h << 8) | (args.length << 4) | (hasRet ? 1 : 0) | (bytes ? 2 : 0)) >>> 0, ...args.map((a) => a >>> 0));
        if (hasRet) w.push((ret ?? 0) >>> 0);
        if (bytes) {
          w.push(bytes.length);
          const padded = new Uint8Array(Math.ceil(bytes.length / 4) * 4);
          padded.set(bytes);
          const v = new DataView(padded.buffer);
          for (let i = 0; i < padded.length; i += 4) w.push(v.getUint32(i, true));
        }
      },
    },
  }).boot();
  run.runFor(seconds);
  return { words: Uint32Array.from(w), sent, halCalls, memory: mem().slice(), run };
}

export function crc32(p: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of p) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

export function haveTools(): string | null {
  for (const t of [QEMU, 'wasm2c', 'arm-none-eabi-gcc']) {
    try {
      require_(t);
    } catch {
      return t;
    }
  }
  return null;
}

import { execFileSync } from 'node:child_process';
function require_(cmd: string): void {
  execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
}

/** Temporary folders for one suite, all removed after it (build outputs are large). */
export function suiteTempDirs(after: (fn: () => void) => void): () => string {
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  return () => {
    const d = mkdtempSync(join(tmpdir(), 'rover-mcu-'));
    dirs.push(d);
    return d;
  };
}
