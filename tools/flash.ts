// `rover flash PACKAGE --target URL`: send a signed image package (rover pack) to a device's
// bootloader and boot it. Protocol: mcu/FLASHING.md (codec: boards/flash/protocol.ts; the device
// side, simulated: boards/flash/device.ts). Targets:
//   sim://                         an in-process simulated device (fresh flash, trusts your key)
//   serial:///dev/ttyX[?baud=N]    a device on a serial port or pseudo-terminal
//   qemu://mps2-an386              the C bootloader (mcu/bootloader) in QEMU, UART0 on a pseudo-terminal
import { existsSync, readFileSync } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { SerialPort } from 'serialport';
import cliProgress from 'cli-progress';
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { CommandError, jsonLine, parse, UsageError, num } from './cli.ts';
import { Decoder, encodeFrame, decodeInfo, Msg, Nak, MAX_CHUNK, u32, cat, readU32, untext, SLOT_STATE_NAMES, type Frame, type Info } from '../boards/flash/protocol.ts';
import { Bootloader, newFlash, type FlashState, type BootloaderOptions } from '../boards/flash/device.ts';

export const help = `rover flash PACKAGE --target sim://|serial:///dev/ttyX[?baud=N]|qemu://mps2-an386
            [--key FILE | --pubkey FILE] [--no-boot] [--timeout MS] [--json]

Sends PACKAGE (made by rover pack) to the device's bootloader (protocol: mcu/FLASHING.md): framed
chunks with CRC-32, each acknowledged after the device wrote and read it back; resumes where a
previous transfer stopped (power cut, unplugged cable); the device checks the image's SHA-256 and
its signature before marking the slot bootable, then boots it (A/B slots: a new image that fails to
boot is rejected and the previous one keeps running).

  --target URL     sim:// (simulated device in this process; it trusts --key/--pubkey, default your
                   signing key), serial:///dev/ttyUSB0?baud=115200 (default baud: leave the port's),
                   qemu://mps2-an386[?flash=FILE] (the C bootloader of mcu/bootloader on QEMU; it
                   trusts --key/--pubkey like sim://; its flash is FILE, kept between runs, else RAM)
  --key FILE       sim:// and qemu:// trust the public half of this key (default ~/.config/rover/signing-key.pem)
  --pubkey FILE    sim:// and qemu:// trust this PEM public key
  --no-boot        write and verify only; do not boot the new image
  --timeout MS     answer timeout per request before resending (default 2000)
  --json           one JSON object with the result

Exit code 0: written (and booted); 1: refused or failed (one line on stderr); 2: bad argument.`;

// ---------------- links ----------------
export interface Link {
  write(bytes: Uint8Array): void;
  onData(cb: (bytes: Uint8Array) => void): void;
  close(): void;
}

/** Two ends of an in-process link, asynchronous and in order; `tap` sees every host -> device chunk
 *  and may replace it, or drop it (null). */
export function linkPair(tap?: (bytes: Uint8Array) => Uint8Array | null): { host: Link; device: Link } {
  let toHost: ((b: Uint8Array) => void) | null = null;
  let toDevice: ((b: Uint8Array) => void) | null = null;
  let closed = false;
  return {
    host: {
      write: (b) => {
        const t = tap ? tap(b.slice()) : b.slice();
        if (t && !closed) setImmediate(() => !closed && toDevice?.(t));
      },
      onData: (cb) => (toHost = cb),
      close: () => (closed = true),
    },
    device: {
      write: (b) => {
        const copy = b.slice();
        if (!closed) setImmediate(() => !closed && toHost?.(copy));
      },
      onData: (cb) => (toDevice = cb),
      close: () => (closed = true),
    },
  };
}

/** A serial port (or a pseudo-terminal) as a link, through the serialport package: raw 8N1 at
 *  `baud` (default 115200; a pseudo-terminal ignores it). */
export async function openTty(path: string, baud = 115200): Promise<Link> {
  if (!existsSync(path)) throw new UsageError(`${path}: no such device`);
  const port = new SerialPort({ path, baudRate: baud, dataBits: 8, parity: 'none', stopBits: 1, autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(new CommandError(`${path}: cannot open the port (${e.message})`)) : resolve())));
  let cb: ((b: Uint8Array) => void) | null = null;
  port.on('data', (d: Buffer) => cb?.(new Uint8Array(d)));
  port.on('error', () => {});
  let closed = false;
  return {
    write: (b) => {
      if (!closed) port.write(Buffer.from(b));
    },
    onData: (f) => (cb = f),
    close: () => {
      if (closed) return;
      closed = true;
      if (port.isOpen) port.close(() => {});
    },
  };
}

/** The device side of a UART at `baud`: bytes arrive and leave no faster than the wire carries them
 *  (10 bits per byte for 8N1), so throughput over a pseudo-terminal is what a real port would give.
 *  Real time on purpose: this is the hardware-in-the-loop path, not the simulator. */
export function pacedLink(inner: Link, baud: number): Link {
  const perByteMs = 10_000 / baud;
  let rxFree = 0;
  let txFree = 0;
  let cb: ((b: Uint8Array) => void) | null = null;
  const later = (free: number, n: number, fn: () => void): number => {
    const now = performance.now();
    const done = Math.max(now, free) + n * perByteMs;
    setTimeout(fn, Math.max(0, done - now));
    return done;
  };
  inner.onData((b) => {
    rxFree = later(rxFree, b.length, () => cb?.(b));
  });
  return {
    write: (b) => {
      const copy = b.slice();
      txFree = later(txFree, copy.length, () => inner.write(copy));
    },
    onData: (f) => (cb = f),
    close: () => inner.close(),
  };
}

/** A pseudo-terminal pair made by socat (Debian package socat): bytes written to one come out of the other. */
export async function ptyPair(a: string, b: string): Promise<{ stop: () => void; process: ChildProcess }> {
  const p = spawn('socat', [`pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], { stdio: 'ignore' });
  let err: Error | null = null;
  p.on('error', (e) => (err = new Error(`socat: ${e.message} (Debian package socat)`)));
  for (let i = 0; i < 300 && !(existsSync(a) && existsSync(b)) && !err; i++) await new Promise((r) => setTimeout(r, 10));
  if (err) throw err;
  if (!existsSync(a) || !existsSync(b)) {
    p.kill('SIGKILL');
    throw new Error('socat did not create the pseudo-terminals');
  }
  return { process: p, stop: () => p.kill('SIGTERM') };
}

/** Run the simulated bootloader on a link (in-process or a TTY). */
export function serveDevice(flash: FlashState, link: Link, opts: BootloaderOptions): Bootloader {
  const dev = new Bootloader(flash, (b) => link.write(b), opts);
  link.onData((b) => dev.receive(b));
  return dev;
}

// ---------------- the C bootloader under QEMU ----------------
export interface QemuDevice {
  link: Link;
  /** Reconnect to the device's UART (the link was lost; the device keeps its RAM). */
  reconnect(): Promise<Link>;
  stop(): void;
}

/** Build the C bootloader (mcu/bootloader, mcu/qemu-mps2-an386/bootloader-main.c) trusting `trusted`,
 *  boot it in QEMU with UART0 on a pseudo-terminal, and connect to it. `flashFile`: the device's
 *  non-volatile storage (a host file written through semihosting; default none: RAM only). */
export async function startQemuDevice(trusted: KeyObject, opts: { flashFile?: string } = {}): Promise<QemuDevice> {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { buildProgram, ROOT } = await import('./build-target.ts');
  const dir = mkdtempSync(join(tmpdir(), 'rover-qemu-boot-'));
  const spki = trusted.export({ type: 'spki', format: 'der' });
  const xy = spki.subarray(spki.length - 64);
  const { resolve } = await import('node:path');
  const nvFile = opts.flashFile ? resolve(opts.flashFile) : '';
  writeFileSync(join(dir, 'key.c'), `#include <stdint.h>\nconst uint8_t boot_trusted_key[64] = {${[...xy].join(',')}};\nconst char boot_flash_file[] = ${JSON.stringify(nvFile)};\n`);
  const m = (f: string) => join(ROOT, 'mcu', f);
  const elf = await buildProgram('qemu-mps2-an386', [m('bootloader/boot.c'), m('bootloader/sha256.c'), m('bootloader/p256.c'),
    m('qemu-mps2-an386/common.c'), m('qemu-mps2-an386/bootloader-main.c'), join(dir, 'key.c')], dir);
  const q = spawn('qemu-system-arm', ['-M', 'mps2-an386', '-display', 'none', '-monitor', 'none', '-serial', 'pty',
    '-semihosting-config', 'enable=on,target=native', '-kernel', elf], { stdio: ['ignore', 'pipe', 'pipe'] });
  const pts = await new Promise<string>((resolve, reject) => {
    let err = '';
    const t = setTimeout(() => reject(new Error(`QEMU did not open its serial pty: ${err.trim()}`)), 10_000);
    const look = (d: Buffer) => {
      err += d;
      const mm = /redirected to (\/dev\/pts\/\d+)/.exec(err);
      if (mm) {
        clearTimeout(t);
        resolve(mm[1]);
      }
    };
    q.stderr!.on('data', look);
    q.stdout!.on('data', look);
    q.on('error', (e) => reject(new Error(`qemu-system-arm: ${e.message} (Debian package qemu-system-arm)`)));
    q.on('exit', (c) => reject(new Error(`QEMU exited (${c}): ${err.trim()}`)));
  }).catch((e) => {
    q.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw new CommandError(e.message);
  });
  let link = await openTty(pts);
  return {
    get link() {
      return link;
    },
    async reconnect() {
      link.close();
      link = await openTty(pts);
      return link;
    },
    stop() {
      link.close();
      q.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---------------- host ----------------
export class FlashError extends Error {}

export interface FlashOptions {
  timeoutMs?: number;
  /** Resends of one request before giving up (timeouts and NAKs). */
  maxRetries?: number;
  boot?: boolean;
  chunk?: number;
  onProgress?: (written: number, total: number) => void;
}

export interface FlashResult {
  slot: string;
  bytes: number;
  /** Bytes already on the device when this transfer started (resume). */
  resumedFrom: number;
  chunksSent: number;
  retries: number;
  seconds: number;
  booted: { active: string; rolledBack: boolean; message: string } | null;
  info: Info;
}

/** Request/response over a link: numbered requests, replies matched by seq, resend on timeout. */
class Session {
  private seq = 0;
  private waiting: ((f: Frame | 'crc') => void) | null = null;
  private readonly decoder: Decoder;
  retries = 0;

  constructor(private readonly link: Link, private readonly timeoutMs: number, private readonly maxRetries: number) {
    this.decoder = new Decoder((f) => {
      // NAK CRC: the device could not read our last frame (maybe not even its seq): resend now.
      if (f.type === Msg.NAK && f.payload[0] === Nak.CRC) return this.waiting?.('crc');
      if (f.seq === this.seq) this.waiting?.(f);
    });
    link.onData((b) => this.decoder.push(b));
  }

  async request(type: number, payload: Uint8Array = new Uint8Array(0)): Promise<Frame> {
    this.seq = (this.seq + 1) & 0xffff;
    const frame = encodeFrame(type, this.seq, payload);
    for (let attempt = 0; ; attempt++) {
      const r = await new Promise<Frame | 'crc' | 'timeout'>((resolve) => {
        const t = setTimeout(() => resolve('timeout'), this.timeoutMs);
        this.waiting = (f) => {
          clearTimeout(t);
          this.waiting = null;
          resolve(f);
        };
        this.link.write(frame);
      });
      if (typeof r !== 'string') return r;
      if (attempt >= this.maxRetries) throw new FlashError(r === 'timeout' ? `no answer from the device after ${attempt + 1} tries (${this.timeoutMs} ms each)` : 'the device keeps receiving corrupted frames');
      this.retries++;
    }
  }
}

function fail(f: Frame, what: string): never {
  if (f.type === Msg.ERROR) throw new FlashError(`${what}: device refused: ${untext(f.payload.subarray(1))}`);
  throw new FlashError(`${what}: unexpected answer 0x${f.type.toString(16)}`);
}

export async function flashPackage(pkg: Uint8Array, link: Link, opts: FlashOptions = {}): Promise<FlashResult> {
  const t0 = performance.now();
  const s = new Session(link, opts.timeoutMs ?? 2000, opts.maxRetries ?? 8);
  const chunk = Math.min(opts.chunk ?? MAX_CHUNK, MAX_CHUNK);
  const hello = await s.request(Msg.HELLO);
  if (hello.type !== Msg.INFO) fail(hello, 'HELLO');
  const info = decodeInfo(hello.payload);
  if (info.version !== 1) throw new FlashError(`device speaks protocol version ${info.version}, we speak 1`);
  if (pkg.length > info.slotBytes) throw new FlashError(`package of ${pkg.length} bytes does not fit the device's ${info.slotBytes}-byte slots`);

  const digest = createHash('sha256').update(pkg).digest();
  const ready = await s.request(Msg.BEGIN, cat(u32(pkg.length), digest));
  if (ready.type !== Msg.READY) fail(ready, 'BEGIN');
  const slot = 'AB'[ready.payload[0]];
  const resumedFrom = readU32(ready.payload, 1);
  let offset = resumedFrom;
  let chunksSent = 0;
  let naks = 0;
  while (offset < pkg.length) {
    const data = pkg.subarray(offset, Math.min(offset + chunk, pkg.length));
    const r = await s.request(Msg.DATA, cat(u32(offset), data));
    chunksSent++;
    if (r.type === Msg.ACK) {
      offset = readU32(r.payload, 0);
      naks = 0;
      opts.onProgress?.(offset, pkg.length);
    } else if (r.type === Msg.NAK) {
      // The device says where it stands (offset mismatch, failed read-back): continue from there.
      if (++naks > (opts.maxRetries ?? 8)) throw new FlashError(`chunk at ${offset}: refused ${naks} times (reason ${r.payload[0]})`);
      s.retries++;
      offset = readU32(r.payload, 1);
    } else fail(r, `DATA at ${offset}`);
  }
  const done = await s.request(Msg.END);
  if (done.type !== Msg.DONE) fail(done, 'END');
  let booted: FlashResult['booted'] = null;
  if (opts.boot !== false) {
    const b = await s.request(Msg.BOOT);
    if (b.type !== Msg.BOOTED) fail(b, 'BOOT');
    const active = (b.payload[0] << 24) >> 24;
    booted = { active: active < 0 ? '-' : 'AB'[active], rolledBack: b.payload[1] === 1, message: untext(b.payload.subarray(2)) };
  }
  const after = decodeInfo((await s.request(Msg.HELLO)).payload);
  return { slot, bytes: pkg.length, resumedFrom, chunksSent, retries: s.retries, seconds: (performance.now() - t0) / 1000, booted, info: after };
}

// ---------------- command ----------------
function parseTarget(url: string): { kind: 'sim' } | { kind: 'serial'; path: string; baud?: number } | { kind: 'qemu'; machine: string; flash?: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError(`--target: not a URL: '${url}' (sim://, serial:///dev/ttyX?baud=N, qemu://mps2-an386)`);
  }
  if (u.protocol === 'sim:') return { kind: 'sim' };
  if (u.protocol === 'qemu:') return { kind: 'qemu', machine: u.host, flash: u.searchParams.get('flash') ?? undefined };
  if (u.protocol === 'serial:') {
    const b = u.searchParams.get('baud');
    const baud = b === null ? undefined : num('target baud', b, 0, (n) => Number.isInteger(n) && n > 0, 'a baud rate');
    if (!u.pathname || u.pathname === '/') throw new UsageError('--target serial:///dev/ttyX: device path missing');
    return { kind: 'serial', path: decodeURIComponent(u.pathname), baud };
  }
  throw new UsageError(`--target: unknown scheme '${u.protocol}' (sim://, serial://, qemu://)`);
}

export async function main(argv: string[]): Promise<number> {
  const a = parse(argv, {
    target: { type: 'string' }, key: { type: 'string' }, pubkey: { type: 'string' }, 'no-boot': { type: 'boolean' },
    timeout: { type: 'string' }, json: { type: 'boolean' },
  }, help, true);
  if (!a) return 0;
  const v = a.values;
  if (a.positionals.length !== 1) throw new UsageError('expected one PACKAGE (made by rover pack)');
  if (!v.target) throw new UsageError('--target is required (sim://, serial:///dev/ttyX, qemu://mps2-an386)');
  const target = parseTarget(v.target);
  const timeoutMs = num('timeout', v.timeout, 2000, (n) => n >= 10 && n <= 600000, 'milliseconds 10..600000');
  let pkg: Buffer;
  try {
    pkg = readFileSync(a.positionals[0]);
  } catch {
    throw new UsageError(`cannot read ${a.positionals[0]}`);
  }
  let link: Link;
  let qemu: QemuDevice | null = null;
  if (target.kind === 'qemu') {
    if (target.machine !== 'mps2-an386') throw new UsageError(`--target qemu://${target.machine}: only qemu://mps2-an386 exists`);
    const { loadPublicKey, DEFAULT_KEY } = await import('./pack.ts');
    qemu = await startQemuDevice(v.pubkey ? loadPublicKey(v.pubkey) : loadPublicKey(v.key ?? DEFAULT_KEY), { flashFile: target.flash });
    link = qemu.link;
  } else if (target.kind === 'serial') {
    link = await openTty(target.path, target.baud);
  } else {
    const { loadPublicKey, DEFAULT_KEY } = await import('./pack.ts');
    const trusted: KeyObject = v.pubkey ? loadPublicKey(v.pubkey) : loadPublicKey(v.key ?? DEFAULT_KEY);
    const pair = linkPair();
    serveDevice(newFlash(), pair.device, { trusted });
    link = pair.host;
  }
  // A progress bar with bytes and rate on a terminal (cli-progress); nothing for scripts (--json).
  const bar = v.json || !process.stderr.isTTY ? null : new cliProgress.SingleBar({
    format: ' {bar} {percentage}% | {value}/{total} bytes | {rate} KiB/s',
    stream: process.stderr,
    hideCursor: true,
  }, cliProgress.Presets.shades_classic);
  const started = performance.now();
  try {
    const r = await flashPackage(pkg, link, {
      timeoutMs,
      boot: !v['no-boot'],
      onProgress: bar ? (w, t) => {
        if (!bar.getTotal()) bar.start(t, 0, { rate: '0' });
        bar.update(w, { rate: (w / 1024 / Math.max(0.001, (performance.now() - started) / 1000)).toFixed(1) });
      } : undefined,
    });
    bar?.stop();
    const slots = r.info.slots.map((s, k) => `${'AB'[k]} ${SLOT_STATE_NAMES[s.state]}`).join(', ');
    if (v.json) jsonLine({ ...r, info: { ...r.info, slots: r.info.slots.map((s) => ({ ...s, state: SLOT_STATE_NAMES[s.state] })) } });
    else {
      console.log(`${a.positionals[0]}: ${r.bytes} bytes to slot ${r.slot}${r.resumedFrom ? ` (resumed at ${r.resumedFrom})` : ''}, ${r.chunksSent} chunks, ${r.retries} resent, ${r.seconds.toFixed(2)} s; verified and signature accepted`);
      if (r.booted) console.log(r.booted.message);
      console.log(`slots: ${slots}`);
    }
    if (r.booted?.rolledBack) throw new CommandError(`the new image did not boot: ${r.booted.message}`);
    return 0;
  } catch (e) {
    bar?.stop();
    if (e instanceof FlashError) throw new CommandError(e.message);
    throw e;
  } finally {
    link.close();
    qemu?.stop();
  }
}

/** perf/mcu.ts: flashing throughput over the in-process link (protocol and device cost, no wire). */
export async function benchmark(): Promise<Record<string, number | string>> {
  const { generateKeyPairSync } = await import('node:crypto');
  const { writePackage } = await import('../boards/flash/package.ts');
  const key = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
  const data = new Uint8Array(128 * 1024).map((_, i) => (i * 2654435761) >>> 24);
  const pkg = writePackage([{ path: 'blob', data }], { board: 'bench', rig: 'bench' }, key);
  const pair = linkPair();
  serveDevice(newFlash(), pair.device, { trusted: createPublicKey(key), bootCheck: () => null });
  const r = await flashPackage(pkg, pair.host, { boot: false });
  pair.host.close();
  const out: Record<string, number | string> = {
    'flash package bytes': pkg.length,
    'flash sim:// KiB/s (in-process link)': (pkg.length / 1024 / r.seconds).toFixed(0),
    'flash over 115200 baud, s (wire time estimate)': ((pkg.length * 1.01 * 10) / 115200).toFixed(1),
  };
  // The same transfer through a pseudo-terminal pair (serial://, the code path of a real port), the
  // device side paced like a UART at 115200 and at 921600 baud (8N1: 10 bits per byte).
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  for (const [baud, size] of [[115200, 32 * 1024], [921600, 128 * 1024]] as const) {
    const dir = mkdtempSync(join(tmpdir(), 'rover-flash-bench-'));
    try {
      const pty = await ptyPair(join(dir, 'dev'), join(dir, 'host'));
      const dev = pacedLink(await openTty(join(dir, 'dev'), baud), baud);
      const host = await openTty(join(dir, 'host'), baud);
      try {
        const part = writePackage([{ path: 'blob', data: data.subarray(0, size) }], { board: 'bench', rig: 'bench' }, key);
        serveDevice(newFlash(), dev, { trusted: createPublicKey(key), bootCheck: () => null });
        const p = await flashPackage(part, host, { boot: false, timeoutMs: 10_000 });
        const kib = part.length / 1024 / p.seconds;
        out[`flash serial:// pty at ${baud} baud, KiB/s`] = kib.toFixed(1);
        out[`flash serial:// pty at ${baud} baud, % of the wire (${(baud / 10 / 1024).toFixed(1)} KiB/s)`] = ((100 * kib * 1024) / (baud / 10)).toFixed(0);
      } finally {
        host.close();
        dev.close();
        pty.stop();
      }
    } catch (e) {
      out[`flash serial:// pty at ${baud} baud`] = `not measured: ${(e as Error).message}`;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  // The C bootloader under QEMU (its UART model, not the protocol, sets the pace).
  try {
    const dev = await startQemuDevice(createPublicKey(key));
    try {
      const small = writePackage([{ path: 'blob', data: data.subarray(0, 32 * 1024) }], { board: 'bench', rig: 'bench' }, key);
      const q = await flashPackage(small, dev.link, { boot: false, timeoutMs: 5000 });
      out['flash qemu://mps2-an386 KiB/s (C bootloader, incl. SHA-256 + P-256 check)'] = (small.length / 1024 / q.seconds).toFixed(1);
    } finally {
      dev.stop();
    }
  } catch (e) {
    out['flash qemu://mps2-an386'] = `not measured: ${(e as Error).message}`;
  }
  return out;
}
