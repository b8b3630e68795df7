// Benchmark for boards/instrument.ts (not a test): how fast the rewriter runs on an AssemblyScript
// release build, and what the inserted charges cost the simulator at run time, as ratios measured in
// this one run. Usage: node --import tsx perf/instrument.ts
import asc from 'assemblyscript/dist/asc.js';
import { performance } from 'node:perf_hooks';
import { instrument } from '../boards/instrument.ts';
import { cortexM4FCosts } from '../boards/mt3620/cortex-m4f-costs.ts';

// A firmware-like inner loop: integer and float math, memory traffic, a HAL call now and then.
const SOURCE = `
@external("env", "hal") declare function hal(x: i32): void;
export function work(n: i32): i32 {
  let acc: i32 = 1; let f: f32 = 0.5; let d: f64 = 1.0;
  for (let i = 0; i < n; i++) {
    acc = acc * 1103515245 + 12345 + (i >> 3);
    store<i32>(32768 + ((i & 1023) << 2), acc);
    f = f * <f32>0.999 + <f32>(acc & 255);
    d = d * 1.0000001 + <f64>f;
    if ((i & 4095) == 0) hal(acc);
  }
  return acc ^ load<i32>(32768) ^ <i32>f ^ <i32>d;
}`;

const res = await asc.compileString({ 'bench.ts': SOURCE }, {
  optimizeLevel: 3, shrinkLevel: 0, runtime: 'stub', noAssert: true, initialMemory: 1,
});
if (res.error || !res.binary) throw new Error(`asc failed: ${res.error?.message}`);
const plain = new Uint8Array(res.binary);

const reps = 2000;
let out = instrument(plain, cortexM4FCosts);
for (let i = 0; i < 2000; i++) instrument(plain, cortexM4FCosts); // let the JIT warm up
const t0 = performance.now();
for (let i = 1; i < reps; i++) out = instrument(plain, cortexM4FCosts);
const perCall = (performance.now() - t0) / reps;

async function time(bin: Uint8Array<ArrayBuffer>, n: number): Promise<{ ms: number; cycles: number }> {
  let exports: Record<string, any> = {};
  let cycles = 0;
  const take = () => {
    if (!('__cycles' in exports)) return;
    cycles += exports.__cycles.value >>> 0;
    exports.__cycles.value = 0;
  };
  const { instance } = await WebAssembly.instantiate(bin, { env: { hal: take, abort: () => {} } });
  exports = instance.exports;
  exports.work(n / 10); // warm up the tiers
  cycles = 0;
  const start = performance.now();
  exports.work(n);
  const ms = performance.now() - start;
  take();
  return { ms, cycles };
}

const n = 5_000_000;
const a = await time(plain, n);
const b = await time(out, n);
console.log(`instrument: ${plain.length} B -> ${out.length} B (x${(out.length / plain.length).toFixed(2)}), ` +
  `${perCall.toFixed(2)} ms per module (${(plain.length / 1024 / perCall * 1000 / 1024).toFixed(1)} MiB/s)`);
console.log(`run time, ${n} iterations: plain ${a.ms.toFixed(1)} ms, instrumented ${b.ms.toFixed(1)} ms, ` +
  `ratio ${(b.ms / a.ms).toFixed(2)}`);
console.log(`simulated: ${b.cycles} cycles = ${(b.cycles / n).toFixed(1)} cycles/iteration = ` +
  `${(b.cycles / cortexM4FCosts.clockHz * 1000).toFixed(1)} ms of M4F time at ${cortexM4FCosts.clockHz / 1e6} MHz`);
