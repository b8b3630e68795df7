// Wi-Fi manager state machine (hlcore/wifi.ts) against the simulated access points (sim/wifi-ap.ts),
// and the capped exponential backoff with seeded jitter (hlcore/backoff.ts). Simulated time only.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ManualClock } from '../../hlcore/manual-clock.ts';
import { seededRandom } from '../../hlcore/random.ts';
import { Backoff } from '../../hlcore/backoff.ts';
import { WifiManager, type WifiStatus } from '../../hlcore/wifi.ts';
import { SimulatedAccessPoint, SimulatedRadio } from '../../sim/wifi-ap.ts';

const T0 = Date.UTC(2026, 0, 1);
const w = suite('hlcore wifi and backoff');

w('backoff: every delay lies in [(1-j) min(cap, base 2^n), min(cap, base 2^n)], reset starts over', () => {
  const b = new Backoff({ baseMs: 1000, capMs: 60_000, jitter: 0.5, random: seededRandom(7) });
  const ceilings = [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000, 60000];
  const got: number[] = [];
  for (const c of ceilings) {
    const d = b.next();
    got.push(d);
    assert.ok(d >= c * 0.5 && d <= c, `delay ${d} outside [${c / 2}, ${c}]`);
  }
  for (let i = 0; i < 10_000; i++) assert.ok(b.next() <= 60_000, 'never above the cap, however long the outage');
  b.reset();
  const first = b.next();
  assert.ok(first >= 500 && first <= 1000, `after reset: ${first}`);
  // Seeded: the same seed gives the same sequence; another seed another one (jitter really varies).
  const seq = (s: number) => {
    const x = new Backoff({ baseMs: 1000, capMs: 60_000, random: seededRandom(s) });
    return Array.from({ length: 8 }, () => x.next());
  };
  assert.equal(seq(42), seq(42));
  assert.not.equal(seq(42), seq(43));
  assert.not.equal(got, seq(8));
});

w('backoff: refuses nonsense parameters', () => {
  assert.throws(() => new Backoff({ baseMs: 0, capMs: 10, random: seededRandom(1) }));
  assert.throws(() => new Backoff({ baseMs: 100, capMs: 10, random: seededRandom(1) }));
  assert.throws(() => new Backoff({ baseMs: 1, capMs: 10, jitter: 2, random: seededRandom(1) }));
});

function rig(networks = [{ ssid: 'home', psk: 'secret1' }, { ssid: 'phone', psk: 'secret2' }]) {
  const clock = new ManualClock(T0);
  const home = new SimulatedAccessPoint('home', 'secret1');
  const phone = new SimulatedAccessPoint('phone', 'secret2');
  const radio = new SimulatedRadio(clock, [home, phone], 1500);
  const wifi = new WifiManager({ clock, random: seededRandom(1), radio, networks, backoffBaseMs: 2000, backoffCapMs: 60_000 });
  const changes: WifiStatus[] = [];
  wifi.onChange((s) => changes.push(s));
  return { clock, home, phone, radio, wifi, changes };
}

w('wifi: connects to the first configured network after the association time', () => {
  const { clock, wifi, radio } = rig();
  wifi.start();
  assert.is(wifi.status.state, 'connecting');
  clock.advance(1499);
  assert.is(wifi.status.state, 'connecting');
  clock.advance(1);
  assert.is(wifi.status.state, 'connected');
  assert.is(wifi.status.ssid, 'home');
  assert.is(radio.associated?.ssid, 'home');
});

w('wifi: wrong key or missing network falls through to the next network in priority order', () => {
  const { clock, wifi, home } = rig([{ ssid: 'home', psk: 'WRONG' }, { ssid: 'phone', psk: 'secret2' }]);
  home.restore();
  wifi.start();
  clock.advance(1500);
  assert.is(wifi.status.state, 'connecting');
  assert.is(wifi.status.ssid, 'phone');
  assert.match(wifi.status.lastFailure!, /home: 4-way handshake failed/);
  clock.advance(1500);
  assert.is(wifi.status.state, 'connected');
  assert.is(wifi.status.ssid, 'phone');
});

w('wifi: lost link reconnects to the same network first, then round-robin, then capped backoff; recovers', () => {
  const { clock, wifi, home, phone } = rig();
  wifi.start();
  clock.advance(1500);
  assert.is(wifi.status.ssid, 'home');
  phone.down();
  home.down('beacon loss');
  assert.is(wifi.status.state, 'connecting');
  assert.is(wifi.status.ssid, 'home', 'the network just lost is tried first');
  assert.is(wifi.status.losses, 1);
  clock.advance(1500); // home: not found
  assert.is(wifi.status.ssid, 'phone');
  clock.advance(1500); // phone: not found -> waiting
  assert.is(wifi.status.state, 'waiting');
  // Successive rounds: each wait within the backoff bounds, growing to the cap, never giving up.
  const waits: number[] = [];
  for (let round = 0; round < 8; round++) {
    const start = clock.now();
    while ((wifi.status.state as string) === 'waiting') clock.advance(100);
    waits.push(clock.now() - start);
    clock.advance(3000); // two failed associations
    assert.is(wifi.status.state, 'waiting');
  }
  const ceil = (n: number) => Math.min(60_000, 2000 * 2 ** n);
  waits.forEach((d, n) => assert.ok(d >= ceil(n) / 2 - 100 && d <= ceil(n) + 100, `wait ${n} = ${d} ms, ceiling ${ceil(n)}`));
  phone.restore();
  while ((wifi.status.state as string) === 'waiting') clock.advance(100);
  clock.advance(3000);
  assert.is(wifi.status.state, 'connected');
  assert.is(wifi.status.ssid, 'phone');
  // After a success the backoff starts again from its base.
  phone.down();
  clock.advance(3000);
  const start = clock.now();
  while ((wifi.status.state as string) === 'waiting') clock.advance(100);
  assert.ok(clock.now() - start <= 2100, `first wait after a success: ${clock.now() - start} ms`);
});

w('wifi: an association that never answers times out', () => {
  const clock = new ManualClock(T0);
  const silent = { onEvent: null, connect() {}, disconnect() {} };
  const wifi = new WifiManager({ clock, random: seededRandom(1), radio: silent, networks: [{ ssid: 'x', psk: 'y' }], associateTimeoutMs: 20_000 });
  wifi.start();
  clock.advance(19_999);
  assert.is(wifi.status.state, 'connecting');
  clock.advance(1);
  assert.is(wifi.status.state, 'waiting');
  assert.match(wifi.status.lastFailure!, /timed out/);
});

w('wifi: no configured network stays idle; stop disconnects', () => {
  const { clock, wifi, radio } = rig([]);
  wifi.start();
  assert.is(wifi.status.state, 'idle');
  wifi.setNetworks([{ ssid: 'home', psk: 'secret1' }]);
  clock.advance(1500);
  assert.is(wifi.status.state, 'connected');
  wifi.stop();
  assert.is(wifi.status.state, 'idle');
  assert.is(radio.associated, null);
});

w.run();
