// Post-build cycle-metering instrumenter for the shipped rtcore .wasm (DESIGN.md, contract 2 "Time").
//
// The simulator runs the very binary that ships to the MT3620's Cortex-M4F; this rewriter adds a
// cycle counter to it after the build, so firmware instructions cost simulated core cycles without a
// second code path. It is a small hand-written binary rewriter: sections are copied byte for byte
// except the global, export and code sections, and function bodies are re-emitted with charges
// inserted between the original instructions (which are copied verbatim, never re-encoded).
//
// What is inserted (WebAssembly spec 2.0, §5.4 instruction encodings):
//   global.get $c; i32.const <segment cost>; i32.add; global.set $c     (0x23 c 0x41 n 0x6a 0x24 c)
// at the start of every metered segment. A segment ends after each control instruction (block, loop,
// if, else, end, br, br_if, br_table, return, unreachable) and after each call (call, call_indirect,
// return_call, return_call_indirect), and the charge for the whole segment, including that last
// instruction, is made where control enters it: at function entry and right after each of those
// instructions, so both the fallthrough after `end` and every branch to a block's label pass a charge,
// a loop's back-edge lands after `loop`+blocktype, and the fall-through of br_if is charged after it.
// The charge sequence is stack-neutral, so it is valid anywhere, also in unreachable code and inside
// multi-value blocks whose parameters sit on the stack.
//
// HOST CONTRACT (what the simulator relies on). Because every segment ends at a call, the counter is
// EXACT whenever an imported (HAL) function is entered: it holds the cycles of everything executed
// since the last reset, including the call instruction itself. The host reads and resets it inside
// every import, and on return from every export it calls:
//     const d = exports.__cycles.value >>> 0;   // i32 global; >>> 0 reads it unsigned
//     exports.__cycles.value = 0;
// then advances the board clock by d cycles (plus the HAL access cost it models). The counter is an
// i32 that wraps after 2^32 cycles (21.7 s at 197.6 MHz), so a host must read it at least that often;
// reading at every HAL call and export return is far more often than that. Interrupt entry points
// and idle are exports like any other: read and reset on their return too. The counter is also exact
// when an export returns (its last segment, ending at the function's `end`, was charged on entry to
// that segment). It is NOT exact after a trap: the trapping segment was charged in full in advance.
//
// Offsets into the code section change, so custom sections that hold them (DWARF .debug_*, the
// source map behind sourceMappingURL, metadata.code.*) go stale; a release build made with asc
// without --debug/--sourceMap has none. The name section only holds indices and stays valid.
//
// Supported: MVP, sign-extension, mutable-globals, non-trapping float-to-int, bulk-memory (all of
// 0xFC 0..14), multi-value (type-index blocktypes), and tail calls (return_call*). Anything else
// (SIMD 0xFD, threads 0xFE, reference types, exception handling, GC) is refused with an error that
// names the opcode: a cost we do not know must not silently become zero.
import type { CostTable } from './mt3620/cortex-m4f-costs.ts';

/** Immediate layouts, wasm spec §5.4. Every integer immediate is LEB128, so most are "n LEBs". */
export type Immediate =
  | 'none'
  | 'blocktype' // 0x40 | valtype | s33 type index (multi-value)
  | 'u32' // label, function, local, global, data, elem index; memidx/tableidx byte of memory.*
  | 'u32x2' // call_indirect typeidx tableidx; memory.init dataidx memidx; memory.copy; table.*
  | 'br_table' // vec(labelidx) labelidx
  | 'memarg' // align u32, offset u32
  | 'i32' // s32 LEB
  | 'i64' // s64 LEB
  | 'f32' // 4 raw bytes
  | 'f64'; // 8 raw bytes

export interface OpcodeInfo {
  /** The opcode byte, or for 0xFC-prefixed instructions the LEB128 sub-opcode after 0xFC. */
  readonly code: number;
  readonly prefix: 0 | 0xfc;
  readonly name: string;
  readonly imm: Immediate;
  /** Ends a metered segment: control flow or a call (see the header comment). */
  readonly ends: boolean;
}

// Compact source of the opcode table: [first opcode, immediate, segment-ending?, names...], names
// taking consecutive opcodes. Order and numbering follow the spec's §5.4 tables.
type Run = [number, Immediate, boolean, ...string[]];
const SINGLE_RUNS: Run[] = [
  [0x00, 'none', true, 'unreachable'],
  [0x01, 'none', false, 'nop'],
  [0x02, 'blocktype', true, 'block', 'loop', 'if'],
  [0x05, 'none', true, 'else'],
  [0x0b, 'none', true, 'end'],
  [0x0c, 'u32', true, 'br', 'br_if'],
  [0x0e, 'br_table', true, 'br_table'],
  [0x0f, 'none', true, 'return'],
  [0x10, 'u32', true, 'call'],
  [0x11, 'u32x2', true, 'call_indirect'],
  [0x12, 'u32', true, 'return_call'], // tail-call proposal
  [0x13, 'u32x2', true, 'return_call_indirect'],
  [0x1a, 'none', false, 'drop', 'select'],
  [0x20, 'u32', false, 'local.get', 'local.set', 'local.tee', 'global.get', 'global.set'],
  [0x28, 'memarg', false,
    'i32.load', 'i64.load', 'f32.load', 'f64.load', 'i32.load8_s', 'i32.load8_u', 'i32.load16_s',
    'i32.load16_u', 'i64.load8_s', 'i64.load8_u', 'i64.load16_s', 'i64.load16_u', 'i64.load32_s',
    'i64.load32_u', 'i32.store', 'i64.store', 'f32.store', 'f64.store', 'i32.store8', 'i32.store16',
    'i64.store8', 'i64.store16', 'i64.store32'],
  [0x3f, 'u32', false, 'memory.size', 'memory.grow'],
  [0x41, 'i32', false, 'i32.const'],
  [0x42, 'i64', false, 'i64.const'],
  [0x43, 'f32', false, 'f32.const'],
  [0x44, 'f64', false, 'f64.const'],
  [0x45, 'none', false,
    'i32.eqz', 'i32.eq', 'i32.ne', 'i32.lt_s', 'i32.lt_u', 'i32.gt_s', 'i32.gt_u', 'i32.le_s', 'i32.le_u',
    'i32.ge_s', 'i32.ge_u',
    'i64.eqz', 'i64.eq', 'i64.ne', 'i64.lt_s', 'i64.lt_u', 'i64.gt_s', 'i64.gt_u', 'i64.le_s', 'i64.le_u',
    'i64.ge_s', 'i64.ge_u',
    'f32.eq', 'f32.ne', 'f32.lt', 'f32.gt', 'f32.le', 'f32.ge',
    'f64.eq', 'f64.ne', 'f64.lt', 'f64.gt', 'f64.le', 'f64.ge',
    'i32.clz', 'i32.ctz', 'i32.popcnt', 'i32.add', 'i32.sub', 'i32.mul', 'i32.div_s', 'i32.div_u',
    'i32.rem_s', 'i32.rem_u', 'i32.and', 'i32.or', 'i32.xor', 'i32.shl', 'i32.shr_s', 'i32.shr_u',
    'i32.rotl', 'i32.rotr',
    'i64.clz', 'i64.ctz', 'i64.popcnt', 'i64.add', 'i64.sub', 'i64.mul', 'i64.div_s', 'i64.div_u',
    'i64.rem_s', 'i64.rem_u', 'i64.and', 'i64.or', 'i64.xor', 'i64.shl', 'i64.shr_s', 'i64.shr_u',
    'i64.rotl', 'i64.rotr',
    'f32.abs', 'f32.neg', 'f32.ceil', 'f32.floor', 'f32.trunc', 'f32.nearest', 'f32.sqrt', 'f32.add',
    'f32.sub', 'f32.mul', 'f32.div', 'f32.min', 'f32.max', 'f32.copysign',
    'f64.abs', 'f64.neg', 'f64.ceil', 'f64.floor', 'f64.trunc', 'f64.nearest', 'f64.sqrt', 'f64.add',
    'f64.sub', 'f64.mul', 'f64.div', 'f64.min', 'f64.max', 'f64.copysign',
    'i32.wrap_i64', 'i32.trunc_f32_s', 'i32.trunc_f32_u', 'i32.trunc_f64_s', 'i32.trunc_f64_u',
    'i64.extend_i32_s', 'i64.extend_i32_u', 'i64.trunc_f32_s', 'i64.trunc_f32_u', 'i64.trunc_f64_s',
    'i64.trunc_f64_u', 'f32.convert_i32_s', 'f32.convert_i32_u', 'f32.convert_i64_s',
    'f32.convert_i64_u', 'f32.demote_f64', 'f64.convert_i32_s', 'f64.convert_i32_u',
    'f64.convert_i64_s', 'f64.convert_i64_u', 'f64.promote_f32', 'i32.reinterpret_f32',
    'i64.reinterpret_f64', 'f32.reinterpret_i32', 'f64.reinterpret_i64',
    // sign-extension proposal (0xC0..0xC4)
    'i32.extend8_s', 'i32.extend16_s', 'i64.extend8_s', 'i64.extend16_s', 'i64.extend32_s'],
];
const FC_RUNS: Run[] = [
  // non-trapping float-to-int proposal (0xFC 0..7)
  [0, 'none', false,
    'i32.trunc_sat_f32_s', 'i32.trunc_sat_f32_u', 'i32.trunc_sat_f64_s', 'i32.trunc_sat_f64_u',
    'i64.trunc_sat_f32_s', 'i64.trunc_sat_f32_u', 'i64.trunc_sat_f64_s', 'i64.trunc_sat_f64_u'],
  // bulk-memory proposal (0xFC 8..14)
  [8, 'u32x2', false, 'memory.init'],
  [9, 'u32', false, 'data.drop'],
  [10, 'u32x2', false, 'memory.copy'],
  [11, 'u32', false, 'memory.fill'],
  [12, 'u32x2', false, 'table.init'],
  [13, 'u32', false, 'elem.drop'],
  [14, 'u32x2', false, 'table.copy'],
];

function expand(runs: Run[], prefix: 0 | 0xfc): OpcodeInfo[] {
  return runs.flatMap(([first, imm, ends, ...names]) =>
    names.map((name, i) => ({ code: first + i, prefix, name, imm, ends })),
  );
}

/** Every instruction the instrumenter accepts; a cost table must price each of them. */
export const OPCODES: readonly OpcodeInfo[] = [...expand(SINGLE_RUNS, 0), ...expand(FC_RUNS, 0xfc)];
const SINGLE: (OpcodeInfo | undefined)[] = new Array(256);
const FC = new Map<number, OpcodeInfo>();
for (const o of OPCODES) {
  if (o.prefix === 0xfc) FC.set(o.code, o);
  else SINGLE[o.code] = o;
}
const BY_NAME = new Map(OPCODES.map((o) => [o.name, o]));
export function opcodeByName(name: string): OpcodeInfo {
  const o = BY_NAME.get(name);
  if (!o) throw new Error(`instrument: unknown instruction name '${name}'`);
  return o;
}

// Names of instructions we refuse, so the error says what was found (and from which proposal).
const REFUSED_SINGLE: Record<number, string> = {
  0x06: 'try (exception handling)', 0x07: 'catch (exception handling)', 0x08: 'throw (exception handling)',
  0x09: 'rethrow (exception handling)', 0x0a: 'throw_ref (exception handling)',
  0x18: 'delegate (exception handling)', 0x19: 'catch_all (exception handling)',
  0x1f: 'try_table (exception handling)', 0x14: 'call_ref (function references)',
  0x15: 'return_call_ref (function references)', 0x1c: 'select t* (reference types)',
  0x25: 'table.get (reference types)', 0x26: 'table.set (reference types)',
  0xd0: 'ref.null (reference types)', 0xd1: 'ref.is_null (reference types)',
  0xd2: 'ref.func (reference types)', 0xfb: 'GC prefix', 0xfd: 'SIMD prefix', 0xfe: 'threads/atomics prefix',
};
const REFUSED_FC: Record<number, string> = {
  15: 'table.grow (reference types)', 16: 'table.size (reference types)', 17: 'table.fill (reference types)',
};
// A few SIMD sub-opcodes by name (SIMD proposal, binary encoding table) for friendlier errors.
const SIMD_NAMES: Record<number, string> = {
  0x00: 'v128.load', 0x0b: 'v128.store', 0x0c: 'v128.const', 0x0d: 'i8x16.shuffle',
  0x0f: 'i8x16.splat', 0x11: 'i32x4.splat', 0x13: 'f32x4.splat', 0xae: 'i32x4.add', 0xe4: 'f32x4.add',
};

const hex = (n: number) => '0x' + n.toString(16).padStart(2, '0');

// ---------------------------------------------------------------------------------------------
// Byte reading and writing (LEB128 per spec §5.2.2).

const utf8 = new TextDecoder();

class Reader {
  constructor(
    readonly bytes: Uint8Array,
    public pos: number,
    readonly end: number,
    readonly where: string,
  ) {}
  fail(msg: string): never {
    throw new Error(`instrument: ${this.where}: ${msg}`);
  }
  u8(): number {
    if (this.pos >= this.end) {
      this.fail(`truncated module: unexpected end of data at byte ${hex(this.pos)}`);
    }
    return this.bytes[this.pos++]!;
  }
  /** Unsigned LEB128, at most 5 bytes (u32). */
  u32(): number {
    let result = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      const b = this.u8();
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) {
        if (result > 0xffffffff) this.fail(`u32 LEB128 out of range at byte ${hex(this.pos - 1)}`);
        return result;
      }
    }
    this.fail(`u32 LEB128 longer than 5 bytes at byte ${hex(this.pos)}`);
  }
  /** Signed LEB128 of up to maxBytes; returns the value when it fits a JS number exactly (s33). */
  sleb(maxBytes: number): number {
    let result = 0;
    let shift = 0;
    for (let i = 0; i < maxBytes; i++) {
      const b = this.u8();
      result += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if ((b & 0x80) === 0) return b & 0x40 ? result - 2 ** shift : result;
    }
    this.fail(`signed LEB128 longer than ${maxBytes} bytes at byte ${hex(this.pos)}`);
  }
  skip(n: number): void {
    if (this.pos + n > this.end) this.fail(`truncated module: ${n} bytes needed at byte ${hex(this.pos)}`);
    this.pos += n;
  }
  name(): string {
    const n = this.u32();
    const start = this.pos;
    this.skip(n);
    return utf8.decode(this.bytes.subarray(start, this.pos));
  }
}

class Writer {
  buf = new Uint8Array(1024);
  len = 0;
  private room(n: number) {
    if (this.len + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
  byte(b: number) {
    this.room(1);
    this.buf[this.len++] = b;
  }
  bytes(b: Uint8Array) {
    this.room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  u32(v: number) {
    do {
      let b = v & 0x7f;
      v = Math.floor(v / 128);
      if (v !== 0) b |= 0x80;
      this.byte(b);
    } while (v !== 0);
  }
  s32(v: number) {
    for (;;) {
      const b = v & 0x7f;
      v >>= 7;
      const done = (v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0);
      this.byte(done ? b : b | 0x80);
      if (done) return;
    }
  }
  name(s: string) {
    const b = new TextEncoder().encode(s); // once per instrument() call: only the counter's name
    this.u32(b.length);
    this.bytes(b);
  }
  done(): Uint8Array<ArrayBuffer> {
    return this.buf.slice(0, this.len);
  }
}

// ---------------------------------------------------------------------------------------------
// Module structure (spec §5.5).

const SECTION_NAMES = [
  'custom', 'type', 'import', 'function', 'table', 'memory', 'global', 'export', 'start', 'element',
  'code', 'data', 'datacount', 'tag',
];
// Required order of non-custom sections (§5.5.2; datacount sits before code, tag before global).
const ORDER = [1, 2, 3, 4, 5, 13, 6, 7, 8, 9, 12, 10, 11];
const rank = (id: number) => ORDER.indexOf(id);

interface Section {
  id: number;
  /** Whole section including id and size, for verbatim copies. */
  start: number;
  contentStart: number;
  end: number;
}

function readSections(wasm: Uint8Array): Section[] {
  if (wasm.length < 8) throw new Error(`instrument: truncated module: ${wasm.length} bytes, a header needs 8`);
  const magic = [0x00, 0x61, 0x73, 0x6d];
  if (!magic.every((b, i) => wasm[i] === b)) throw new Error('instrument: not a WebAssembly module (bad magic)');
  if (wasm[4] !== 1 || wasm[5] !== 0 || wasm[6] !== 0 || wasm[7] !== 0) {
    throw new Error('instrument: unsupported WebAssembly binary version (expected 1)');
  }
  const r = new Reader(wasm, 8, wasm.length, 'module');
  const sections: Section[] = [];
  let lastRank = -1;
  while (r.pos < wasm.length) {
    const start = r.pos;
    const id = r.u8();
    const size = r.u32();
    const contentStart = r.pos;
    const sname = SECTION_NAMES[id] ?? `unknown id ${id}`;
    if (contentStart + size > wasm.length) {
      throw new Error(
        `instrument: truncated module: ${sname} section at byte ${hex(start)} declares ${size} bytes, ` +
          `only ${wasm.length - contentStart} remain`,
      );
    }
    if (id !== 0) {
      if (rank(id) < 0) throw new Error(`instrument: unknown section id ${id} at byte ${hex(start)}`);
      if (rank(id) <= lastRank) throw new Error(`instrument: ${sname} section out of order at byte ${hex(start)}`);
      lastRank = rank(id);
    }
    r.pos = contentStart + size;
    sections.push({ id, start, contentStart, end: r.pos });
  }
  return sections;
}

/** Imported functions and globals: they come first in their index spaces (spec §2.5.1 indices). */
function importCounts(wasm: Uint8Array, s: Section | undefined): { funcs: number; globals: number } {
  const counts = { funcs: 0, globals: 0 };
  if (!s) return counts;
  const r = new Reader(wasm, s.contentStart, s.end, 'import section');
  for (let n = r.u32(); n > 0; n--) {
    r.name();
    r.name();
    const kind = r.u8();
    if (kind === 0) {
      r.u32(); // func: typeidx
      counts.funcs++;
    } else if (kind === 1 || kind === 2) {
      if (kind === 1) r.u8(); // table: reftype
      const flags = r.u8(); // limits (bit 0: has max; other bits: shared / memory64 flags)
      r.u32();
      if (flags & 1) r.u32();
    } else if (kind === 3) {
      r.skip(2); // valtype, mutability
      counts.globals++;
    } else if (kind === 4) {
      r.u8();
      r.u32(); // tag: attribute, typeidx
    } else r.fail(`unknown import kind ${kind}`);
  }
  return counts;
}

function exportNames(wasm: Uint8Array, s: Section | undefined): string[] {
  if (!s) return [];
  const r = new Reader(wasm, s.contentStart, s.end, 'export section');
  const names: string[] = [];
  for (let n = r.u32(); n > 0; n--) {
    names.push(r.name());
    r.u8();
    r.u32();
  }
  return names;
}

// ---------------------------------------------------------------------------------------------
// Function bodies.

const VALTYPES = new Set([0x7f, 0x7e, 0x7d, 0x7c]); // i32 i64 f32 f64 (MVP numeric types)

function refuseValtype(r: Reader, t: number, what: string): never {
  const why = t === 0x7b ? 'v128 (SIMD)' : t === 0x70 || t === 0x6f ? 'reference type' : 'unknown type';
  r.fail(`unsupported ${what} ${hex(t)} ${why} at byte ${hex(r.pos - 1)}`);
}

function skipImmediate(r: Reader, imm: Immediate): void {
  switch (imm) {
    case 'none':
      return;
    case 'blocktype': {
      // §5.4.1: 0x40 (empty) or a valtype as a single negative s33 byte, or a type index >= 0.
      const bt = r.sleb(5);
      if (bt < 0 && bt !== -64 && !VALTYPES.has(bt + 128)) refuseValtype(r, bt + 128, 'block type');
      return;
    }
    case 'u32':
      r.u32();
      return;
    case 'u32x2':
    case 'memarg':
      r.u32();
      r.u32();
      return;
    case 'br_table':
      for (let n = r.u32(); n >= 0; n--) r.u32(); // n labels plus the default label
      return;
    case 'i32':
      r.sleb(5);
      return;
    case 'i64':
      r.sleb(10);
      return;
    case 'f32':
      r.skip(4);
      return;
    case 'f64':
      r.skip(8);
  }
}

/** Decode one instruction at r.pos (opcode and immediates); returns its info and cost. */
function decode(r: Reader, costs: CostTable): { info: OpcodeInfo; cost: number } {
  const at = r.pos;
  const op = r.u8();
  let info: OpcodeInfo | undefined;
  let cost: number | undefined;
  if (op === 0xfc) {
    const sub = r.u32();
    info = FC.get(sub);
    if (!info) {
      r.fail(`unsupported opcode 0xfc ${sub} ${REFUSED_FC[sub] ?? '(unknown 0xFC sub-opcode)'} at byte ${hex(at)}`);
    }
    cost = costs.prefixed.get(sub);
  } else {
    info = SINGLE[op];
    if (!info) {
      let what = REFUSED_SINGLE[op] ?? 'unknown opcode';
      if (op === 0xfd || op === 0xfe || op === 0xfb) {
        const sub = r.pos < r.end ? r.u32() : -1;
        const simd = op === 0xfd ? SIMD_NAMES[sub] : undefined;
        what = `${hex(op)} ${sub}${simd ? ` ${simd}` : ''} (${what})`;
        r.fail(`unsupported opcode ${what} at byte ${hex(at)}`);
      }
      r.fail(`unsupported opcode ${hex(op)} ${what} at byte ${hex(at)}`);
    }
    cost = costs.single[op];
  }
  if (cost === undefined || cost === NO_COST) r.fail(`cost table '${costs.name}' has no cost for ${info.name}`);
  skipImmediate(r, info.imm);
  return { info, cost };
}

/** Marks an opcode the cost table does not price (the table's Uint16Array is filled with this). */
export const NO_COST = 0xffff;

function emitCharge(w: Writer, counter: number, cost: number): void {
  w.byte(0x23); // global.get
  w.u32(counter);
  w.byte(0x41); // i32.const
  w.s32(cost);
  w.byte(0x6a); // i32.add
  w.byte(0x24); // global.set
  w.u32(counter);
}

function instrumentBody(wasm: Uint8Array, start: number, end: number, funcIndex: number,
  costs: CostTable, counter: number, w: Writer): void {
  const r = new Reader(wasm, start, end, `function ${funcIndex} (body at byte ${hex(start)})`);
  // Locals (§5.5.13): vec of (count, valtype), copied verbatim after checking the types.
  for (let n = r.u32(); n > 0; n--) {
    r.u32();
    const t = r.u8();
    if (!VALTYPES.has(t)) refuseValtype(r, t, 'local type');
  }
  w.bytes(wasm.subarray(start, r.pos));
  let segStart = r.pos;
  let segCost = 0;
  let depth = 1; // the function body is an implicit block closed by its final `end`
  const flush = () => {
    if (segCost > 0) emitCharge(w, counter, segCost);
    w.bytes(wasm.subarray(segStart, r.pos));
    segStart = r.pos;
    segCost = 0;
  };
  while (r.pos < end) {
    if (depth === 0) r.fail(`bytes after the function's final end at byte ${hex(r.pos)}`);
    const { info, cost } = decode(r, costs);
    segCost += cost;
    if (info.prefix === 0) {
      if (info.code >= 0x02 && info.code <= 0x04) depth++;
      else if (info.code === 0x0b) depth--;
    }
    if (info.ends) flush();
  }
  if (depth !== 0) r.fail('truncated function body: missing final end');
  flush();
}

export interface InstrumentOptions {
  /** Export name of the cycle counter global. Default '__cycles'. */
  counterName?: string;
}

/**
 * Return a copy of `wasm` that counts Cortex-M4F cycles (priced by `costs`) in an exported mutable
 * i32 global. See the header comment for the exact point at which the counter is exact and how the
 * host must read and reset it.
 */
export function instrument(wasm: Uint8Array, costs: CostTable, opts: InstrumentOptions = {}): Uint8Array<ArrayBuffer> {
  const counterName = opts.counterName ?? '__cycles';
  const sections = readSections(wasm);
  const find = (id: number) => sections.find((s) => s.id === id);

  const imports = importCounts(wasm, find(2));
  const importedGlobals = imports.globals;
  const globalSec = find(6);
  const definedGlobals = globalSec ? new Reader(wasm, globalSec.contentStart, globalSec.end, 'global section').u32() : 0;
  // Appending a *defined* global gives it the last index; imported globals precede all defined ones
  // in the index space, so no existing global.get/set, export or name-section index moves.
  const counter = importedGlobals + definedGlobals;
  const exportSec = find(7);
  if (exportNames(wasm, exportSec).includes(counterName)) {
    throw new Error(`instrument: module already exports '${counterName}' (already instrumented?)`);
  }

  const out = new Writer();
  out.bytes(wasm.subarray(0, 8));
  const section = (id: number, body: (w: Writer) => void) => {
    const w = new Writer();
    body(w);
    out.byte(id);
    out.u32(w.len);
    out.bytes(w.done());
  };
  // A vector section with one entry appended: new count, old entries verbatim, the new entry.
  const appendTo = (id: number, old: Section | undefined, entry: (w: Writer) => void) =>
    section(id, (w) => {
      if (!old) {
        w.u32(1);
      } else {
        const r = new Reader(wasm, old.contentStart, old.end, `${SECTION_NAMES[id]} section`);
        w.u32(r.u32() + 1);
        w.bytes(wasm.subarray(r.pos, old.end));
      }
      entry(w);
    });
  const counterGlobal = (w: Writer) => w.bytes(Uint8Array.of(0x7f, 0x01, 0x41, 0x00, 0x0b)); // mut i32 = i32.const 0
  const counterExport = (w: Writer) => {
    w.name(counterName);
    w.byte(0x03); // export kind: global
    w.u32(counter);
  };

  let globalDone = false;
  let exportDone = false;
  // Absent sections are created just before the first section that must follow them (§5.5.2).
  const before = (id: number) => {
    if (id === 0) return;
    if (!globalDone && rank(id) > rank(6)) {
      appendTo(6, undefined, counterGlobal);
      globalDone = true;
    }
    if (!exportDone && rank(id) > rank(7)) {
      appendTo(7, undefined, counterExport);
      exportDone = true;
    }
  };
  const funcSec = find(3);
  for (const s of sections) {
    before(s.id);
    if (s.id === 6) {
      appendTo(6, s, counterGlobal);
      globalDone = true;
    } else if (s.id === 7) {
      appendTo(7, s, counterExport);
      exportDone = true;
    } else if (s.id === 10) {
      section(10, (w) => {
        const r = new Reader(wasm, s.contentStart, s.end, 'code section');
        const n = r.u32();
        const declared = funcSec ? new Reader(wasm, funcSec.contentStart, funcSec.end, 'function section').u32() : 0;
        if (n !== declared) r.fail(`${n} bodies but the function section declares ${declared}`);
        w.u32(n);
        for (let i = 0; i < n; i++) {
          const size = r.u32();
          const start = r.pos;
          r.skip(size);
          const body = new Writer();
          instrumentBody(wasm, start, start + size, imports.funcs + i, costs, counter, body);
          w.u32(body.len);
          w.bytes(body.done());
        }
        if (r.pos !== s.end) r.fail(`${s.end - r.pos} stray bytes after the last body`);
      });
    } else {
      out.bytes(wasm.subarray(s.start, s.end));
    }
  }
  before(11); // sections absent up to the end: data (11) ranks after global and export
  return out.done();
}

