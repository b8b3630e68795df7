// `rover sim`: the whole rover (firmware, board, hlcore, cloud emulators) under one simulated clock,
// driven by a scenario; exit code non-zero when an expectation fails.
import { jsonLine, num, parse, UsageError, CommandError } from './cli.ts';
import { builtInScenarios, loadScenario, ScenarioError, parseDuration } from '../sim/scenario.ts';
import { runSimulation } from '../sim/rover-sim.ts';

export const help = `rover sim [SCENARIO|FILE] [--seed N] [--out DIR] [--duration D] [--json]

Runs a scenario (default: default) end to end: the real rtcore.wasm on the cycle-accurate board,
hlcore, and the cloud emulators (Security Service, relying party, DPS + IoT Hub over TLS on
127.0.0.1), all under one simulated clock. Built-in scenarios: ${builtInScenarios().join(', ')}
(sim/scenarios/*.json); FILE is a scenario file of the same form.

  --seed N       override the scenario's seed (same seed, same telemetry and waveforms)
  --out DIR      where to write report.html, trace.vcd, telemetry.db (default out/)
  --duration D   override the scenario's duration ("10m", "1h", seconds)
  --json         no live view; one JSON object: the summary
Writes DIR/report.html (charts, expectations, accounting), DIR/trace.vcd (the first 10 minutes of
TRIG/ECHO), DIR/telemetry.db (the hub's SQLite store). Exit 0 when every expectation holds, 1 when
one fails (named on stderr), 2 for a bad argument or scenario file.`;

export async function main(argv: string[]): Promise<number> {
  const a = parse(argv, { seed: { type: 'string' }, out: { type: 'string' }, duration: { type: 'string' }, json: { type: 'boolean' } }, help, true);
  if (!a) return 0;
  if (a.positionals.length > 1) throw new UsageError(`one scenario at a time, got ${a.positionals.join(' ')}`);
  let scenario;
  try {
    scenario = loadScenario(a.positionals[0] ?? 'default');
  } catch (e) {
    if (e instanceof ScenarioError) throw new UsageError(e.message);
    throw e;
  }
  const seed = a.values.seed === undefined ? undefined : num('seed', a.values.seed, 1, (n) => Number.isInteger(n) && n >= 0 && n < 2 ** 32, 'an integer 0..4294967295');
  let durationS: number | undefined;
  try {
    durationS = a.values.duration === undefined ? undefined : parseDuration(a.values.duration, '--duration');
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const json = !!a.values.json;
  const r = await runSimulation({ scenario, seed, outDir: a.values.out ?? 'out', durationS, live: !json });
  const acc = r.accounting;
  if (json) jsonLine({ type: 'summary', ...r });
  else {
    console.log(`\n${r.scenario} (seed ${r.seed}): ${r.simSeconds.toFixed(0)} simulated s in ${r.wallSeconds.toFixed(1)} wall s (${(r.simSeconds / r.wallSeconds).toFixed(0)}x)`);
    console.log(`readings taken ${acc.taken} = stored in the hub ${acc.stored} + dropped ${acc.dropped}${Object.entries(acc.reasons).map(([k, v]) => `; ${k}: ${v}`).join('')}`);
    for (const e of r.expectations) console.log(`  ${e.pass ? 'pass' : 'FAIL'}  ${e.text}: ${e.detail}`);
    console.log(`report: ${r.files.report}\nwaveforms: ${r.files.vcd}\ntelemetry: ${r.files.telemetry}`);
  }
  const failed = r.expectations.filter((e) => !e.pass);
  if (failed.length) throw new CommandError(`expectation failed: ${failed[0].text} (${failed[0].detail})${failed.length > 1 ? ` and ${failed.length - 1} more` : ''}`);
  return 0;
}
