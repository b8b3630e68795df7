// Sensor faults known from clone HC-SR04 modules (shared/reference/hardware.md): missed echo,
// spurious short echo, ECHO stuck high until the supply is cycled.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { RtRun } from '../../sim/rt-run.ts';

const f = suite('rtcore sensor faults');

function fresh(seed = 1) {
  return new RtRun({ world: { distanceCm: { '*': 120 } }, seed, vcd: true }).boot();
}

f('a missed echo is a no-echo sample, not a number', () => {
  const run = fresh();
  run.runFor(1.02); // polls at ~0.1 s steps: 10 done
  run.board.rangers[0].inject('missed');
  run.runFor(4.5);
  const b = run.batches[0];
  const bad = b.kinds[0].map((k, i) => [k, i] as const).filter(([k]) => k !== 'mm');
  assert.equal(bad.map(([k]) => k), ['noEcho'], 'exactly one no-echo sample on the left');
  assert.is(b.samples[0][bad[0][1]], null);
  assert.ok(b.kinds[1].every((k) => k === 'mm'), 'right unaffected');
  assert.is(b.counters.noEcho, 1);
  assert.is(b.samples[0][bad[0][1] + 1], 1200, 'the next reading is right again');
});

f('a spurious short echo is counted and not reported as a distance', () => {
  const run = fresh();
  run.runFor(1.02);
  run.board.rangers[1].inject('spurious', 2);
  run.runFor(4.5);
  const b = run.batches[0];
  assert.is(b.kinds[1].filter((k) => k === 'spurious').length, 2);
  assert.is(b.counters.spurious, 2);
  assert.is(b.samples[1].filter((x) => x === null).length, 2);
});

f('ECHO stuck high: detected, sensor power-cycled, readings resume', () => {
  const run = fresh();
  run.runFor(1.02);
  run.board.rangers[0].inject('stuck');
  run.runFor(4.5);
  const b = run.batches[0];
  const kinds = b.kinds[0];
  const i = kinds.indexOf('fault');
  assert.ok(i > 0, 'a fault sample');
  assert.is(kinds.filter((k) => k !== 'mm').length, 1, 'one poll lost to the fault, then readings resume');
  assert.ok(kinds.slice(i + 1).every((k) => k === 'mm'));
  assert.is(b.counters.stuck, 1);
  assert.is(b.counters.powerCycles, 1);
  // The waveform shows the supply off: VCC low for the 20 ms power-off time.
  const vcc = run.board.pinLog.get('left:VCC')!;
  const off = vcc.findIndex(([, v], k) => k > 0 && v === 0);
  assert.ok(off > 0, 'VCC switched off');
  const offMs = ((vcc[off + 1][0] - vcc[off][0]) / run.board.machine.hz) * 1000;
  assert.ok(Math.abs(offMs - 20) < 0.1, `VCC off for ${offMs} ms`);
  // And the ECHO line was high (stuck) until the power went off.
  const echo = run.board.pinLog.get('left:ECHO')!;
  const fall = echo.find(([c, v]) => v === 0 && c >= vcc[off][0] - 1)!;
  assert.is(fall[0], vcc[off][0], 'ECHO released by the power cut');
});

f('random faults at a seeded rate: counted, and every sample accounted for', () => {
  const run = new RtRun({ world: { distanceCm: { '*': 200 } }, seed: 3 }).boot();
  for (const r of run.board.rangers) r.setFaultRates({ missed: 0.05, spurious: 0.03 });
  run.runFor(60.1);
  const last = run.batches.at(-1)!;
  const kinds = run.batches.flatMap((b) => b.kinds.flat());
  const truths = run.board.rangers.flatMap((r) => r.truths);
  const missed = truths.filter((x) => x.kind === 'missed').length;
  const spurious = truths.filter((x) => x.kind === 'spurious').length;
  assert.ok(missed > 20 && spurious > 10, `faults drawn: ${missed} missed, ${spurious} spurious`);
  // The 12 delivered batches hold the first 600 polls of each ranger: their kinds must match the
  // faults the sensor model drew for those polls, one for one.
  assert.is(kinds.length, 1200);
  const delivered = run.board.rangers.map((r) => r.truths.slice(0, 600));
  assert.is(kinds.filter((k) => k === 'noEcho').length, delivered.flat().filter((x) => x.kind === 'missed').length);
  assert.is(kinds.filter((k) => k === 'spurious').length, delivered.flat().filter((x) => x.kind === 'spurious').length);
  assert.ok(last.counters.readings >= 1200);
});

f.run();
