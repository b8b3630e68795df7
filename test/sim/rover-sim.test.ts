// The whole rover in one simulation (issue: scenarios in CI): the built-in scenarios' expectations,
// the accounting equation, determinism of telemetry rows and waveforms, and the CLI's exit codes.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import Database from 'better-sqlite3';
import { runSimulation, type SimResult } from '../../sim/rover-sim.ts';
import { loadScenario } from '../../sim/scenario.ts';

const s = suite('rover sim (whole system)');
const dir = mkdtempSync(join(tmpdir(), 'rover-sim-'));

function check(r: SimResult) {
  for (const e of r.expectations) assert.ok(e.pass, `${r.scenario}: ${e.text}: ${e.detail}`);
  const a = r.accounting;
  assert.is(a.taken, a.stored + a.dropped, 'taken = stored + dropped');
  assert.is(a.dropped, 0, 'nothing dropped in a built-in scenario');
  assert.ok(a.taken > 0);
}

s('default: everything delivered, the writable property acknowledged, report and files written', async () => {
  const r = await runSimulation({ scenario: loadScenario('default'), outDir: join(dir, 'default') });
  check(r);
  assert.is(r.accounting.taken, 11900, '119 batches of 2 x 50 readings close in 10 minutes');
  const html = readFileSync(r.files.report, 'utf8');
  assert.match(html, /readings taken 11900 = stored in the hub 11900 \+ dropped 0/);
  assert.match(readFileSync(r.files.vcd, 'utf8'), /\$var wire 1 \S+ left\.TRIG \$end/);
  const db = new Database(r.files.telemetry, { readonly: true });
  const rows = db.prepare('SELECT COUNT(*) AS n FROM telemetry').get() as { n: number };
  db.close();
  assert.ok(rows.n >= 119, `${rows.n} rows in the hub's store`);
});

s('sensor-faults: stuck, missed and spurious echoes counted; the stuck sensor recovers; nothing lost', async () => {
  check(await runSimulation({ scenario: loadScenario('sensor-faults'), outDir: join(dir, 'faults') }));
});

s('outages: Wi-Fi down, broker down ten minutes, HL killed mid-outage: nothing lost', async () => {
  const r = await runSimulation({ scenario: loadScenario('outages'), outDir: join(dir, 'outages') });
  check(r);
});

s('ca-rollover: refused with the issuer diagnosis after activation, registered six hours later, nothing lost', async () => {
  const r = await runSimulation({ scenario: loadScenario('ca-rollover'), outDir: join(dir, 'rollover'), vcdSeconds: 60 });
  check(r);
  const first = r.refusals[0];
  // tenant-ca.md, policy 2020: CA 1 is Active from 2026-06-01T00:00Z; the device's certificate renewed at
  // 08:00 comes from it and is refused until the operator registers it at 14:00.
  assert.ok(first.at >= Date.UTC(2026, 5, 1, 8) && first.at < Date.UTC(2026, 5, 1, 8, 1), `first refusal at ${new Date(first.at).toISOString()}`);
  assert.ok(r.refusals.every((x) => x.at < Date.UTC(2026, 5, 1, 14, 1)), 'no refusal after the registration');
  assert.match(first.reason, /issuer [0-9A-F]{40} .* is not registered in any enrollment group/);
});

s('a 39-day power-off skips ahead: seconds of wall time; the device renews its expired certificate and delivers', async () => {
  const f = join(dir, 'power-off.json');
  writeFileSync(f, JSON.stringify({
    name: 'power-off',
    start: '2026-06-01T08:00:00Z',
    duration: 120 + 39 * 86400 + 600,
    seed: 5,
    tenant: { policy: '2020', createdAt: '2026-01-01', registered: 'all' },
    world: { distanceCm: { '*': 150 } },
    events: [{ at: '2m', do: 'power-off', for: '39d' }],
    expect: [{ kind: 'all-accounted' }, { kind: 'no-auth-failure' }],
  }));
  const r = await runSimulation({ scenario: loadScenario(f), outDir: join(dir, 'power-off') });
  for (const e of r.expectations) assert.ok(e.pass, `${e.text}: ${e.detail}`);
  assert.ok(r.wallSeconds < 60, `${r.wallSeconds} s of wall time for 39 days`);
  // Readings from before and after the power-off reached the hub: 2 minutes and 10 minutes.
  assert.ok(r.accounting.stored >= (23 + 119) * 100 - 300, `${r.accounting.stored} readings stored`);
});

s('same scenario and seed: the same telemetry rows (content and simulated times) and the same VCD', async () => {
  const sc = loadScenario('outages');
  const run = async (name: string) => {
    const r = await runSimulation({ scenario: sc, durationS: 240, outDir: join(dir, name) });
    const db = new Database(r.files.telemetry, { readonly: true });
    const rows = db.prepare('SELECT body, properties, message_id, created_at, arrived_at FROM telemetry ORDER BY seq').all();
    db.close();
    return { rows: JSON.stringify(rows), vcd: readFileSync(r.files.vcd, 'utf8') };
  };
  const a = await run('det-a');
  const b = await run('det-b');
  assert.ok(a.rows.length > 10_000);
  assert.ok(a.rows === b.rows, 'telemetry rows differ between two runs');
  assert.ok(a.vcd === b.vcd, 'VCD differs between two runs');
});

s('CLI: a failed expectation is exit 1 naming it; a bad scenario file is exit 2', () => {
  const f = join(dir, 'strict.json');
  const sc = JSON.parse(readFileSync(new URL('../../sim/scenarios/default.json', import.meta.url), 'utf8'));
  sc.duration = '30s';
  sc.events = [];
  sc.expect = [{ kind: 'max-delivery-latency', seconds: 0.001 }];
  writeFileSync(f, JSON.stringify(sc));
  const rover = (...a: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'tools/rover.ts', 'sim', ...a], { cwd: new URL('../../', import.meta.url).pathname, encoding: 'utf8' });
  const r = rover(f, '--json', '--out', join(dir, 'strict'));
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, /expectation failed: delivery latency at most 0\.001 s \(worst/);
  const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
  assert.is(summary.ok, false);
  sc.events = [{ at: '1m', do: 'wifi-down', for: '10s' }];
  writeFileSync(f, JSON.stringify(sc));
  const bad = rover(f);
  assert.is(bad.status, 2);
  assert.match(bad.stderr, /events\[0\] \(at 1m\): after the end of the scenario \(30s\)/);
});

s.after(() => rmSync(dir, { recursive: true, force: true }));
s.run();
