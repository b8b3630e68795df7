// Timing over one simulated hour: the numbers (100 ms polls, 5 s batches: 36,000 readings per
// ranger and 720 batches per hour), no drift (every poll within 10 us of its ideal time), and the
// HC-SR04 trigger pulse (>= 10 us, datasheet) measured on the VCD waveform, between 10 and 12 us.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { RtRun } from '../../sim/rt-run.ts';
import { parseVcd } from '../../boards/vcd.ts';

const HOUR = 3600;
const t = suite('rtcore timing (one simulated hour, then past the counter wrap)');

const run = new RtRun({ world: { distanceCm: { left: { kind: 'walk', start: 150, step: 5, min: 20, max: 390, every: 0.5 }, right: 222 } }, vcd: true, seed: 7 }).boot();
// A little past 2^32 us (71.6 min): the 32-bit 1 MHz counter wraps inside the run.
const WRAP_S = 2 ** 32 / 1e6;
run.runFor(WRAP_S + 15);
const hz = run.board.machine.hz;
const first = run.batches[0].firstSampleUs; // the firmware's ideal time of its first poll

t('720 batches and exactly 36,000 readings per ranger in the hour', () => {
  const inHour = run.batches.filter((b) => Number(b.firstSampleUs - first) < HOUR * 1e6);
  assert.is(inHour.length, 720);
  for (const r of [0, 1]) assert.is(inHour.reduce((n, b) => n + b.samples[r].length, 0), 36000);
  assert.equal(inHour.map((b) => b.seq), Array.from({ length: 720 }, (_, i) => i + 1), 'sequence numbers 1..720, none missing');
  assert.is(run.client.stats.duplicates, 0);
  assert.is(run.client.stats.rejected, 0);
});

t('batches are 5 s apart and every sample is a distance, across the 32-bit counter wrap', () => {
  assert.ok(Number(run.batches.at(-1)!.firstSampleUs) / 1e6 > WRAP_S, 'the run crosses the wrap');
  for (let i = 1; i < run.batches.length; i++) assert.is(Number(run.batches[i].firstSampleUs - run.batches[i - 1].firstSampleUs), 5_000_000);
  for (const b of run.batches) for (const k of b.kinds.flat()) assert.is(k, 'mm');
});

t('every poll starts within 10 us of its ideal time (no drift over the hour)', () => {
  for (const [r, pin] of [[0, 'left:TRIG'], [1, 'right:TRIG']] as const) {
    const rises = run.board.pinLog.get(pin)!.filter(([, v]) => v === 1).map(([c]) => (c / hz) * 1e6);
    assert.ok(rises.length >= 42900, `${pin}: ${rises.length} trigger pulses`);
    let worst = 0;
    rises.forEach((us, k) => {
      const ideal = Number(first) + k * 100_000 + r * 50_000;
      worst = Math.max(worst, Math.abs(us - ideal));
    });
    assert.ok(worst <= 10, `${pin}: worst poll start ${worst.toFixed(2)} us from ideal (over ${(rises.length / 10 / 60).toFixed(0)} min)`);
  }
});

t('trigger pulses in the VCD are 10-12 us wide', () => {
  const vcd = parseVcd(run.board.vcd!.toString(run.board.machine.now));
  for (const name of ['left.TRIG', 'right.TRIG']) {
    const ch = vcd.get(name)!;
    assert.ok(ch.length > 72000, `${name}: ${ch.length} changes`);
    let min = Infinity;
    let max = 0;
    for (let i = 0; i + 1 < ch.length; i++) {
      if (ch[i][1] === 1 && ch[i + 1][1] === 0) {
        const w = (ch[i + 1][0] - ch[i][0]) / 1000;
        min = Math.min(min, w);
        max = Math.max(max, w);
      }
    }
    assert.ok(min >= 10 && max <= 12, `${name}: pulse widths ${min}..${max} us`);
  }
});

t.run();
