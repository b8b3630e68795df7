// `rover run`: the firmware on the simulated board with a rig and a world, no cloud.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, extname, resolve } from 'node:path';
import { jsonLine, num, parse, UsageError } from './cli.ts';
import { RtRun } from '../sim/rt-run.ts';
import type { Profile, WorldSpec } from '../sim/world.ts';
import { compile, WorldError } from '../sim/world.ts';
import { Random } from '../boards/random.ts';
import { HardwareError } from '../boards/hardware.ts';
import type { Batch } from '../hlcore/intercore/frame.ts';

export const help = `rover run [--rig FILE] [--distance-cm N | --profile FILE] [--temp C] [--seconds N]
          [--seed N] [--vcd FILE] [--json]

Runs the real rtcore.wasm on the cycle-accurate MT3620 board with the rig's rangers, in a world,
with hlcore's intercore client acknowledging the batch frames. No cloud.

  --rig FILE        rig file, or the name of one in boards/rigs/ (default rover-hcsr04;
                    also rover-grove, rover-avnet)
  --distance-cm N   every ranger sees a target at N cm (default 150)
  --profile FILE    world file: .json {"distanceCm": {"left"|"right"|"*": PROFILE}, "temperatureC": PROFILE}
                    where PROFILE is a number, null (nothing in range), or {"kind": "constant"|"ramp"|
                    "steps"|"walk"|"csv", ...}; or .csv lines "seconds,cm" for every ranger
  --temp C          air temperature of the world, also sent to the firmware as its configured
                    temperature (default 20)
  --seconds N       simulated seconds to run (default 60)
  --seed N          seed for every random choice (default 1): same seed, same waveforms and frames
  --vcd FILE        write TRIG/ECHO waveforms (GTKWave, PulseView)
  --json            one JSON object per batch frame, then a summary object

Exit code 0 on success; 2 for a bad argument or file; 1 if the firmware halted.`;

function loadProfile(file: string): WorldSpec {
  const ext = extname(file).toLowerCase();
  if (ext === '.csv') return { distanceCm: { '*': { kind: 'csv', file: resolve(file) } } };
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new UsageError(`--profile: cannot read ${file}`);
  }
  let spec: any;
  try {
    spec = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`--profile: ${file} is not valid JSON (${(e as Error).message})`);
  }
  if (!spec || typeof spec !== 'object' || typeof spec.distanceCm !== 'object' || spec.distanceCm === null) {
    throw new UsageError(`--profile: ${file} needs a "distanceCm" object (part id or "*" -> profile)`);
  }
  for (const k of Object.keys(spec)) if (!['distanceCm', 'temperatureC', '$comment'].includes(k)) throw new UsageError(`--profile: ${file}: unknown key '${k}'`);
  // CSV paths inside a profile are relative to the profile file.
  const fix = (p: Profile): Profile => (p && typeof p === 'object' && p.kind === 'csv' ? { ...p, file: resolve(dirname(file), p.file) } : p);
  const out: WorldSpec = { distanceCm: {} };
  for (const [k, v] of Object.entries(spec.distanceCm)) out.distanceCm[k] = fix(v as Profile);
  if (spec.temperatureC !== undefined) out.temperatureC = fix(spec.temperatureC);
  // Check every profile now, so a mistake is reported before anything runs.
  for (const [k, p] of Object.entries(out.distanceCm)) compile(p, `${file}: distanceCm.${k}`, new Random(1));
  if (out.temperatureC !== undefined) compile(out.temperatureC, `${file}: temperatureC`, new Random(1));
  return out;
}

function batchJson(b: Batch) {
  return {
    type: 'batch',
    seq: b.seq,
    firstSampleUs: Number(b.firstSampleUs),
    periodMs: b.periodMs,
    rangers: b.rangers,
    samplesMm: b.samples,
    kinds: b.kinds,
    flags: { compensated: b.compensated },
    temperatureC: b.temperatureC,
    counters: b.counters,
  };
}

export async function main(argv: string[]): Promise<number> {
  const a = parse(argv, {
    rig: { type: 'string' },
    'distance-cm': { type: 'string' },
    profile: { type: 'string' },
    temp: { type: 'string' },
    seconds: { type: 'string' },
    seed: { type: 'string' },
    vcd: { type: 'string' },
    json: { type: 'boolean' },
  }, help);
  if (!a) return 0;
  const v = a.values;
  if (v['distance-cm'] !== undefined && v.profile !== undefined) throw new UsageError('--distance-cm and --profile exclude each other');
  const seconds = num('seconds', v.seconds, 60, (n) => n > 0 && n <= 86400 * 40, 'seconds between 0 and 3456000');
  const seed = num('seed', v.seed, 1, (n) => Number.isInteger(n) && n >= 0 && n < 2 ** 32, 'an integer 0..4294967295');
  const temp = v.temp === undefined ? undefined : num('temp', v.temp, 20, (n) => n >= -40 && n <= 85, 'degrees C between -40 and 85');
  let world: WorldSpec;
  try {
    world = v.profile ? loadProfile(v.profile) : { distanceCm: { '*': num('distance-cm', v['distance-cm'], 150, (n) => n >= 0, 'centimetres >= 0') } };
  } catch (e) {
    if (e instanceof WorldError) throw new UsageError(e.message);
    throw e;
  }
  if (temp !== undefined) world.temperatureC = temp;

  let run: RtRun;
  try {
    run = new RtRun({ rig: v.rig, world, seed, vcd: !!v.vcd, configuredTemperatureC: temp ?? (world.temperatureC === undefined ? 20 : undefined) });
  } catch (e) {
    if (e instanceof HardwareError || e instanceof WorldError) throw new UsageError(e.message);
    throw e;
  }
  const names = run.board.opts.rig.rangers;
  const tty = !v.json && process.stdout.isTTY;
  const wall0 = performance.now();
  run.boot();
  let shown = 0;
  const show = () => {
    for (; shown < run.batches.length; shown++) {
      const b = run.batches[shown];
      if (v.json) jsonLine(batchJson(b));
      else {
        const last = names.map((n, r) => {
          const mm = b.samples[r][b.polls - 1];
          return `${n} ${mm === null ? b.kinds[r][b.polls - 1].padStart(8) : (mm / 10).toFixed(1).padStart(6) + ' cm'}`;
        });
        const line = `t=${run.board.seconds().toFixed(1).padStart(7)} s  ${last.join('  ')}  batch #${b.seq}  readings ${b.counters.readings}  no-echo ${b.counters.noEcho}`;
        process.stdout.write(tty ? `\r${line}\x1b[K` : line + '\n');
      }
    }
  };
  let halted: string | null = null;
  for (let t = 0; t < seconds && !halted; ) {
    const step = Math.min(1, seconds - t);
    try {
      run.runFor(step);
    } catch (e) {
      halted = (e as Error).message;
    }
    t += step;
    show();
  }
  if (tty) process.stdout.write('\n');
  const wallSeconds = (performance.now() - wall0) / 1000;
  if (v.vcd && run.board.vcd) {
    mkdirSync(dirname(resolve(v.vcd)), { recursive: true });
    writeFileSync(v.vcd, run.board.vcd.toString(run.board.machine.now));
  }
  let readings = 0;
  let noEcho = 0;
  for (const b of run.batches) for (const ks of b.kinds) for (const k of ks) {
    readings++;
    if (k === 'noEcho') noEcho++;
  }
  const last = run.batches.at(-1);
  const summary = {
    type: 'summary',
    simSeconds: run.board.seconds(),
    wallSeconds,
    speed: run.board.seconds() / wallSeconds,
    batches: run.batches.length,
    readings,
    noEcho,
    rtCounters: last?.counters ?? null,
    duplicatesDropped: run.client.stats.duplicates,
    framesRejected: run.client.stats.rejected,
    halted,
    vcd: v.vcd ? resolve(v.vcd) : null,
  };
  if (v.json) jsonLine(summary);
  else {
    console.log(`${summary.simSeconds.toFixed(1)} simulated s in ${wallSeconds.toFixed(2)} wall s (${summary.speed.toFixed(0)}x); ` +
      `${summary.batches} batches, ${readings} readings delivered, ${noEcho} no-echo${summary.vcd ? `; waveforms in ${summary.vcd}` : ''}`);
  }
  if (halted) {
    console.error(`rover run: ${halted}`);
    return 1;
  }
  return 0;
}
