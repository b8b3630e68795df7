// The HC-SR04 and Grove models driven directly through the board's GPIO (no firmware), checked
// against shared/reference/hardware.md: >= 10 us trigger, 8 x 40 kHz burst (200 us) before ECHO
// rises, ECHO high for the round trip at c = 331.3 + 0.606 T, 38 ms without an echo, re-trigger
// while busy ignored, stuck ECHO cleared only by a power cycle.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Board } from '../../boards/board.ts';
import { loadRig } from '../../boards/hardware.ts';
import { MODE_INPUT, MODE_OUTPUT } from '../../boards/mt3620/gpio.ts';
import { World } from '../../sim/world.ts';
import { loadFirmware } from '../../sim/rt-run.ts';
import { ECHO_DELAY_US, BURST_US } from '../../boards/parts/ultrasonic.ts';

const h = suite('HC-SR04 and Grove models');

function bench(rig: string, world: ConstructorParameters<typeof World>[0]) {
  // A board whose firmware never runs: the test drives the pins itself.
  const board = new Board({ rig: loadRig(rig), env: new World(world), wasm: loadFirmware() });
  const m = board.machine;
  const us = (n: number) => board.usToCycles(n);
  const edges: { us: number; v: number }[] = [];
  return { board, m, us, edges };
}

function hcsr04(world: ConstructorParameters<typeof World>[0]) {
  const b = bench('rover-hcsr04', world);
  const g = b.board.gpio;
  const [TRIG, ECHO, VCC] = [0, 1, 2]; // rover-hcsr04 rig: H1.4, H1.6, H1.8 on the Seeed RDB
  g.configure(VCC, MODE_OUTPUT);
  g.write(VCC, 1);
  g.configure(TRIG, MODE_OUTPUT);
  g.configure(ECHO, MODE_INPUT);
  g.watch(ECHO, (v) => b.edges.push({ us: (b.m.now / b.m.hz) * 1e6, v }));
  const pulse = (widthUs: number) => {
    const start = b.m.now;
    g.write(TRIG, 1);
    b.m.now += b.us(widthUs);
    b.m.runDue();
    g.write(TRIG, 0);
    return ((start / b.m.hz) * 1e6) + widthUs;
  };
  const advance = (ms: number) => {
    const end = b.m.now + b.us(ms * 1000);
    while (b.m.nextAt() <= end) {
      b.m.now = b.m.nextAt();
      b.m.runDue();
    }
    b.m.now = end;
  };
  return { ...b, g, pulse, advance, VCC };
}

h('a 10 us trigger starts a measurement, 9.9 us does not', () => {
  const s = hcsr04({ distanceCm: { '*': 100 }, temperatureC: 20 });
  s.pulse(9.9);
  s.advance(60);
  assert.is(s.edges.length, 0, 'no echo after a 9.9 us trigger');
  const end = s.pulse(10);
  s.advance(60);
  assert.is(s.edges.length, 2);
  assert.ok(Math.abs(s.edges[0].us - end - ECHO_DELAY_US) < 0.01, 'ECHO rises after the start-up delay and the burst');
  assert.ok(ECHO_DELAY_US >= BURST_US && BURST_US === 200, '8 cycles at 40 kHz = 200 us');
  const width = s.edges[1].us - s.edges[0].us;
  const c = 331.3 + 0.606 * 20;
  assert.ok(Math.abs(width - (2 * 1.0 / c) * 1e6) < 0.01, `ECHO high ${width} us for 1 m at 20 degC`);
});

h('round trip follows the temperature; beyond 4 m the ECHO falls after 38 ms', () => {
  for (const [cm, t] of [[250, -10], [250, 40], [400, 0]]) {
    const s = hcsr04({ distanceCm: { '*': cm }, temperatureC: t });
    s.pulse(11);
    s.advance(60);
    const width = s.edges[1].us - s.edges[0].us;
    const expect = ((2 * cm) / 100 / (331.3 + 0.606 * t)) * 1e6;
    assert.ok(Math.abs(width - expect) < 0.01, `${cm} cm at ${t} degC: ${width} vs ${expect}`);
  }
  const far = hcsr04({ distanceCm: { '*': 401 } });
  far.pulse(11);
  far.advance(60);
  assert.ok(Math.abs(far.edges[1].us - far.edges[0].us - 38000) < 0.01);
});

h('a re-trigger while busy is ignored', () => {
  const s = hcsr04({ distanceCm: { '*': 300 } });
  s.pulse(11);
  s.advance(5);
  s.pulse(11); // ECHO is high now: the module is busy
  s.advance(80);
  assert.is(s.edges.length, 2, 'one measurement only');
  assert.is((s.board.rangers[0] as any).ignoredTriggers, 1);
});

h('stuck ECHO stays high through triggers until the supply is cycled', () => {
  const s = hcsr04({ distanceCm: { '*': 100 } });
  s.board.rangers[0].inject('stuck');
  s.pulse(11);
  s.advance(500);
  s.pulse(11);
  s.advance(100);
  assert.equal(s.edges.map((e) => e.v), [1], 'high and stuck');
  s.g.write(s.VCC, 0);
  assert.equal(s.edges.map((e) => e.v), [1, 0], 'power off releases ECHO');
  s.g.write(s.VCC, 1);
  s.pulse(11);
  s.advance(60);
  assert.equal(s.edges.map((e) => e.v), [1, 0, 1, 0], 'measures again after the power cycle');
});

h('an unpowered module does nothing', () => {
  const s = hcsr04({ distanceCm: { '*': 100 } });
  s.g.write(s.VCC, 0);
  s.pulse(11);
  s.advance(60);
  assert.is(s.edges.length, 0);
});

h('Grove: one SIG pin, trigger as output then echo as input', () => {
  const b = bench('rover-grove', { distanceCm: { '*': 150 }, temperatureC: 25 });
  const g = b.board.gpio;
  const SIG = 0;
  const VCC = 2;
  g.configure(VCC, MODE_OUTPUT);
  g.write(VCC, 1);
  g.watch(SIG, (v) => b.edges.push({ us: (b.m.now / b.m.hz) * 1e6, v }));
  g.configure(SIG, MODE_OUTPUT);
  g.write(SIG, 1);
  b.m.now += b.us(10);
  g.write(SIG, 0);
  g.configure(SIG, MODE_INPUT);
  const end = b.m.now + b.us(60000);
  while (b.m.nextAt() <= end) {
    b.m.now = b.m.nextAt();
    b.m.runDue();
  }
  assert.is(b.edges.length, 4, 'trigger up/down, then the echo up/down');
  const width = b.edges[3].us - b.edges[2].us;
  assert.ok(Math.abs(width - (3 / (331.3 + 0.606 * 25)) * 1e6) < 0.01, `${width} us`);
  assert.is(g.read(SIG), 0, 'released after the echo');
});

h.run();
