// The device side of flashing (mcu/FLASHING.md): a bootloader with two image slots (A/B) in flash,
// answering the host over any byte stream. Everything that must survive a power cut lives in
// FlashState (the slots and their metadata); the Bootloader object is the RAM, rebuilt at power-up.
//
// - Chunks are written only at the slot's committed offset, read back and compared (verify after
//   write) before the offset advances; the offset is the resume point after a power cut.
// - END checks the whole image against the SHA-256 announced in BEGIN, then the package signature
//   with the device's trusted key (boards/flash/package.ts); only then is the slot PENDING.
// - BOOT tries a PENDING slot once: if the image comes up it becomes CONFIRMED and active, if not it
//   is REJECTED and the previous active slot keeps running (rollback).
// The device is purely reactive (no timers): the host owns timeouts and retries.
import type { KeyObject } from 'node:crypto';
import { Decoder, encodeFrame, encodeInfo, Msg, Nak, Err, SlotState, VERSION, MAX_CHUNK, u32, cat, readU32, text, type Frame } from './protocol.ts';
import { verifyPackage, sha256, PackageError } from './package.ts';
import { Board } from '../board.ts';
import { loadRig } from '../hardware.ts';

export interface Slot {
  data: Uint8Array;
  state: number;
  /** Image size announced by BEGIN. */
  size: number;
  /** Bytes written and verified from offset 0 (the resume point). */
  written: number;
  /** SHA-256 (hex) announced by BEGIN. */
  sha256: string;
}

/** Non-volatile state: what a power cut does not erase. */
export interface FlashState {
  slotBytes: number;
  slots: [Slot, Slot];
  /** Slot running the application, -1 before the first successful boot. */
  active: number;
  /** Counters (the flash wears): chunk writes and slot erasures. */
  writes: number;
  erases: number;
}

export function newFlash(slotBytes = 256 * 1024): FlashState {
  const slot = (): Slot => ({ data: new Uint8Array(slotBytes).fill(0xff), state: SlotState.EMPTY, size: 0, written: 0, sha256: '' });
  return { slotBytes, slots: [slot(), slot()], active: -1, writes: 0, erases: 0 };
}

export interface BootloaderOptions {
  /** The key whose signature makes an image bootable. */
  trusted: KeyObject;
  /** Start the image; return null when it came up, or why it did not. Default: bootSimulated. */
  bootCheck?: (files: Map<string, Uint8Array>) => string | null;
  /** Fault injection (tests): called before each chunk write; return true to corrupt the write. */
  corruptWrite?: (offset: number) => boolean;
}

/** Boot check of the simulated device: run the package's firmware on the simulated board for half a
 *  second; it must print its banner and not halt (the ELF in the package is the same .wasm
 *  translated to C: test/mcu/qemu.test.ts shows both answer alike). */
export function bootSimulated(files: Map<string, Uint8Array>): string | null {
  const wasm = files.get('rtcore/rtcore.wasm');
  if (!wasm) return 'no rtcore/rtcore.wasm in the package';
  let board: Board;
  try {
    board = new Board({ rig: loadRig(), env: { distanceM: () => 1, temperatureC: () => 20 }, wasm, core: { uninstrumented: true } });
    board.boot();
    board.runFor(0.5);
  } catch (e) {
    return `firmware did not start: ${(e as Error).message}`;
  }
  if (board.core.halted) return `firmware halted: ${board.core.halted}`;
  if (!board.uart.some((l) => l.text === 'rtcore up')) return 'no banner on the UART within 0.5 s';
  return null;
}

export class Bootloader {
  private readonly decoder: Decoder;
  /** Frames refused for a bad CRC (the host resends on NAK or timeout). */
  badFrames = 0;
  private lastSeq = 0;

  constructor(
    readonly flash: FlashState,
    private readonly send: (bytes: Uint8Array) => void,
    private readonly opts: BootloaderOptions,
  ) {
    this.decoder = new Decoder((f) => this.handle(f), () => {
      this.badFrames++;
      // We cannot trust anything in a corrupted frame; tell the host where we are.
      const s = this.writingSlot();
      this.reply(Msg.NAK, this.lastSeq, cat([Nak.CRC], u32(s ? s.written : 0)));
    });
  }

  /** Bytes from the link. */
  receive(bytes: Uint8Array): void {
    this.decoder.push(bytes);
  }

  private reply(type: number, seq: number, payload: Uint8Array = new Uint8Array(0)): void {
    this.send(encodeFrame(type, seq, payload));
  }

  private error(seq: number, code: number, message: string): void {
    this.reply(Msg.ERROR, seq, cat([code], text(message)));
  }

  /** The slot an update goes to: never the active one. */
  private target(): number {
    return this.flash.active === 0 ? 1 : 0;
  }

  private writingSlot(): Slot | null {
    const s = this.flash.slots[this.target()];
    return s.state === SlotState.WRITING ? s : null;
  }

  private handle(f: Frame): void {
    this.lastSeq = f.seq;
    const p = f.payload;
    switch (f.type) {
      case Msg.HELLO:
        return this.reply(Msg.INFO, f.seq, encodeInfo({
          version: VERSION,
          slotBytes: this.flash.slotBytes,
          active: this.flash.active,
          slots: this.flash.slots.map((s) => ({ state: s.state, size: s.size, written: s.written })),
        }));
      case Msg.BEGIN: {
        if (p.length !== 36) return this.error(f.seq, Err.BAD_REQUEST, 'BEGIN: size u32 + sha256[32]');
        const size = readU32(p, 0);
        const hash = Buffer.from(p.subarray(4, 36)).toString('hex');
        if (size === 0 || size > this.flash.slotBytes) return this.error(f.seq, Err.TOO_BIG, `image of ${size} bytes does not fit a ${this.flash.slotBytes}-byte slot`);
        const k = this.target();
        const s = this.flash.slots[k];
        if (!(s.state === SlotState.WRITING && s.size === size && s.sha256 === hash)) {
          // A different image (or none in progress): erase the slot and start over.
          s.data.fill(0xff);
          this.flash.erases++;
          Object.assign(s, { state: SlotState.WRITING, size, sha256: hash, written: 0 });
        }
        return this.reply(Msg.READY, f.seq, cat([k], u32(s.written)));
      }
      case Msg.DATA: {
        const s = this.writingSlot();
        if (!s) return this.reply(Msg.NAK, f.seq, cat([Nak.NO_SESSION], u32(0)));
        if (p.length < 5 || p.length > 4 + MAX_CHUNK) return this.reply(Msg.NAK, f.seq, cat([Nak.TOO_LONG], u32(s.written)));
        const offset = readU32(p, 0);
        const chunk = p.subarray(4);
        if (offset !== s.written) return this.reply(Msg.NAK, f.seq, cat([Nak.OFFSET], u32(s.written)));
        if (offset + chunk.length > s.size) return this.reply(Msg.NAK, f.seq, cat([Nak.TOO_LONG], u32(s.written)));
        // Program, then read back and compare before the resume point moves.
        s.data.set(chunk, offset);
        this.flash.writes++;
        if (this.opts.corruptWrite?.(offset)) s.data[offset] ^= 0x10;
        const back = s.data.subarray(offset, offset + chunk.length);
        for (let i = 0; i < chunk.length; i++) {
          if (back[i] !== chunk[i]) return this.reply(Msg.NAK, f.seq, cat([Nak.VERIFY], u32(s.written)));
        }
        s.written = offset + chunk.length;
        return this.reply(Msg.ACK, f.seq, u32(s.written));
      }
      case Msg.END: {
        const k = this.target();
        const s = this.writingSlot();
        if (!s) return this.error(f.seq, Err.NO_SESSION, 'END without an image being written');
        if (s.written !== s.size) return this.error(f.seq, Err.INCOMPLETE, `${s.written} of ${s.size} bytes written`);
        const image = s.data.subarray(0, s.size);
        if (sha256(image) !== s.sha256) {
          s.state = SlotState.EMPTY;
          return this.error(f.seq, Err.HASH, 'image SHA-256 differs from BEGIN');
        }
        try {
          verifyPackage(image, this.opts.trusted);
        } catch (e) {
          if (!(e instanceof PackageError)) throw e;
          s.state = SlotState.REJECTED;
          return this.error(f.seq, Err.SIGNATURE, `not bootable: ${e.message}`);
        }
        s.state = SlotState.PENDING;
        return this.reply(Msg.DONE, f.seq, Uint8Array.of(k));
      }
      case Msg.BOOT:
        return this.boot(f.seq);
      default:
        return this.error(f.seq, Err.BAD_REQUEST, `unknown message type 0x${f.type.toString(16)}`);
    }
  }

  /** Reset: try a PENDING image once, else boot the active one. */
  private boot(seq: number): void {
    const fl = this.flash;
    const k = fl.slots.findIndex((s) => s.state === SlotState.PENDING);
    const check = this.opts.bootCheck ?? bootSimulated;
    if (k < 0) {
      if (fl.active < 0) return this.error(seq, Err.NOTHING_TO_BOOT, 'no confirmed or pending image');
      return this.reply(Msg.BOOTED, seq, cat([fl.active, 0], text(`booted slot ${'AB'[fl.active]}`)));
    }
    const s = fl.slots[k];
    const { files } = verifyPackage(s.data.subarray(0, s.size), this.opts.trusted); // checked again at boot
    const why = check(files);
    if (why === null) {
      s.state = SlotState.CONFIRMED;
      fl.active = k;
      return this.reply(Msg.BOOTED, seq, cat([k, 0], text(`booted slot ${'AB'[k]} (new image confirmed)`)));
    }
    s.state = SlotState.REJECTED;
    const back = fl.active < 0 ? 'no previous image' : `rolled back to slot ${'AB'[fl.active]}`;
    return this.reply(Msg.BOOTED, seq, cat([fl.active & 0xff, 1], text(`slot ${'AB'[k]} failed to boot (${why}); ${back}`)));
  }
}
