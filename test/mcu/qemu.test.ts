// Same answers on the chip as in the simulator (issue 6). The firmware runs in the simulator with
// every HAL call recorded; the trace is linked into a replay build of the real Cortex-M4F image
// (wasm2c C, our runtime, mcu/qemu-mps2-an386/replay.c), which runs under QEMU (mps2-an386, -icount:
// deterministic). The image must make the same HAL calls with the same arguments, send byte-for-byte
// the frames the simulator's mailbox carried, and end with the same linear memory (CRC-32).
// A second test boots the normal mps2 image (real CMSDK timers, no sensors) and checks that it sends
// valid BATCH frames on its own clock.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildTarget } from '../../tools/build-target.ts';
import { HAL_IMPORTS } from '../../boards/mt3620/m4-core.ts';
import { parseFrame, decodeBatch, FrameType, HEADER } from '../../hlcore/intercore/frame.ts';
import { record, runQemu, frames, crc32, HAL_ORDER, haveTools, suiteTempDirs } from './_qemu.ts';

const q = suite('mcu: Cortex-M4F image under QEMU');
const missing = haveTools();
const tmp = suiteTempDirs((fn) => q.after(fn));

q('replay: HAL trace of a simulated run -> identical frames and memory on the mps2-an386 image', async () => {
  if (missing) throw new Error(`${missing} not installed (CI installs it: .ci/run)`);
  assert.equal(HAL_ORDER, Object.keys(HAL_IMPORTS), 'replay.c indexes HAL calls in HAL_IMPORTS order');
  // 2 batches: the first of 5 s (defaults), then the configured 1 s one (a new batch period applies
  // at the next batch boundary); a moving target on the left, a fixed one on the right, -5 degC.
  const rec = record({
    world: { distanceCm: { left: { kind: 'walk', start: 150, step: 20, min: 1, max: 450, every: 0.2 }, right: 77.7 }, temperatureC: -5 },
    configuredTemperatureC: -5,
    pollMs: 100,
    batchMs: 1000,
    seed: 3,
  }, 6.3);
  assert.is(rec.run.batches.length, 2, 'the simulator delivered 2 batches');
  assert.ok(rec.words.length < 40000, `trace is small (${rec.words.length} words)`);

  const { elf } = await buildTarget('qemu-mps2-an386', { outDir: tmp(), replayTrace: rec.words });
  const r = await runQemu(elf, 60_000);
  assert.not.ok(r.timedOut, 'QEMU finished by itself');
  const div = frames(r.out, 'D');
  assert.is(div.length, 0, `diverged: ${div.map((d) => Buffer.from(d).toString('hex')).join(' ')}\n${r.out.slice(-400)}`);
  assert.is(r.code, 0, `QEMU exit status (output: ${r.out.slice(-300)})`);

  const sent = frames(r.out, 'S');
  assert.is(sent.length, rec.sent.length, 'as many frames as the simulator sent');
  sent.forEach((f, i) => assert.ok(Buffer.compare(f, rec.sent[i]) === 0, `frame ${i} differs`));
  // The batches hlcore decoded in the simulator are exactly the chip's batch frames.
  const chipBatches = sent.map((m) => parseFrame(m.subarray(HEADER))).filter((f) => f.type === FrameType.BATCH).map(decodeBatch);
  const seen = new Map(chipBatches.map((b) => [b.seq, b]));
  assert.equal(rec.run.batches.map((b) => seen.get(b.seq)), rec.run.batches);

  // The banner the firmware wrote to its UART, as in the simulator.
  assert.equal(frames(r.out, 'U').map((u) => Buffer.from(u).toString('latin1')), rec.run.board.uart.map((l) => l.text + '\n'));

  const [m] = frames(r.out, 'M');
  const v = new DataView(m.buffer, m.byteOffset);
  assert.is(v.getUint32(4), rec.halCalls, 'every recorded HAL call was made');
  assert.is(v.getUint32(0), crc32(rec.memory), 'linear memory at the end: same CRC-32 as the simulator');
  const stack = v.getUint32(8);
  assert.ok(stack > 64 && stack < 4096, `deepest stack use ${stack} bytes: well inside the 16 KiB reserved`);
});

q('normal image: boots, schedules on the CMSDK timers and sends BATCH frames', async () => {
  if (missing) throw new Error(`${missing} not installed (CI installs it: .ci/run)`);
  const { elf } = await buildTarget('qemu-mps2-an386', { outDir: tmp() });
  const r = await runQemu(elf, 60_000, (out) => frames(out, 'S').length >= 2);
  assert.ok(r.out.startsWith('rtcore up\n'), `banner first: ${JSON.stringify(r.out.slice(0, 40))}`);
  const sent = frames(r.out, 'S');
  assert.ok(sent.length >= 2, `${sent.length} frames before the timeout`);
  const b = decodeBatch(parseFrame(sent[0].subarray(HEADER)));
  assert.is(b.seq, 1);
  assert.is(b.periodMs, 100);
  assert.is(b.polls, 50);
  // No sensors on this board: every sample times out (0xFFFF), and the firmware counts them.
  assert.ok(b.kinds.flat().every((k) => k === 'noEcho'), 'all no-echo');
  assert.is(b.counters.noEcho, b.counters.readings);
  // Poll 0 of ranger 0 is scheduled one poll period after boot (rtcore/main.ts init).
  assert.ok(b.firstSampleUs >= 100_000n && b.firstSampleUs < 200_000n, `firstSampleUs ${b.firstSampleUs}`);
});

q('a wasm trap on the MCU (out-of-bounds load) is reported on the UART and halts the core', async () => {
  if (missing) throw new Error(`${missing} not installed (CI installs it: .ci/run)`);
  const wabt = await (await import('wabt')).default();
  const wasm = wabt.parseWat('oob.wat', `(module (import "hal" "uart_write" (func $w (param i32 i32)))
    (memory (export "memory") 1 1) (data (i32.const 16) "before\\n")
    (func (export "init") (call $w (i32.const 16) (i32.const 7)) (drop (i32.load (i32.const 65534))))
    (func (export "idle")) (func (export "isr_gpio") (param i32 i32 i32))
    (func (export "isr_timer") (param i32)) (func (export "isr_mailbox") (param i32)))`).toBinary({}).buffer;
  const d = tmp();
  const file = join(d, 'oob.wasm');
  writeFileSync(file, wasm);
  const { elf } = await buildTarget('qemu-mps2-an386', { outDir: d, wasm: file });
  const r = await runQemu(elf, 30_000);
  assert.not.ok(r.timedOut);
  assert.is(r.out.replace(/\r/g, ''), 'before\n\nTRAP out of bounds\n');
  assert.is(r.code, 1, 'halted with a failure status');
});

q.run();
