// The instrumented binary behaves exactly like the release binary apart from counting (DESIGN.md,
// contract 2). The instrumented firmware runs on the board for a while with every HAL call and
// every entry-point call recorded; then the unmodified release binary is driven through the same
// entry points with the recorded HAL answers. It must make the same HAL calls with the same
// arguments, in the same order, and end with the same memory, byte for byte.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { RtRun, loadFirmware } from '../../sim/rt-run.ts';
import { HAL_IMPORTS } from '../../boards/mt3620/m4-core.ts';

type Step = { kind: 'hal'; name: string; args: number[]; ret: number | undefined; wrote?: Uint8Array } | { kind: 'export'; name: string; args: number[] };

const memoryOf = (run: RtRun) => new Uint8Array((run.board.core as any).exports.memory.buffer);

const eq = suite('instrumented vs release');

eq('same HAL calls, same arguments, same memory over 30 s with faults and commands', () => {
  const trace: Step[] = [];
  const run = new RtRun({
    world: { distanceCm: { left: { kind: 'walk', start: 150, step: 20, min: 1, max: 450, every: 0.2 }, right: 77.7 }, temperatureC: -5 },
    configuredTemperatureC: -5,
    seed: 9,
    core: {
      onHal: (name, args, ret) => {
        // mbox_recv writes the message into firmware memory: replay must write the same bytes.
        const wrote = name === 'mbox_recv' && ret! > 0 ? memoryOf(run).slice(args[0], args[0] + ret!) : undefined;
        trace.push({ kind: 'hal', name, args: [...args], ret, wrote });
      },
      onExport: (name, args) => trace.push({ kind: 'export', name, args: [...args] }),
    },
  }).boot();
  run.board.rangers[0].setFaultRates({ missed: 0.05, spurious: 0.05, stuck: 0.01 });
  run.runFor(30);
  const stats = run.board.core.stats;
  assert.ok(stats.halCalls > 10_000 && trace.length > stats.halCalls, `${stats.halCalls} HAL calls traced`);
  const finalMemory = memoryOf(run).slice();

  // Replay into the release binary, not instrumented.
  let i = 0;
  const hal: Record<string, (...a: number[]) => number | undefined> = {};
  for (const name of Object.keys(HAL_IMPORTS)) {
    hal[name] = (...args: number[]) => {
      const s = trace[i++];
      if (!s || s.kind !== 'hal' || s.name !== name || s.args.length !== args.length || s.args.some((a, k) => a !== args[k])) {
        throw new Error(`step ${i - 1}: release called hal.${name}(${args}), instrumented had ${JSON.stringify(s)}`);
      }
      if (s.wrote) new Uint8Array(ex.memory.buffer).set(s.wrote, args[0]);
      return s.ret;
    };
  }
  let ex: Record<string, any> = {};
  const inst = new WebAssembly.Instance(new WebAssembly.Module(loadFirmware() as Uint8Array<ArrayBuffer>), { hal });
  ex = inst.exports as Record<string, any>;
  while (i < trace.length) {
    const s = trace[i++];
    assert.is(s.kind, 'export', `step ${i - 1}: the release binary made fewer HAL calls`);
    ex[s.name](...s.args);
  }
  assert.is(i, trace.length);
  const mem = new Uint8Array(ex.memory.buffer);
  assert.ok(Buffer.compare(mem, finalMemory) === 0, 'final memory differs');
});

eq.run();
