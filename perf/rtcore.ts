// Benchmark (not a test): one simulated hour of firmware + board + two HC-SR04 rangers.
// Reports simulated seconds per wall second (goal >= 1000) and the cost of cycle counting: the
// same hour with the release binary as shipped, charged the instrumented run's average firmware
// cycles per HAL call so that both runs do the same simulated work. Ratios from one run.
// Usage: node --import tsx perf/rtcore.ts
import { performance } from 'node:perf_hooks';
import { RtRun, loadFirmware } from '../sim/rt-run.ts';
import { HAL_IMPORTS } from '../boards/mt3620/m4-core.ts';
import { instrument } from '../boards/instrument.ts';
import { cortexM4FCosts } from '../boards/mt3620/cortex-m4f-costs.ts';

const HOUR = 3600;
const world = { distanceCm: { left: { kind: 'walk' as const, start: 150, step: 5, min: 20, max: 390, every: 0.5 }, right: 222 } };

function hour(core?: { uninstrumented: boolean; cyclesPerHalCall: number }) {
  const run = new RtRun({ world, seed: 1, core }).boot();
  const t0 = performance.now();
  run.runFor(HOUR);
  const wall = (performance.now() - t0) / 1000;
  return { wall, stats: run.board.core.stats, batches: run.batches.length, readings: run.batches.reduce((n, b) => n + b.polls * b.rangers, 0) };
}

/** Record ten simulated minutes of HAL answers and entry-point calls, then feed the identical
 *  sequence to the release binary and to the instrumented one: the firmware does exactly the same
 *  work in both, so the wall-time ratio is the pure cost of the counting code. */
function replayOverhead(): { release: number; instrumented: number } {
  const rets: number[] = [];
  const writes = new Map<number, Uint8Array>();
  const calls: [string, number[]][] = [];
  let mem: () => Uint8Array = () => new Uint8Array(0);
  const run = new RtRun({
    world,
    seed: 1,
    core: {
      onHal: (name, args, ret) => {
        if (name === 'mbox_recv' && ret! > 0) writes.set(rets.length, mem().slice(args[0], args[0] + ret!));
        rets.push(ret ?? 0);
      },
      onExport: (name, args) => calls.push([name, [...args], rets.length] as any),
    },
  });
  mem = () => new Uint8Array((run.board.core as any).exports.memory.buffer);
  run.boot().runFor(600);
  const time = (bytes: Uint8Array) => {
    let i = 0;
    let ex: any;
    const hal: Record<string, (...a: number[]) => number> = {};
    for (const n of Object.keys(HAL_IMPORTS)) {
      hal[n] = n === 'mbox_recv' ? (ptr) => { const w = writes.get(i); if (w) new Uint8Array(ex.memory.buffer).set(w, ptr); return rets[i++]; } : () => rets[i++];
    }
    const mod = new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>);
    let best = Infinity;
    for (let rep = 0; rep < 3; rep++) {
      i = 0;
      ex = new WebAssembly.Instance(mod, { hal }).exports;
      const t0 = performance.now();
      for (const [name, args] of calls) ex[name](...args);
      best = Math.min(best, performance.now() - t0);
    }
    return best / 1000;
  };
  const wasm = loadFirmware();
  return { release: time(wasm), instrumented: time(instrument(wasm, cortexM4FCosts)) };
}

export async function run(): Promise<Record<string, number | string>> {
  hour(); // warm-up: module compile, JIT
  const inst = hour();
  const perHal = inst.stats.codeCycles / inst.stats.halCalls;
  const rel = hour({ uninstrumented: true, cyclesPerHalCall: perHal });
  const replay = replayOverhead();
  return {
    'rtcore.simSecondsPerWallSecond': Math.round(HOUR / inst.wall),
    'rtcore.wallSecondsPerSimHour': +inst.wall.toFixed(3),
    'rtcore.batchesPerHour': inst.batches,
    'rtcore.readingsPerHour': inst.readings,
    'rtcore.halCallsPerSimSecond': Math.round(inst.stats.halCalls / HOUR),
    'rtcore.firmwareCyclesPerSimSecond': Math.round(inst.stats.codeCycles / HOUR),
    // Per poll of one ranger (trigger, echo edges, timeout bookkeeping, its share of the batch and
    // link work): all core cycles (code + HAL accesses + interrupt entry/exit) over the polls done.
    'rtcore.coreCyclesPerPoll': Math.round((inst.stats.codeCycles + inst.stats.halCycles + inst.stats.irqCycles) / inst.readings),
    'rtcore.coreLoadPercent': +((100 * (inst.stats.codeCycles + inst.stats.halCycles + inst.stats.irqCycles)) / (HOUR * 197_600_000)).toFixed(3),
    // Whole run with the release binary: the same hour, but its busy-waits spin a different number
    // of times (time per HAL call is an average there), so compare wall time per HAL call.
    'rtcore.releaseRunWallSecondsPerSimHour': +rel.wall.toFixed(3),
    'rtcore.wholeRunOverheadPerHalCall': +((inst.wall / inst.stats.halCalls) / (rel.wall / rel.stats.halCalls)).toFixed(2),
    // Firmware alone on an identical replayed input: the pure cost of the counting code.
    'rtcore.replayReleaseMs': +(replay.release * 1000).toFixed(1),
    'rtcore.replayInstrumentedMs': +(replay.instrumented * 1000).toFixed(1),
    'rtcore.firmwareInstrumentationOverhead': +(replay.instrumented / replay.release).toFixed(2),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const [k, v] of Object.entries(await run())) console.log(`${k.padEnd(44)} ${v}`);
}
