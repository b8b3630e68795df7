// Accuracy against the physics in shared/reference/hardware.md: c = 331.3 + 0.606 T m/s, ECHO high
// for the round trip. The truth is the world profile this test sets, not anything the firmware or
// the sensor model reports.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { RtRun } from '../../sim/rt-run.ts';
import { sampleTimeUs } from '../../hlcore/intercore/frame.ts';

// Fractions of a millimetre on purpose: the firmware reports whole millimetres.
const DISTANCES_CM = [2, 2.55, 7.37, 10, 33.33, 57.89, 100, 123.45, 171.71, 250, 321.96, 399, 400];
const HOLD_S = 1; // each distance held for one second = 10 polls per ranger

function steps(list: number[]) {
  return { kind: 'steps' as const, steps: list.map((cm, i) => ({ at: i * HOLD_S, value: cm })) };
}

function truthCm(t: number, list: number[]): number {
  return list[Math.min(list.length - 1, Math.floor(t / HOLD_S))];
}

/** Every sample with its trigger time in seconds (from the frame's own timing fields). */
function samples(run: RtRun) {
  const out: { t: number; r: number; mm: number | null; kind: string }[] = [];
  for (const b of run.batches) {
    for (let r = 0; r < b.rangers; r++) {
      for (let k = 0; k < b.polls; k++) out.push({ t: Number(sampleTimeUs(b, r, k)) / 1e6, r, mm: b.samples[r][k], kind: b.kinds[r][k] });
    }
  }
  return out;
}

const acc = suite('rtcore accuracy');

for (const tempC of [-10, 20, 40]) {
  acc(`every reading within 1 mm of the truth across 2-400 cm at ${tempC} degC (compensated)`, () => {
    const run = new RtRun({ world: { distanceCm: { '*': steps(DISTANCES_CM) }, temperatureC: tempC }, configuredTemperatureC: tempC }).boot();
    run.runFor(DISTANCES_CM.length * HOLD_S + 5.2);
    const all = samples(run).filter((s) => s.t < DISTANCES_CM.length * HOLD_S);
    assert.ok(all.length >= DISTANCES_CM.length * 10 * 2 - 4, `only ${all.length} samples`);
    for (const s of all) {
      assert.is(s.kind, 'mm', `t=${s.t.toFixed(3)} ranger ${s.r}: ${s.kind} at ${truthCm(s.t, DISTANCES_CM)} cm`);
      const err = Math.abs(s.mm! - truthCm(s.t, DISTANCES_CM) * 10);
      assert.ok(err <= 1, `t=${s.t.toFixed(3)} ranger ${s.r}: ${s.mm} mm for ${truthCm(s.t, DISTANCES_CM) * 10} mm`);
    }
  });
}

acc('with compensation off the error is the physics: cm = us / 58 assumes ~345 m/s', () => {
  const tempC = 40;
  const list = [50, 100, 200, 300, 390];
  const run = new RtRun({ world: { distanceCm: { '*': steps(list) }, temperatureC: tempC }, configuredTemperatureC: tempC, compensate: false }).boot();
  run.runFor(list.length * HOLD_S + 5.2);
  const c = 331.3 + 0.606 * tempC; // m/s at 40 degC: 355.54
  for (const s of samples(run).filter((x) => x.t < list.length * HOLD_S)) {
    const dMm = truthCm(s.t, list) * 10;
    const echoUs = ((2 * dMm) / 1000 / c) * 1e6;
    const expected = echoUs / 5.8; // datasheet: cm = us / 58
    assert.ok(Math.abs(s.mm! - expected) <= 1, `${dMm} mm at ${tempC} degC read ${s.mm}, physics says ${expected.toFixed(1)}`);
  }
  // And the error is real: at 3.9 m and 40 degC the uncompensated reading is ~11 cm short.
  const far = samples(run).find((x) => truthCm(x.t, list) === 390)!;
  assert.ok(3900 - far.mm! > 100, `uncompensated reading ${far.mm} should be > 10 cm short of 3900`);
});

acc('nothing in range: no-echo samples, not numbers', () => {
  const run = new RtRun({ world: { distanceCm: { left: null, right: 450 } } }).boot();
  run.runFor(5.3);
  const b = run.batches[0];
  assert.ok(b, 'a batch arrived');
  assert.ok(b.kinds[0].every((k) => k === 'noEcho'), 'left: every sample no-echo');
  assert.ok(b.samples[0].every((x) => x === null));
  assert.ok(b.kinds[1].every((k) => k === 'noEcho'), 'right (4.5 m, beyond 4 m): no echo');
  assert.is(b.counters.noEcho, 100);
});

acc('Grove single-pin rangers measure the same physics', () => {
  const run = new RtRun({ rig: 'rover-grove', world: { distanceCm: { left: 87.6, right: 301.2 }, temperatureC: 20 } }).boot();
  run.runFor(5.3);
  const b = run.batches[0];
  for (const mm of b.samples[0]) assert.ok(Math.abs(mm! - 876) <= 1, `left ${mm}`);
  for (const mm of b.samples[1]) assert.ok(Math.abs(mm! - 3012) <= 1, `right ${mm}`);
});

acc('the Avnet rig (different pins, same firmware) reads the same', () => {
  const run = new RtRun({ rig: 'rover-avnet', world: { distanceCm: { '*': 55.5 } } }).boot();
  run.runFor(5.3);
  for (const r of [0, 1]) for (const mm of run.batches[0].samples[r]) assert.ok(Math.abs(mm! - 555) <= 1, `${mm}`);
});

acc.run();
