// World profiles against hand-computed values, and their validation messages.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { World } from '../../sim/world.ts';

const w = suite('world profiles');

w('constant, ramp, steps; metres out, centimetres in', () => {
  const world = new World({
    distanceCm: { a: 250, b: { kind: 'ramp', from: 100, to: 300, start: 10, end: 20 }, c: { kind: 'steps', steps: [{ at: 0, value: 50 }, { at: 5, value: null }, { at: 7, value: 70 }] } },
    temperatureC: { kind: 'ramp', from: -10, to: 40, end: 100 },
  });
  assert.is(world.distanceM('a', 123), 2.5);
  assert.is(world.distanceM('b', 0), 1);
  assert.is(world.distanceM('b', 15), 2);
  assert.is(world.distanceM('b', 99), 3);
  assert.is(world.distanceM('c', 4.99), 0.5);
  assert.is(world.distanceM('c', 5), null);
  assert.is(world.distanceM('c', 7.5), 0.7);
  assert.is(world.distanceM('nobody', 1), null, 'a part with no profile and no "*" sees nothing');
  assert.is(world.temperatureC(50), 15);
});

w('random walk: bounded, seeded, independent of the order times are asked', () => {
  const spec = { distanceCm: { '*': { kind: 'walk' as const, start: 100, step: 10, min: 50, max: 150, every: 0.5 } }, seed: 5 };
  const a = new World(spec);
  const b = new World(spec);
  const late = b.distanceM('x', 500);
  const forward = Array.from({ length: 1001 }, (_, i) => a.distanceM('x', i * 0.5)!);
  assert.is(forward[1000], late);
  assert.ok(forward.every((m) => m >= 0.5 && m <= 1.5));
  for (let i = 1; i < forward.length; i++) assert.ok(Math.abs(forward[i] - forward[i - 1]) <= 0.1 + 1e-12);
  assert.ok(new Set(forward).size > 100, 'it moves');
  const c = new World({ ...spec, seed: 6 });
  assert.is.not(c.distanceM('x', 500), late);
});

w('CSV samples: linear interpolation, empty cell = nothing in range, clear errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'world-'));
  try {
    const f = join(dir, 'd.csv');
    writeFileSync(f, 'seconds,cm\n0,100\n10,200\n# a gap\n20,\n30,50\n');
    const world = new World({ distanceCm: { '*': { kind: 'csv', file: f } } });
    assert.is(world.distanceM('x', 5), 1.5);
    assert.is(world.distanceM('x', 10), 2);
    assert.is(world.distanceM('x', 25), null);
    assert.is(world.distanceM('x', 99), 0.5);
    writeFileSync(f, '0,100\n5,abc\n');
    assert.throws(() => new World({ distanceCm: { '*': { kind: 'csv', file: f } } }), /d\.csv:2: expected "seconds,value"/);
    writeFileSync(f, '0,100\n0,120\n');
    assert.throws(() => new World({ distanceCm: { '*': { kind: 'csv', file: f } } }), /d\.csv:2: time 0 is not after/);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

w('bad profiles name the key', () => {
  assert.throws(() => new World({ distanceCm: { left: { kind: 'ramp', from: 1, to: 2, end: 0 } as any } }), /distance of left: ramp end/);
  assert.throws(() => new World({ distanceCm: { left: { kind: 'spiral' } as any } }), /unknown profile kind 'spiral'/);
  assert.throws(() => new World({ distanceCm: { left: { kind: 'steps', steps: [{ at: 0, value: 'x' }] } as any } }), /steps\[0\]\.value: expected a number/);
});

w.run();
