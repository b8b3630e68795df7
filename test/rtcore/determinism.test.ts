// Determinism (DESIGN.md): the same seed gives byte-identical waveforms and frame streams; another
// seed gives another run. The world has a seeded random walk and the sensors seeded fault rates, so
// the seed really is exercised.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { RtRun } from '../../sim/rt-run.ts';

function run(seed: number) {
  const r = new RtRun({
    seed,
    vcd: true,
    world: { distanceCm: { left: { kind: 'walk', start: 200, step: 8, min: 10, max: 420, every: 0.3 }, right: { kind: 'walk', start: 80, step: 3, min: 5, max: 300 } }, temperatureC: { kind: 'walk', start: 20, step: 0.5, min: 10, max: 30, every: 10 } },
  });
  const frames = createHash('sha256');
  let n = 0;
  const port = r.board.mailbox.port;
  const deliver = port.onReceive!;
  port.onReceive = (p) => {
    frames.update(p);
    n++;
    deliver(p);
  };
  r.boot();
  for (const ranger of r.board.rangers) ranger.setFaultRates({ missed: 0.02, spurious: 0.02, stuck: 0.002 });
  r.runFor(120);
  return { vcd: r.board.vcd!.toString(r.board.machine.now), frames: frames.digest('hex'), n, batches: r.batches };
}

const d = suite('rtcore determinism');

d('same seed: byte-identical VCD and frame stream', () => {
  const a = run(42);
  const b = run(42);
  assert.ok(a.n >= 23, `${a.n} frames`);
  assert.ok(a.vcd.length > 100_000);
  assert.ok(a.vcd === b.vcd, 'VCD differs between two runs with seed 42');
  assert.is(a.frames, b.frames);
  const kinds = new Set(a.batches.flatMap((x) => x.kinds.flat()));
  assert.ok(kinds.has('noEcho') && kinds.has('spurious') && kinds.has('mm'), `faults and distances exercised: ${[...kinds]}`);
});

d('another seed: another run', () => {
  const a = run(42);
  const c = run(43);
  assert.ok(a.vcd !== c.vcd);
  assert.is.not(a.frames, c.frames);
});

d.run();
