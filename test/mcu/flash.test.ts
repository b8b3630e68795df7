// Flashing (mcu/FLASHING.md): the frame codec against hand-computed bytes, then the host
// (tools/flash.ts) against the simulated bootloader (boards/flash/device.ts): success, power cut and
// resume, a corrupted chunk and a failed flash write retried, a wrong signature refused, a new image
// that does not boot rolled back, and the same transfer over a pseudo-terminal (serial://).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { crc32 as zcrc } from 'node:zlib';
import { generateKeyPairSync, createPublicKey } from 'node:crypto';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeFrame, Decoder, Msg, SlotState, crc32, type Frame } from '../../boards/flash/protocol.ts';
import { newFlash, bootSimulated } from '../../boards/flash/device.ts';
import { writePackage } from '../../boards/flash/package.ts';
import { flashPackage, linkPair, serveDevice, FlashError, openTty, pacedLink, ptyPair, main } from '../../tools/flash.ts';
import { ROOT } from '../../tools/build-target.ts';
import { CommandError, UsageError } from '../../tools/cli.ts';

const f = suite('mcu: flashing');
const key = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
const trusted = createPublicKey(key);
const wasm = readFileSync(join(ROOT, 'build', 'rtcore.wasm'));
const elf = new Uint8Array(20000).map((_, i) => (i * 2654435761) >>> 24); // stands in for the ELF; contains 0x7E and 0x7D
const pkgOf = (w: Uint8Array, k = key) => writePackage([{ path: 'rtcore/app.elf', data: elf }, { path: 'rtcore/rtcore.wasm', data: w }], { board: 'seeed-mt3620-rdb', rig: 'boards/rigs/rover-hcsr04.rig.json' }, k);
const good = pkgOf(wasm);
const fast = { timeoutMs: 200, maxRetries: 3 };

f('frame codec: flags, escapes and CRC-32 as computed by hand and by zlib', () => {
  // HELLO seq 1: body 01 01 00, CRC-32 LE, flags around.
  const c = zcrc(Buffer.from([1, 1, 0]));
  assert.is(crc32(Uint8Array.of(1, 1, 0)), c);
  assert.equal([...encodeFrame(Msg.HELLO, 1)], [0x7e, 1, 1, 0, c & 255, (c >> 8) & 255, (c >> 16) & 255, c >>> 24, 0x7e].map((b) => b));
  // 0x7E and 0x7D are escaped as 7D 5E and 7D 5D, in the seq (0x7e7d, LE: 7D 7E) as in the payload.
  const e = encodeFrame(Msg.DATA, 0x7e7d, Uint8Array.of(0x7e, 0x7d, 0x20));
  assert.equal([...e.subarray(0, 10)], [0x7e, 0x03, 0x7d, 0x5d, 0x7d, 0x5e, 0x7d, 0x5e, 0x7d, 0x5d]);
  const got: Frame[] = [];
  const bad: string[] = [];
  const d = new Decoder((fr) => got.push(fr), (r) => bad.push(r));
  d.push(Uint8Array.of(0x00, 0x55)); // noise before a frame is ignored
  for (const b of e) d.push(Uint8Array.of(b)); // byte by byte
  assert.is(got.length, 1);
  assert.equal({ ...got[0], payload: [...got[0].payload] }, { type: Msg.DATA, seq: 0x7e7d, payload: [0x7e, 0x7d, 0x20] });
  const broken = e.slice();
  broken[broken.length - 3] ^= 1; // a CRC byte
  d.push(broken);
  assert.equal(bad, ['CRC mismatch']);
});

f('success: written, read back, signature checked, booted and confirmed in slot A', async () => {
  const flash = newFlash();
  const pair = linkPair();
  serveDevice(flash, pair.device, { trusted });
  const r = await flashPackage(good, pair.host, fast);
  assert.is(r.slot, 'A');
  assert.is(r.resumedFrom, 0);
  assert.is(r.chunksSent, Math.ceil(good.length / 1024));
  assert.is(r.retries, 0);
  assert.equal(r.booted, { active: 'A', rolledBack: false, message: 'booted slot A (new image confirmed)' });
  assert.is(flash.active, 0);
  assert.is(flash.slots[0].state, SlotState.CONFIRMED);
  assert.ok(Buffer.compare(flash.slots[0].data.subarray(0, good.length), good) === 0, 'the slot holds the package');
  // The next image goes to the other slot; A stays as the fallback.
  const r2 = await flashPackage(good, pair.host, fast);
  assert.is(r2.slot, 'B');
  assert.is(flash.active, 1);
  assert.is(flash.slots[0].state, SlotState.CONFIRMED);
});

f('power cut mid-transfer: the next transfer resumes at the last verified chunk', async () => {
  const flash = newFlash();
  let delivered = 0;
  const cutAt = Math.floor(good.length / 2);
  const pair = linkPair((b) => ((delivered += b.length) > cutAt ? null : b)); // power gone: nothing arrives
  serveDevice(flash, pair.device, { trusted });
  await flashPackage(good, pair.host, { timeoutMs: 50, maxRetries: 1 }).then(
    () => assert.unreachable('flashing cannot finish without power'),
    (e) => assert.instance(e, FlashError),
  );
  pair.host.close();
  const written = flash.slots[0].written;
  assert.ok(written > 0 && written < good.length, `${written} bytes survived`);
  assert.is(flash.slots[0].state, SlotState.WRITING);

  // Power back: a new bootloader (fresh RAM) on the same flash.
  const again = linkPair();
  serveDevice(flash, again.device, { trusted });
  const r = await flashPackage(good, again.host, fast);
  assert.is(r.resumedFrom, written);
  assert.is(r.chunksSent, Math.ceil((good.length - written) / 1024));
  assert.is(r.booted?.active, 'A');
  assert.ok(Buffer.compare(flash.slots[0].data.subarray(0, good.length), good) === 0);
  assert.is(flash.erases, 1, 'the slot was erased once, not again on resume');
});

f('a corrupted chunk on the wire and a failed flash write are both retried', async () => {
  const flash = newFlash();
  let frames = 0;
  const pair = linkPair((b) => {
    if (b[1] === Msg.DATA && ++frames === 5) b[b.length >> 1] ^= 0x04; // noise inside the 5th DATA frame
    return b;
  });
  let failedWrites = 0;
  const dev = serveDevice(flash, pair.device, { trusted, corruptWrite: (off) => off === 8 * 1024 && failedWrites++ === 0 });
  const r = await flashPackage(good, pair.host, fast);
  assert.is(dev.badFrames, 1, 'the device refused the corrupted frame');
  assert.is(failedWrites, 2, 'the chunk whose read-back failed was written again');
  assert.ok(r.retries >= 2, `${r.retries} resends`);
  assert.is(r.booted?.rolledBack, false);
  assert.ok(Buffer.compare(flash.slots[0].data.subarray(0, good.length), good) === 0, 'image intact');
});

f('a package signed by another key is written but never marked bootable', async () => {
  const flash = newFlash();
  const pair = linkPair();
  serveDevice(flash, pair.device, { trusted });
  await flashPackage(good, pair.host, fast);
  const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
  await flashPackage(pkgOf(wasm, other), pair.host, fast).then(
    () => assert.unreachable('accepted a foreign signature'),
    (e) => assert.match(e.message, /END: device refused: not bootable: signed by key [0-9a-f]+, not by the trusted key/),
  );
  assert.is(flash.slots[1].state, SlotState.REJECTED);
  assert.is(flash.active, 0, 'slot A keeps running');
});

f('a new image that does not boot is rejected and the previous one keeps running', async () => {
  const wabt = await (await import('wabt')).default();
  const trap = wabt.parseWat('trap.wat', `(module (import "hal" "panic" (func (param i32 i32))) (memory (export "memory") 1 1)
    (func (export "init") unreachable) (func (export "idle")) (func (export "isr_gpio") (param i32 i32 i32))
    (func (export "isr_timer") (param i32)) (func (export "isr_mailbox") (param i32)))`).toBinary({}).buffer;
  assert.match(bootSimulated(new Map([['rtcore/rtcore.wasm', trap]]))!, /trap in init/);
  const flash = newFlash();
  const pair = linkPair();
  serveDevice(flash, pair.device, { trusted });
  await flashPackage(good, pair.host, fast);
  const r = await flashPackage(pkgOf(trap), pair.host, fast);
  assert.is(r.slot, 'B');
  assert.is(r.booted?.rolledBack, true);
  assert.is(r.booted?.active, 'A');
  assert.match(r.booted!.message, /slot B failed to boot \(firmware .*trap in init.*\); rolled back to slot A/);
  assert.is(flash.slots[1].state, SlotState.REJECTED);
  assert.is(flash.slots[0].state, SlotState.CONFIRMED);
});

f('serial:// over a pseudo-terminal pair (socat), and the command line', async () => {
  let socat = true;
  try {
    execFileSync('sh', ['-c', 'command -v socat'], { stdio: 'ignore' });
  } catch {
    socat = false;
  }
  if (!socat) throw new Error('socat not installed (CI installs it: .ci/run)');
  const dir = mkdtempSync(join(tmpdir(), 'rover-flash-'));
  const pty = await ptyPair(join(dir, 'device'), join(dir, 'host'));
  // The device side paced like a UART at 921600 baud: the transfer cannot beat the wire.
  const devLink = pacedLink(await openTty(join(dir, 'device'), 921600), 921600);
  const hostLink = await openTty(join(dir, 'host'), 921600);
  try {
    const flash = newFlash();
    serveDevice(flash, devLink, { trusted });
    const r = await flashPackage(good, hostLink, { timeoutMs: 2000, maxRetries: 3 });
    assert.is(r.booted?.active, 'A');
    assert.ok(Buffer.compare(flash.slots[0].data.subarray(0, good.length), good) === 0);
    const wireSeconds = (good.length * 10) / 921600;
    assert.ok(r.seconds >= wireSeconds * 0.95, `${good.length} bytes in ${r.seconds.toFixed(3)} s: faster than 921600 baud allows (${wireSeconds.toFixed(3)} s)`);
  } finally {
    hostLink.close();
    devLink.close();
    pty.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  await main(['x.rpk', '--target', 'qemu://mps2-an386']).then(() => assert.unreachable(), (e) => assert.instance(e, UsageError)); // unreadable package first
  const pkgFile = join(tmpdir(), `rover-flash-${process.pid}.rpk`);
  const pubFile = join(tmpdir(), `rover-flash-${process.pid}.pub`);
  const { writeFileSync } = await import('node:fs');
  writeFileSync(pkgFile, good);
  writeFileSync(pubFile, trusted.export({ type: 'spki', format: 'pem' }));
  const log = console.log;
  const out: string[] = [];
  console.log = (s: string) => out.push(s);
  try {
    await main([pkgFile, '--target', 'qemu://vexpress-a9']).then(() => assert.unreachable(), (e) => assert.instance(e, UsageError));
    await main([pkgFile, '--target', 'ftp://x']).then(() => assert.unreachable(), (e) => assert.instance(e, UsageError));
    assert.is(await main([pkgFile, '--target', 'sim://', '--pubkey', pubFile]), 0);
    assert.match(out.join('\n'), /to slot A, \d+ chunks, 0 resent.*\nbooted slot A \(new image confirmed\)\nslots: A confirmed, B empty/);
    // A package signed by another key: the command fails with the device's one-line reason.
    writeFileSync(pkgFile, writePackage([{ path: 'x', data: new Uint8Array(10) }], { board: 'b', rig: 'r' }, generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey));
    await main([pkgFile, '--target', 'sim://', '--pubkey', pubFile]).then(() => assert.unreachable(), (e) => {
      assert.instance(e, CommandError);
      assert.match(e.message, /^END: device refused: not bootable: signed by key/);
    });
  } finally {
    console.log = log;
    rmSync(pkgFile);
    rmSync(pubFile);
  }
});

f.run();
