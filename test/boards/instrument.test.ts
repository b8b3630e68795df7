// Tests for boards/instrument.ts and the Cortex-M4F cost table, against independent truth:
// hand-written WAT (assembled by wabt, not by us) whose executed instruction sequence we know, priced
// by summing cost-table entries looked up with opcodes written here from the wasm spec (§5.4),
// independently of how the instrumenter segments the code.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import wabtInit from 'wabt';
import asc from 'assemblyscript/dist/asc.js';
import { instrument, OPCODES, NO_COST } from '../../boards/instrument.ts';
import { cortexM4FCosts as C, costByName, describe } from '../../boards/mt3620/cortex-m4f-costs.ts';

const wabt = await wabtInit();
const wat = (src: string): Uint8Array<ArrayBuffer> =>
  new Uint8Array(wabt.parseWat('t.wat', src, { multi_value: true, simd: true, tail_call: true }).toBinary({ write_debug_names: true }).buffer);

// Opcodes of the instructions the test modules use, from the wasm spec §5.4 (not from the instrumenter).
const SPEC: Record<string, number> = {
  unreachable: 0x00, block: 0x02, loop: 0x03, if: 0x04, else: 0x05, end: 0x0b, br: 0x0c, br_if: 0x0d,
  br_table: 0x0e, return: 0x0f, call: 0x10, 'local.get': 0x20, 'local.set': 0x21, 'local.tee': 0x22,
  'global.get': 0x23, 'global.set': 0x24, 'i32.const': 0x41, 'i32.eqz': 0x45, 'i32.eq': 0x46, 'i32.lt_s': 0x48,
  'i32.add': 0x6a, 'i32.sub': 0x6b, 'i32.mul': 0x6c, 'i32.div_s': 0x6d, 'f32.add': 0x92, 'f64.add': 0xa0,
  'i32.load8_u': 0x2d, 'f32.const': 0x43, 'i32.extend8_s': 0xc0, return_call: 0x12,
};
// 0xFC-prefixed sub-opcodes (non-trapping float-to-int and bulk-memory proposals).
const SPEC_FC: Record<string, number> = {
  'i32.trunc_sat_f32_s': 0, 'memory.init': 8, 'data.drop': 9, 'memory.copy': 10, 'memory.fill': 11,
};
/** Sum of the table's cycles for an executed sequence written as space-separated mnemonics. */
const cycles = (seq: string): number =>
  seq.trim().split(/\s+/).reduce((sum, name) => {
    const op = SPEC[name];
    const fc = SPEC_FC[name];
    if (fc !== undefined) return sum + C.prefixed.get(fc)!;
    if (op === undefined) throw new Error(`test: add ${name} to SPEC`);
    return sum + C.single[op]!;
  }, 0);
const times = (n: number, seq: string) => Array(n).fill(seq).join(' ');

type Exports = Record<string, any>;
async function run(bin: Uint8Array<ArrayBuffer>, imports: WebAssembly.Imports = {}): Promise<Exports> {
  const { instance } = await WebAssembly.instantiate(bin, imports);
  return instance.exports as Exports;
}
const counter = (e: Exports) => (e.__cycles as WebAssembly.Global).value >>> 0;
/** Host contract: read and reset. */
const take = (e: Exports) => {
  const d = counter(e);
  e.__cycles.value = 0;
  return d;
};

// ---------------------------------------------------------------------------------------------
// (a) exact counting

const MODULE = wat(`(module
  (import "env" "probe" (func $probe (param i32) (result i32)))
  (func (export "straight") (param i32 i32) (result i32)
    local.get 0 local.get 1 i32.add i32.const 3 i32.mul local.get 0 i32.div_s)
  (func (export "sum") (param $n i32) (result i32) (local $i i32) (local $s i32)
    block $done
      local.get $n
      i32.eqz
      br_if $done
      loop $l
        local.get $s local.get $i i32.add local.set $s
        local.get $i i32.const 1 i32.add local.tee $i
        local.get $n i32.lt_s
        br_if $l
      end
    end
    local.get $s)
  (func (export "classify") (param $x i32) (result i32) (local $r i32)
    block $d
      block $c
        block $b
          block $a
            local.get $x
            br_table $a $b $c $d
          end
          i32.const 10
          local.set $r
          br $d
        end
        i32.const 20
        local.set $r
        local.get $x
        br_if $d
        i32.const 99
        local.set $r
      end
      i32.const 30
      local.get $r
      i32.add
      local.set $r
    end
    local.get $r)
  (func (export "abs") (param $x i32) (result i32)
    local.get $x
    i32.const 0
    i32.lt_s
    if (result i32)
      i32.const 0
      local.get $x
      i32.sub
    else
      local.get $x
    end)
  (func $helper (param i32) (result i32)
    local.get 0 i32.const 3 i32.mul)
  (func (export "callmid") (param $x i32) (result i32) (local $t i32)
    block $b
      local.get $x
      i32.const 2
      i32.mul
      call $probe
      local.set $t
      local.get $t
      i32.const 1
      i32.add
      local.set $t
    end
    local.get $t)
  (func (export "nested") (param $x i32) (result i32)
    local.get $x
    call $helper
    call $probe)
  (func (export "early") (param $x i32) (result i32)
    local.get $x
    if
      i32.const 7
      return
    end
    i32.const 8)
)`);

function probeHost(log: { arg: number; seen: number }[]) {
  let exports: Exports | undefined;
  const imports = { env: { probe: (x: number) => {
    log.push({ arg: x, seen: take(exports!) });
    return x + 5;
  } } };
  return { imports, bind: (e: Exports) => (exports = e) };
}

async function instrumented(log: { arg: number; seen: number }[] = []) {
  const h = probeHost(log);
  const e = await run(instrument(MODULE, C), h.imports);
  h.bind(e);
  return e;
}

test('straight-line code is charged once, in full', async () => {
  const e = await instrumented();
  assert.is(e.straight(6, 4), 5);
  assert.is(take(e), cycles('local.get local.get i32.add i32.const i32.mul local.get i32.div_s end'));
});

test('a loop executing N times charges its body N times', async () => {
  const e = await instrumented();
  const head = 'block local.get i32.eqz br_if';
  const body = 'local.get local.get i32.add local.set local.get i32.const i32.add local.tee local.get i32.lt_s br_if';
  for (const n of [1, 2, 10, 1000]) {
    assert.is(e.sum(n), (n * (n - 1)) / 2);
    assert.is(take(e), cycles(`${head} loop ${times(n, body)} end end local.get end`), `n=${n}`);
  }
  // n = 0: br_if to the block label is taken, the block's end is not executed
  assert.is(e.sum(0), 0);
  assert.is(take(e), cycles(`${head} local.get end`));
});

test('nested blocks with br, br_if and br_table', async () => {
  const e = await instrumented();
  const entry = 'block block block block local.get br_table';
  const cases: [number, number, string][] = [
    [0, 10, `${entry} i32.const local.set br local.get end`],
    [1, 20, `${entry} i32.const local.set local.get br_if local.get end`],
    [2, 30, `${entry} i32.const local.get i32.add local.set end local.get end`],
    [7, 0, `${entry} local.get end`],
  ];
  for (const [x, result, seq] of cases) {
    assert.is(e.classify(x), result);
    assert.is(take(e), cycles(seq), `x=${x}`);
  }
});

test('if/else charges the taken arm only, both ways', async () => {
  const e = await instrumented();
  assert.is(e.abs(-9), 9);
  assert.is(take(e), cycles('local.get i32.const i32.lt_s if i32.const local.get i32.sub else end end'));
  assert.is(e.abs(4), 4);
  assert.is(take(e), cycles('local.get i32.const i32.lt_s if local.get end end'));
  assert.is(e.early(1), 7);
  assert.is(take(e), cycles('local.get if i32.const return'));
  assert.is(e.early(0), 8);
  assert.is(take(e), cycles('local.get if end i32.const end'));
});

test('an import sees exactly the cycles executed before it, including the call', async () => {
  const log: { arg: number; seen: number }[] = [];
  const e = await instrumented(log);
  assert.is(e.callmid(4), 4 * 2 + 5 + 1);
  assert.equal(log, [{ arg: 8, seen: cycles('block local.get i32.const i32.mul call') }]);
  // the host reset the counter in the import; what follows the call is charged after it
  assert.is(take(e), cycles('local.set local.get i32.const i32.add local.set end local.get end'));

  log.length = 0;
  assert.is(e.nested(2), 2 * 3 + 5);
  // caller prefix, the call to $helper, the whole of $helper, then the call to the import
  assert.equal(log, [{ arg: 6, seen: cycles('local.get call local.get i32.const i32.mul end call') }]);
  assert.is(take(e), cycles('end'));
});

test('the counter is an exported mutable i32 after existing globals; imported globals keep their indices', async () => {
  const src = wat(`(module
    (import "env" "g" (global $g i32))
    (import "env" "gm" (global $gm (mut i32)))
    (global $h (mut i32) (i32.const 7))
    (global $k i32 (i32.const 100))
    (func (export "f") (result i32)
      global.get $gm i32.const 1 i32.add global.set $gm
      global.get $h global.get $g i32.add global.set $h
      global.get $h global.get $k i32.add global.get $gm i32.add)
    (export "h" (global $h)))`);
  const out = instrument(src, C, { counterName: 'cyc' });
  const gm = new WebAssembly.Global({ value: 'i32', mutable: true }, 40);
  const ref = await run(src, { env: { g: 3, gm: new WebAssembly.Global({ value: 'i32', mutable: true }, 40) } });
  const e = await run(out, { env: { g: 3, gm } });
  assert.is(e.f(), ref.f());
  assert.is(e.h.value, ref.h.value);
  assert.is(gm.value, 41);
  assert.is(e.cyc.value, cycles('global.get i32.const i32.add global.set global.get global.get i32.add ' +
    'global.set global.get global.get i32.add global.get i32.add end'));
  assert.not.ok('__cycles' in e);
  // the new global is the last one: imported 2 + defined 2 -> index 4
  const text = wabt.readWasm(out, { readDebugNames: false }).toText({});
  assert.match(text, /\(export "cyc" \(global 4\)\)/);
});

test('global and export sections are created in order when absent (start function is metered)', async () => {
  const src = wat(`(module (func $s (local i32) i32.const 5 local.set 0) (start $s))`);
  const out = instrument(src, C);
  assert.ok(WebAssembly.validate(out));
  const e = await run(out);
  assert.is(counter(e), cycles('i32.const local.set end'));
});

// ---------------------------------------------------------------------------------------------
// (b) behavioural equivalence

test('hand-written modules behave identically instrumented and not', async () => {
  const plainLog: number[] = [];
  const ref = await run(MODULE, { env: { probe: (x: number) => (plainLog.push(x), x + 5) } });
  const log: { arg: number; seen: number }[] = [];
  const e = await instrumented(log);
  for (const x of [-100, -1, 0, 1, 2, 3, 7, 99, 12345]) {
    assert.is(e.abs(x), ref.abs(x));
    assert.is(e.classify(x), ref.classify(x));
    assert.is(e.early(x), ref.early(x));
    assert.is(e.callmid(x), ref.callmid(x));
    assert.is(e.nested(x), ref.nested(x));
    if (x !== 0) assert.is(e.straight(x * 3, x), ref.straight(x * 3, x));
    if (x >= 0 && x < 5000) assert.is(e.sum(x), ref.sum(x));
  }
  assert.equal(log.map((l) => l.arg), plainLog);
});

test('multi-value blocks (type-index blocktype with params) still work', async () => {
  const src = wat(`(module
    (type $t (func (param i32 i32) (result i32 i32)))
    (func (export "swapsub") (param i32 i32) (result i32)
      local.get 0 local.get 1
      block (type $t) (param i32 i32) (result i32 i32)
        local.set 0 local.set 1 local.get 0 local.get 1
      end
      i32.sub))`);
  const out = instrument(src, C);
  assert.ok(WebAssembly.validate(out));
  const [a, b] = [await run(src), await run(out)];
  assert.is(b.swapsub(10, 3), a.swapsub(10, 3));
  assert.is(counter(b), cycles('local.get local.get block local.set local.set local.get local.get end i32.sub end'));
});

test('bulk memory, non-trapping f2i, sign-extension and tail calls: exact and equivalent', async () => {
  const src = wat(`(module
    (memory (export "mem") 1)
    (data $d "hello")
    (func $tail (param i32) (result i32) local.get 0 i32.const 1 i32.add)
    (func (export "bulk") (param i32) (result i32)
      i32.const 100 i32.const 0 i32.const 5 memory.init $d
      data.drop $d
      i32.const 200 i32.const 100 i32.const 5 memory.copy
      i32.const 300 local.get 0 i32.const 4 memory.fill
      i32.const 300 i32.load8_u
      i32.extend8_s
      f32.const 3.7e9
      i32.trunc_sat_f32_s
      i32.add
      return_call $tail))`);
  const out = instrument(src, C);
  assert.ok(WebAssembly.validate(out));
  const [a, b] = [await run(src), await run(out)];
  assert.is(b.bulk(200), a.bulk(200));
  assert.ok(Buffer.from(a.mem.buffer).equals(Buffer.from(b.mem.buffer)));
  assert.is(counter(b), cycles('i32.const i32.const i32.const memory.init data.drop ' +
    'i32.const i32.const i32.const memory.copy i32.const local.get i32.const memory.fill i32.const i32.load8_u ' +
    'i32.extend8_s f32.const i32.trunc_sat_f32_s i32.add return_call local.get i32.const i32.add end'));
});

const AS_SOURCE = `
@external("env", "report")
declare function report(x: i32, y: f64): void;

export function compute(n: i32): i32 {
  let acc: i32 = 1;
  let f: f32 = 1.5;
  let d: f64 = 0.25;
  let big: i64 = 1;
  for (let i = 0; i < n; i++) {
    acc = acc * 31 + i / 3 - (i % 5);
    store<i32>(32768 + i * 4, acc);
    f = f * <f32>1.01 + <f32>i / <f32>7;
    d = Math.sqrt(d + <f64>i) / 3.0 + <f64>f;
    big = big * 6364136223846793005 + <i64>acc;
    if (i % 7 == 0) report(acc, d);
  }
  store<f32>(40000, f);
  store<f64>(40008, d);
  store<i64>(40016, big);
  memory.copy(40100, 32768, <usize>(n * 4));
  memory.fill(40050, 0xab, 16);
  return acc ^ load<i32>(32768 + (n >> 1) * 4) ^ <i32>(d * 1000.0);
}
`;

let asBinary: Uint8Array<ArrayBuffer> | undefined;
async function asBuild(): Promise<Uint8Array<ArrayBuffer>> {
  if (asBinary) return asBinary;
  // The release options the firmware build uses: -O3, stub runtime, no assertions (in memory, no files).
  const res = await asc.compileString({ 'probe.ts': AS_SOURCE }, {
    optimizeLevel: 3, shrinkLevel: 0, runtime: 'stub', noAssert: true, initialMemory: 1,
  });
  if (res.error || !res.binary) throw new Error(`asc failed: ${res.error?.message}\n${res.stderr.toString()}`);
  asBinary = new Uint8Array(res.binary);
  return asBinary;
}

async function runAS(bin: Uint8Array<ArrayBuffer>, n: number) {
  const reports: [number, number][] = [];
  const seen: number[] = [];
  let exports: Exports | undefined;
  const { instance } = await WebAssembly.instantiate(bin, { env: {
    report: (x: number, y: number) => {
      reports.push([x, y]);
      if (exports && '__cycles' in exports) seen.push(take(exports));
    },
    abort: () => { throw new Error('abort'); },
  } });
  exports = instance.exports as Exports;
  const result = exports.compute(n);
  const memory = new Uint8Array((exports.memory as WebAssembly.Memory).buffer).slice();
  return { result, reports, memory, seen, tail: '__cycles' in exports ? take(exports) : 0 };
}

test('a real AssemblyScript -O3 release build behaves identically instrumented', async () => {
  const bin = await asBuild();
  const out = instrument(bin, C);
  assert.ok(WebAssembly.validate(out));
  for (const n of [0, 1, 8, 50, 200]) {
    const a = await runAS(bin, n);
    const b = await runAS(out, n);
    assert.is(b.result, a.result, `result n=${n}`);
    assert.equal(b.reports, a.reports, `reports n=${n}`);
    assert.ok(Buffer.from(a.memory).equals(Buffer.from(b.memory)), `memory n=${n}`);
    assert.is(b.seen.length, a.reports.length);
    // every HAL call sees a positive delta; more iterations cost more cycles
    assert.ok(b.seen.every((d) => d > 0));
  }
  const small = await runAS(out, 10);
  const large = await runAS(out, 100);
  const total = (r: { seen: number[]; tail: number }) => r.seen.reduce((s, d) => s + d, 0) + r.tail;
  assert.ok(total(large) > 5 * total(small), `${total(large)} vs ${total(small)}`);
  // deterministic: the same input costs the same cycles
  assert.is(total(await runAS(out, 100)), total(large));
});

// ---------------------------------------------------------------------------------------------
// (c) structure, refusals

/** Walk the code section independently: every body size must land exactly on the next body. */
function checkBodies(bin: Uint8Array): number[] {
  let p = 8;
  const leb = () => {
    let v = 0;
    let s = 0;
    let b: number;
    do {
      b = bin[p++]!;
      v += (b & 0x7f) * 2 ** s;
      s += 7;
    } while (b & 0x80);
    return v;
  };
  while (p < bin.length) {
    const id = bin[p++]!;
    const size = leb();
    const end = p + size;
    if (id === 10) {
      const sizes: number[] = [];
      for (let n = leb(); n > 0; n--) {
        const s = leb();
        assert.is(bin[p + s - 1], 0x0b, 'body ends with end');
        sizes.push(s);
        p += s;
      }
      assert.is(p, end, 'bodies fill the code section exactly');
      return sizes;
    }
    p = end;
  }
  throw new Error('no code section');
}

/** [id, bytes] of every section, walked independently of the instrumenter. */
function sectionsOf(bin: Uint8Array): [number, string][] {
  const out: [number, string][] = [];
  let p = 8;
  while (p < bin.length) {
    const start = p;
    const id = bin[p++]!;
    let size = 0;
    let shift = 0;
    let b: number;
    do {
      b = bin[p++]!;
      size += (b & 0x7f) * 2 ** shift;
      shift += 7;
    } while (b & 0x80);
    p += size;
    out.push([id, Buffer.from(bin.subarray(start, p)).toString('hex')]);
  }
  return out;
}

test('sections other than global, export and code are copied byte for byte, in order', async () => {
  for (const bin of [MODULE, await asBuild()]) {
    const before = sectionsOf(bin);
    const after = sectionsOf(instrument(bin, C));
    const keep = (l: [number, string][]) => l.filter(([id]) => id !== 6 && id !== 7 && id !== 10);
    assert.equal(keep(after), keep(before));
    // ids in the same order, plus a global section where there was none
    const ids = (l: [number, string][]) => l.map(([id]) => id).filter((id) => id !== 6);
    assert.equal(ids(after), ids(before));
    if (bin === MODULE) assert.ok(after.some(([id]) => id === 0), 'custom (name) section present');
  }
});

test('output validates, body sizes are exact and the name section is kept', async () => {
  const out = instrument(MODULE, C);
  assert.ok(WebAssembly.validate(out));
  const before = checkBodies(MODULE);
  const after = checkBodies(out);
  assert.is(after.length, before.length);
  // each body grows by whole charges only: global.get 1B idx + i32.const + i32.add + global.set 1B idx
  for (let i = 0; i < before.length; i++) assert.ok(after[i]! >= before[i]!);
  const text = wabt.readWasm(out, { readDebugNames: true }).toText({});
  assert.match(text, /\$helper/);
  assert.match(text, /\$probe/);
  const asOut = instrument(await asBuild(), C);
  checkBodies(asOut);
  // idempotence guard: instrumenting twice is refused rather than double counting
  assert.throws(() => instrument(out, C), /already exports '__cycles'/);
});

test('SIMD and other unsupported opcodes are refused by name', () => {
  const simd = wat(`(module (func (export "f") (result i32)
    v128.const i32x4 1 2 3 4 i32x4.extract_lane 0))`);
  assert.throws(() => instrument(simd, C), (e: Error) => /0xfd 12 v128\.const \(SIMD prefix\)/.test(e.message));
  // v128 locals are refused too, with the type named
  const simdLocal = wat(`(module (func (local v128)))`);
  assert.throws(() => instrument(simdLocal, C), /v128 \(SIMD\)/);
  // reference types are not among the firmware's features: the externref param or ref.is_null is refused
  const refs = wat(`(module (func (param externref) (result i32) local.get 0 ref.is_null))`);
  assert.throws(() => instrument(refs, C), /reference type|ref\.is_null/);
});

test('truncated and malformed modules are refused with a clear error', () => {
  assert.throws(() => instrument(new Uint8Array([0, 0x61, 0x73]), C), /truncated module/);
  assert.throws(() => instrument(new Uint8Array([1, 2, 3, 4, 1, 0, 0, 0]), C), /bad magic/);
  // cut inside the code section
  assert.throws(() => instrument(MODULE.subarray(0, MODULE.length - 60), C), /truncated/);
  // every prefix either instruments to a valid module or fails with an 'instrument:' message
  for (let len = 8; len < MODULE.length; len++) {
    try {
      const out = instrument(MODULE.subarray(0, len), C);
      assert.ok(WebAssembly.validate(out) === WebAssembly.validate(MODULE.subarray(0, len)), `len ${len}`);
    } catch (e) {
      assert.match((e as Error).message, /^instrument: /, `len ${len}`);
    }
  }
});

// ---------------------------------------------------------------------------------------------
// (d) the cost table

test('every supported instruction is priced; the table is readable', () => {
  for (const o of OPCODES) {
    const c = o.prefix === 0xfc ? C.prefixed.get(o.code) : C.single[o.code];
    assert.ok(c !== undefined && c !== NO_COST, o.name);
  }
  const rows = describe();
  assert.is(rows.length, OPCODES.length);
  assert.ok(rows.every((r) => r.source.length > 10), 'each group says where its figure comes from');
  assert.is(C.clockHz, 197_600_000); // hardware.md: MT3620 RT core clock
});

test('f64 costs more than f32: the M4F FPU is single precision only (hardware.md)', () => {
  for (const op of ['add', 'sub', 'mul', 'div', 'sqrt', 'eq', 'lt', 'min', 'max', 'floor']) {
    assert.ok(costByName(`f64.${op}`) > costByName(`f32.${op}`), op);
  }
  assert.ok(costByName('f64.add') >= 10 * costByName('f32.add'), 'soft-float is tens of cycles');
  // TRM figures: VADD/VMUL.F32 1, VDIV/VSQRT.F32 14, MUL 1, SDIV 2..12
  assert.is(costByName('f32.add'), 1);
  assert.is(costByName('f32.div'), 14);
  assert.is(costByName('i32.mul'), 1);
  assert.ok(costByName('i32.div_s') >= 2 && costByName('i32.div_s') <= 12);
  assert.ok(costByName('i64.div_s') > costByName('i32.div_s'));
  assert.ok(costByName('i64.add') > costByName('i32.add'));
  assert.is(costByName('f64.add'), cycles('f64.add'));
});

test.run();
