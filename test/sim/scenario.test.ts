// Scenario files are checked whole before anything runs: one line naming the file, the key and,
// for events, the simulated time.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { builtInScenarios, checkScenario, loadScenario, parseDuration } from '../../sim/scenario.ts';

const s = suite('scenario files');

s('the built-in scenarios load', () => {
  for (const n of builtInScenarios()) {
    const sc = loadScenario(n);
    assert.is(sc.name, n);
    assert.ok(sc.expect.length > 0, `${n} has expectations`);
  }
  const r = loadScenario('ca-rollover');
  assert.is(r.durationS, 40 * 3600);
  assert.is(r.events[0].at, 38 * 3600);
  assert.is(r.tenant.registered, 'active');
});

s('durations', () => {
  assert.is(parseDuration('90s', 'x'), 90);
  assert.is(parseDuration('10m', 'x'), 600);
  assert.is(parseDuration('6h', 'x'), 21600);
  assert.is(parseDuration('40d', 'x'), 3456000);
  assert.is(parseDuration(12.5, 'x'), 12.5);
  assert.throws(() => parseDuration('soon', 'here'), /here: expected a duration/);
});

const base = () => ({ name: 't', start: '2026-06-01', duration: '10m', world: { distanceCm: { '*': 100 } }, expect: [] as unknown[] });

s('mistakes: one line naming file, key and simulated time', () => {
  const cases: [any, RegExp][] = [
    [{ ...base(), speed: 3 }, /x\.json: unknown key 'speed'/],
    [{ ...base(), start: 'June' }, /x\.json: start: expected a UTC date/],
    [{ ...base(), rig: 'nope' }, /x\.json: rig: .*nope\.rig\.json not found/],
    [{ ...base(), world: { distanceCm: { left: { kind: 'ramp', from: 1, to: 2 } } } }, /world\.distanceCm\.left\.end: expected a number/],
    [{ ...base(), events: [{ at: '11m', do: 'wifi-down', for: '1m' }] }, /events\[0\] \(at 11m\): after the end of the scenario \(10m\)/],
    [{ ...base(), events: [{ at: '1m', do: 'explode' }] }, /events\[0\] \(at 1m\): "do" must be one of wifi-down/],
    [{ ...base(), events: [{ at: '1m', do: 'wifi-down' }] }, /events\[0\] \(at 1m\): wifi-down needs 'for'/],
    [{ ...base(), events: [{ at: '2m', do: 'sensor-stuck', ranger: 'middle' }] }, /\(at 2m\): 'ranger' must be 0, 1, "left" or "right"/],
    [{ ...base(), events: [{ at: '2m', do: 'rt-restart', ranger: 0 }] }, /rt-restart takes no 'ranger'/],
    [{ ...base(), expect: [{ kind: 'everything-fine' }] }, /expect\[0\]: kind must be one of/],
    [{ ...base(), expect: [{ kind: 'max-delivery-latency', seconds: 'ten' }] }, /expect\[0\]: 'seconds' must be a number/],
    [{ ...base(), tenant: { policy: '2019' } }, /tenant\.policy must be "2020" or "later"/],
  ];
  for (const [sc, re] of cases) {
    try {
      checkScenario(sc, '/s/x.json');
      assert.unreachable(`accepted ${JSON.stringify(sc)}`);
    } catch (e) {
      assert.match((e as Error).message, re);
      assert.not.match((e as Error).message, /\n/);
    }
  }
});

s('events are ordered by time, file order kept for equal times', () => {
  const sc = checkScenario({ ...base(), events: [
    { at: '5m', do: 'rt-restart' }, { at: '1m', do: 'wifi-down', for: '10s' }, { at: '5m', do: 'register-ca' },
  ] }, '/s/x.json');
  assert.equal(sc.events.map((e) => e.do), ['wifi-down', 'rt-restart', 'register-ca']);
});

s.run();
