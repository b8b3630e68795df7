// Benchmark (not a test): the whole rover. The `default` scenario stretched to one simulated hour:
// simulated seconds per wall second (goal >= 100), and where the wall time goes — firmware (the
// wasm), board (boards/), hlcore, broker (sim/cloud + aedes + MQTT), TLS and sockets (node
// internals), orchestrator (the rest of sim/) — measured by V8's sampling CPU profiler and split by
// the source file of each sampled frame. Then `ca-rollover` end to end: its wall time.
// Usage: node --import tsx perf/sim.ts [--skip-rollover]
import { Session } from 'node:inspector/promises';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runSimulation } from '../sim/rover-sim.ts';
import { loadScenario } from '../sim/scenario.ts';

function bucket(url: string, fn: string): string {
  if (url.startsWith('wasm://') || fn.startsWith('$') || url === '' && /^(wasm-function|\$)/.test(fn)) return 'firmware (wasm)';
  if (url.includes('/boards/')) return 'board';
  if (url.includes('/hlcore/') || url.includes('/node_modules/mqtt/') || url.includes('@peculiar')) return 'hlcore (+MQTT.js)';
  if (url.includes('/sim/cloud/') || url.includes('/node_modules/aedes') || url.includes('mqtt-packet') || url.includes('better-sqlite3')) return 'broker + hub store';
  if (url.includes('/sim/')) return 'orchestrator';
  if (url.startsWith('node:') || url === '') return 'node (TLS, sockets, GC, idle)';
  return 'other libraries';
}

export async function run(): Promise<Record<string, number | string>> {
  const out: Record<string, number | string> = {};
  const dir = mkdtempSync(join(tmpdir(), 'perf-sim-'));
  try {
    const session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 500 });
    await session.post('Profiler.start');
    const r = await runSimulation({ scenario: loadScenario('default'), durationS: 3600, outDir: join(dir, 'default') });
    const { profile } = await session.post('Profiler.stop');
    session.disconnect();
    out['sim.default1h.simSecondsPerWallSecond'] = Math.round(r.simSeconds / r.wallSeconds);
    out['sim.default1h.wallSeconds'] = +r.wallSeconds.toFixed(2);
    out['sim.default1h.readingsTakenStored'] = `${r.accounting.taken}/${r.accounting.stored}`;
    // Batch frame out of the RT core -> hlcore -> outbox -> MQTT/TLS -> broker -> SQLite row, wall clock
    // (includes the profiler's overhead; the run without it is below).
    out['sim.default1h.frameToRowMs.median(profiled)'] = r.wallLatencyMs.median;
    out['sim.default1h.frameToRowMs.p99(profiled)'] = r.wallLatencyMs.p99;
    // Self time per node = its hit count x interval; split by file.
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const counts = new Map<number, number>();
    for (const s of profile.samples ?? []) counts.set(s, (counts.get(s) ?? 0) + 1);
    const shares = new Map<string, number>();
    let total = 0;
    for (const [id, c] of counts) {
      const n = byId.get(id)!;
      const name = n.callFrame.functionName;
      const b = name === '(idle)' ? 'idle (waiting for I/O)' : name === '(garbage collector)' ? 'node (TLS, sockets, GC, idle)' : bucket(n.callFrame.url, name);
      shares.set(b, (shares.get(b) ?? 0) + c);
      total += c;
    }
    for (const [b, c] of [...shares].sort((x, y) => y[1] - x[1])) out[`sim.default1h.share.${b}`] = `${((100 * c) / total).toFixed(1)}%`;
    const plain = await runSimulation({ scenario: loadScenario('default'), outDir: join(dir, 'plain') });
    out['sim.default10m.simSecondsPerWallSecond'] = Math.round(plain.simSeconds / plain.wallSeconds);
    out['sim.default10m.frameToRowMs.median'] = plain.wallLatencyMs.median;
    out['sim.default10m.frameToRowMs.p99'] = plain.wallLatencyMs.p99;
    out['sim.default10m.frameToRowMs.batches'] = plain.wallLatencyMs.n;
    if (!process.argv.includes('--skip-rollover')) {
      const c = await runSimulation({ scenario: loadScenario('ca-rollover'), outDir: join(dir, 'rollover') });
      out['sim.caRollover.wallSeconds'] = +c.wallSeconds.toFixed(1);
      out['sim.caRollover.simSecondsPerWallSecond'] = Math.round(c.simSeconds / c.wallSeconds);
      out['sim.caRollover.ok'] = String(c.ok);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const [k, v] of Object.entries(await run())) console.log(`${k.padEnd(52)} ${v}`);
  process.exit(0);
}
