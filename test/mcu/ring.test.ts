// The MT3620 HAL's ring buffer code (mcu/mt3620/ring.c, compiled for the Cortex-M4F and run under
// QEMU) against the simulator's model of the same rings (boards/mt3620/mailbox.ts): the same writes
// and reads, with wrap-around, FULL, TOO_BIG and skipped messages, must give the same results and
// leave the same bytes in shared memory (hardware.md: header, 16-byte blocks, 16 bytes spare).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildProgram, ROOT } from '../../tools/build-target.ts';
import { Ring, OK, FULL, TOO_BIG } from '../../boards/mt3620/mailbox.ts';
import { Random } from '../../boards/random.ts';
import { runQemu, frames, haveTools } from './_qemu.ts';

const t = suite('mcu: MT3620 ring buffers in C = the simulator model');
const missing = haveTools();

t('300 random writes and reads on a 256-byte ring: same results, same shared memory', async () => {
  if (missing) throw new Error(`${missing} not installed (CI installs it: .ci/run)`);
  const size = 256;
  const rnd = new Random(42);
  const ring = new Ring(size);
  const words: number[] = [];
  const expected: string[] = [];
  const hex = (ret: number, extra: Uint8Array = new Uint8Array(0)) => {
    const b = Buffer.alloc(4 + extra.length);
    b.writeUInt32BE(ret >>> 0);
    Buffer.from(extra).copy(b, 4);
    return b.toString('hex');
  };
  let seenFull = 0;
  let seenSkip = 0;
  for (let i = 0; i < 300; i++) {
    if (rnd.next() < 0.55) {
      // lengths around the block size boundaries, a few that can never fit
      const len = rnd.next() < 0.05 ? 230 + Math.floor(rnd.next() * 40) : Math.floor(rnd.next() * 90);
      const msg = Uint8Array.from({ length: len }, () => Math.floor(rnd.next() * 256));
      const r = ring.write(msg);
      if (r === FULL) seenFull++;
      expected.push(`W ${hex(r)}`);
      words.push(1, len);
      const padded = new Uint8Array(Math.ceil(len / 4) * 4);
      padded.set(msg);
      const v = new DataView(padded.buffer);
      for (let k = 0; k < padded.length; k += 4) words.push(v.getUint32(k, true));
    } else {
      const max = rnd.next() < 0.15 ? Math.floor(rnd.next() * 20) : 4096;
      const m = ring.read(max);
      if (m === TOO_BIG) seenSkip++;
      expected.push(`G ${m === null ? hex(0) : m === TOO_BIG ? hex(TOO_BIG) : hex(m.length, m)}`);
      words.push(2, max);
    }
  }
  assert.ok(seenFull > 5 && seenSkip > 0, `exercised FULL ${seenFull}x and skipped messages ${seenSkip}x`);
  assert.ok(expected.includes(`W ${hex(TOO_BIG)}`) && expected.includes(`W ${hex(OK)}`));

  const dir = mkdtempSync(join(tmpdir(), 'rover-ring-'));
  try {
    const ops = join(dir, 'ops.c');
    writeFileSync(ops, `#include <stdint.h>\nconst uint32_t ring_size = ${size}u;\nconst uint32_t ring_ops_words = ${words.length}u;\nconst uint32_t ring_ops[] = {${words.map((w) => `0x${(w >>> 0).toString(16)}u`).join(',')}};\n`);
    const elf = await buildProgram('qemu-mps2-an386', [
      join(ROOT, 'mcu/mt3620/ring.c'), join(ROOT, 'mcu/qemu-mps2-an386/common.c'), join(ROOT, 'mcu/test/ring-harness.c'), ops,
    ], dir);
    const r = await runQemu(elf, 30_000);
    assert.is(r.code, 0, r.out.slice(-300));
    const got = r.out.split(/\r?\n/).filter((l) => l.startsWith('@W ') || l.startsWith('@G ')).map((l) => l.slice(1));
    assert.is(got.length, expected.length);
    got.forEach((g, i) => assert.is(g, expected[i], `operation ${i}`));
    const [mem] = frames(r.out, 'H');
    assert.ok(Buffer.compare(mem, ring.bytes) === 0, 'shared memory (header + data area) differs');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

t.run();
