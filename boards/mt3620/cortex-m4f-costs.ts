// Cycles per WebAssembly instruction on the MT3620 real-time core: a Cortex-M4F at 197.6 MHz
// (shared/reference/hardware.md). Data for boards/instrument.ts (DESIGN.md contract 2 "Time").
//
// How the figures were chosen. A wasm instruction is priced as the Thumb-2 sequence an ahead-of-time
// compiler would emit for it, with each Thumb-2 instruction timed from the ARM Cortex-M4 Technical
// Reference Manual (ARM DDI 0439B): Table 3-1 "Cortex-M4 instruction set summary" for integer
// instructions, and chapter 7, Table 7-1 "FPU instruction set" for the FPv4-SP single-precision FPU.
// In that manual a taken branch costs 1+P cycles, P being the pipeline refill of 1 to 3 cycles; we use
// P = 2 throughout. Operand values live in registers (locals) and linear memory is addressed through a
// base register. Figures for work the M4F has no instruction for (f64 arithmetic, 64-bit division,
// popcnt, float rounding) are approximations of the software routines a compiler calls, not
// measurements on an MT3620, and say so in their group.
//
// Charging is done ahead of time per straight-line segment, so every instruction has ONE cost even
// when its real time depends on run-time data (conditional branches, division early termination,
// memory.copy length); the choice for each such case is stated in its group.
import { NO_COST, OPCODES, opcodeByName } from '../instrument.ts';

export interface CostTable {
  readonly name: string;
  /** Core clock the cycles are counted at. */
  readonly clockHz: number;
  /** Cycles by single-byte opcode; NO_COST (0xffff) marks an instruction the table does not price. */
  readonly single: Uint16Array;
  /** Cycles by 0xFC sub-opcode (non-trapping float-to-int, bulk memory). */
  readonly prefixed: ReadonlyMap<number, number>;
}

export interface CostGroup {
  readonly group: string;
  readonly cycles: number;
  /** Why this figure: the TRM entry or the approximation it comes from. */
  readonly source: string;
  readonly ops: readonly string[];
}

/** Taken-branch time, 1 + P with P = 2 (TRM Table 3-1: P is 1..3). */
const B = 3;
/** Call: BL (1+P = 3) + callee PUSH {r4-r7,lr} (1+N = 6) + POP {r4-r7,pc} (1+N+P = 8), TRM Table 3-1. */
const CALL = 3 + 6 + 8;
/** Soft-float f64 conversions (__aeabi_d2iz, __aeabi_i2d, __aeabi_f2d, __aeabi_d2f, ...). */
const SOFT_CVT = 30;

export const cortexM4FGroups: readonly CostGroup[] = [
  // --- control -------------------------------------------------------------------------------
  { group: 'labels', cycles: 0, source: 'block/loop/end/nop emit no code; a loop back-edge is priced on its br',
    ops: ['nop', 'block', 'loop', 'end'] },
  { group: 'conditional branch', cycles: 2,
    source: 'Bcc/CBZ: 1 not taken, 1+P = 3 taken (TRM Table 3-1); the charge is made before the outcome is ' +
      'known, so we use the average, 2. The compare feeding it is priced on the comparison instruction',
    ops: ['if', 'br_if'] },
  { group: 'unconditional branch', cycles: B, source: 'B: 1+P, P = 2 (TRM Table 3-1); else = branch over the else arm',
    ops: ['br', 'else'] },
  { group: 'return', cycles: B, source: 'B to the shared epilogue, 1+P; the epilogue POP is priced with the call',
    ops: ['return'] },
  { group: 'br_table', cycles: 6,
    source: 'CMP 1 + bounds Bcc not taken 1 + TBB/TBH 2+P = 4 (TRM Table 3-1)', ops: ['br_table'] },
  { group: 'trap', cycles: 1, source: 'UDF: 1 cycle to issue, then the trap ends execution', ops: ['unreachable'] },
  { group: 'call', cycles: CALL,
    source: 'BL 1+P = 3, callee prologue PUSH {r4-r7,lr} 1+N = 6, epilogue POP {r4-r7,pc} 1+N+P = 8 (TRM Table 3-1)',
    ops: ['call', 'return_call'] },
  { group: 'indirect call', cycles: CALL + 7,
    source: 'call + table bounds CMP/Bcc 2 + LDR entry 2 + LDR/CMP signature check 3 (TRM Table 3-1)',
    ops: ['call_indirect', 'return_call_indirect'] },
  // --- parametric and variables ---------------------------------------------------------------
  { group: 'free', cycles: 0,
    source: 'register allocation: reading a local or dropping a value emits nothing; wrap takes the low register ' +
      'of the pair; f64<->i64 reinterpret is free because soft-float f64 values already live in core registers',
    ops: ['drop', 'local.get', 'i32.wrap_i64', 'i64.reinterpret_f64', 'f64.reinterpret_i64'] },
  { group: 'register move', cycles: 1, source: 'MOV 1 (TRM Table 3-1) when the value is not already in the local\'s register',
    ops: ['local.set', 'local.tee'] },
  { group: 'select', cycles: 2, source: 'CMP 1 + IT (folded) + MOVcc 1 (TRM Table 3-1)', ops: ['select'] },
  { group: 'global access', cycles: 2, source: 'LDR / STR 2 (TRM Table 3-1; 1 only when pipelined with a neighbour)',
    ops: ['global.get', 'global.set'] },
  // --- memory ---------------------------------------------------------------------------------
  { group: '32-bit and narrower load/store', cycles: 2,
    source: 'LDR/LDRB/LDRH/LDRSB/LDRSH, STR/STRB/STRH 2 (TRM Table 3-1); VLDR/VSTR.32 2 (TRM Table 7-1)',
    ops: ['i32.load', 'f32.load', 'i32.load8_s', 'i32.load8_u', 'i32.load16_s', 'i32.load16_u', 'i32.store',
      'f32.store', 'i32.store8', 'i32.store16', 'i64.store8', 'i64.store16', 'i64.store32'] },
  { group: '64-bit load/store', cycles: 3,
    source: 'LDRD/STRD 1+N, N = 2 (TRM Table 3-1); soft-float f64 uses core register pairs too. Narrow i64 loads: ' +
      'LDR 2 + ASR/MOV 1 for the high word',
    ops: ['i64.load', 'f64.load', 'i64.store', 'f64.store', 'i64.load8_s', 'i64.load8_u', 'i64.load16_s',
      'i64.load16_u', 'i64.load32_s', 'i64.load32_u'] },
  { group: 'memory.size', cycles: 2, source: 'LDR of the runtime\'s page count, 2 (TRM Table 3-1)', ops: ['memory.size'] },
  { group: 'memory.grow', cycles: 40, source: 'approximation: call into the runtime (call 17) plus limit checks and bookkeeping',
    ops: ['memory.grow'] },
  // --- constants ------------------------------------------------------------------------------
  { group: '32-bit constant', cycles: 1, source: 'MOV/MOVW 1 (TRM Table 3-1); VMOV.F32 #imm 1 (TRM Table 7-1)',
    ops: ['i32.const', 'f32.const'] },
  { group: '64-bit constant', cycles: 2, source: 'two MOVs, one per register of the pair (TRM Table 3-1)',
    ops: ['i64.const', 'f64.const'] },
  // --- i32 --------------------------------------------------------------------------------------
  { group: 'i32 ALU', cycles: 1,
    source: 'ADD/SUB/AND/ORR/EOR/LSL/ASR/LSR/ROR/CLZ/SXTB/SXTH 1; CMP 1, its condition consumed by the next ' +
      'branch or IT (TRM Table 3-1)',
    ops: ['i32.add', 'i32.sub', 'i32.and', 'i32.or', 'i32.xor', 'i32.shl', 'i32.shr_s', 'i32.shr_u', 'i32.rotr',
      'i32.clz', 'i32.eqz', 'i32.eq', 'i32.ne', 'i32.lt_s', 'i32.lt_u', 'i32.gt_s', 'i32.gt_u', 'i32.le_s',
      'i32.le_u', 'i32.ge_s', 'i32.ge_u', 'i32.extend8_s', 'i32.extend16_s', 'i64.extend_i32_s',
      'i64.extend_i32_u'] },
  { group: 'i32 two-instruction', cycles: 2, source: 'rotl = RSB + ROR; ctz = RBIT + CLZ (TRM Table 3-1)',
    ops: ['i32.rotl', 'i32.ctz'] },
  { group: 'i32 multiply', cycles: 1, source: 'MUL 1 (TRM Table 3-1)', ops: ['i32.mul'] },
  { group: 'i32 divide', cycles: 7,
    source: 'SDIV/UDIV 2..12 with early termination (TRM Table 3-1); midpoint 7', ops: ['i32.div_s', 'i32.div_u'] },
  { group: 'i32 remainder', cycles: 9, source: 'SDIV/UDIV 7 (midpoint) + MLS 2 (TRM Table 3-1)', ops: ['i32.rem_s', 'i32.rem_u'] },
  { group: 'i32 popcnt', cycles: 12, source: 'no POPCNT on ARMv7-M: SWAR bit count, about 12 ALU instructions of 1',
    ops: ['i32.popcnt'] },
  // --- i64 on a 32-bit core ------------------------------------------------------------------------
  { group: 'i64 pairwise ALU', cycles: 2,
    source: 'ADDS+ADC, SUBS+SBC, two AND/ORR/EOR, CMP+CMPEQ or CMP+SBCS, SXT+ASR: 2 x 1 (TRM Table 3-1)',
    ops: ['i64.add', 'i64.sub', 'i64.and', 'i64.or', 'i64.xor', 'i64.eqz', 'i64.eq', 'i64.ne', 'i64.lt_s',
      'i64.lt_u', 'i64.gt_s', 'i64.gt_u', 'i64.le_s', 'i64.le_u', 'i64.ge_s', 'i64.ge_u', 'i64.extend8_s',
      'i64.extend16_s', 'i64.extend32_s'] },
  { group: 'i64 clz/ctz', cycles: 5, source: 'two CLZ (plus RBIT for ctz), CMP, select: ~5 x 1', ops: ['i64.clz', 'i64.ctz'] },
  { group: 'i64 multiply', cycles: 5, source: 'UMULL 1 + 2 x MLA 2 (TRM Table 3-1)', ops: ['i64.mul'] },
  { group: 'i64 shift', cycles: 6, source: 'inline variable 64-bit shift (as in __aeabi_llsl/llsr): ~6 ALU ops',
    ops: ['i64.shl', 'i64.shr_s', 'i64.shr_u'] },
  { group: 'i64 rotate', cycles: 10, source: 'two 64-bit shifts and an OR pair, ~10 ALU ops', ops: ['i64.rotl', 'i64.rotr'] },
  { group: 'i64 popcnt', cycles: 25, source: 'two 32-bit SWAR popcounts and an add', ops: ['i64.popcnt'] },
  { group: 'i64 divide', cycles: 100,
    source: 'approximation: software __aeabi_ldivmod/__aeabi_uldivmod (ARM RTABI), typically tens to a few ' +
      'hundred cycles depending on operands; ~100',
    ops: ['i64.div_s', 'i64.div_u', 'i64.rem_s', 'i64.rem_u'] },
  // --- f32: FPv4-SP hardware --------------------------------------------------------------------
  { group: 'f32 FPU 1-cycle', cycles: 1,
    source: 'VADD/VSUB/VMUL/VABS/VNEG.F32 1, VMOV core<->FPU 1 (TRM Table 7-1)',
    ops: ['f32.add', 'f32.sub', 'f32.mul', 'f32.abs', 'f32.neg', 'i32.reinterpret_f32', 'f32.reinterpret_i32'] },
  { group: 'f32 compare / convert', cycles: 2,
    source: 'VCMP 1 + VMRS 1; VMOV 1 + VCVT 1 (TRM Table 7-1); VCVT saturates and maps NaN to 0, which is ' +
      'exactly trunc_sat',
    ops: ['f32.eq', 'f32.ne', 'f32.lt', 'f32.gt', 'f32.le', 'f32.ge', 'f32.convert_i32_s', 'f32.convert_i32_u',
      'i32.trunc_sat_f32_s', 'i32.trunc_sat_f32_u'] },
  { group: 'f32 copysign', cycles: 3, source: 'VMOV to core 1, BFI 1, VMOV back 1', ops: ['f32.copysign'] },
  { group: 'f32 min/max', cycles: 4, source: 'FPv4 has no VMAXNM: VCMP 1 + VMRS 1 + VMOVcc 1 + NaN check 1',
    ops: ['f32.min', 'f32.max'] },
  { group: 'f32 trapping truncate', cycles: 6,
    source: 'VCVT 1 + VMOV 1 + range checks (2 x VCMP/VMRS) for the wasm trap', ops: ['i32.trunc_f32_s', 'i32.trunc_f32_u'] },
  { group: 'f32 rounding', cycles: 10, source: 'FPv4 has no VRINT: VCVT to integer and back with range/sign fix-ups, ~10',
    ops: ['f32.ceil', 'f32.floor', 'f32.trunc', 'f32.nearest'] },
  { group: 'f32 divide / sqrt', cycles: 14, source: 'VDIV.F32 14, VSQRT.F32 14 (TRM Table 7-1)', ops: ['f32.div', 'f32.sqrt'] },
  // --- f64: no hardware, software floating point ---------------------------------------------------
  // The M4F FPU is single precision only (hardware.md); every f64 operation except sign-bit tricks is a
  // call into the soft-float library (__aeabi_dadd, __aeabi_dmul, ... of the ARM RTABI, as in libgcc's
  // ieee754-df.S). The cycle figures below are typical published counts for those routines on
  // Cortex-M3/M4 class cores, rounded: approximations, not measurements on the MT3620.
  { group: 'f64 sign bit', cycles: 1, source: 'BIC/EOR on the high word of the pair, 1 (TRM Table 3-1)', ops: ['f64.abs', 'f64.neg'] },
  { group: 'f64 copysign', cycles: 2, source: 'AND + BFI on the high words', ops: ['f64.copysign'] },
  { group: 'f64 compare (soft-float)', cycles: 25, source: 'approximation: __aeabi_dcmpeq/dcmplt/... ~25 incl. call',
    ops: ['f64.eq', 'f64.ne', 'f64.lt', 'f64.gt', 'f64.le', 'f64.ge'] },
  { group: 'f64 conversions (soft-float)', cycles: SOFT_CVT,
    source: 'approximation: __aeabi_d2iz/d2uiz/d2lz/f2lz/i2d/ui2d/l2d/l2f/f2d/d2f ~30 incl. call',
    ops: ['i32.trunc_f64_s', 'i32.trunc_f64_u', 'i64.trunc_f32_s', 'i64.trunc_f32_u', 'i64.trunc_f64_s',
      'i64.trunc_f64_u', 'f32.convert_i64_s', 'f32.convert_i64_u', 'f32.demote_f64', 'f64.convert_i32_s',
      'f64.convert_i32_u', 'f64.convert_i64_s', 'f64.convert_i64_u', 'f64.promote_f32', 'i32.trunc_sat_f64_s',
      'i32.trunc_sat_f64_u', 'i64.trunc_sat_f32_s', 'i64.trunc_sat_f32_u', 'i64.trunc_sat_f64_s',
      'i64.trunc_sat_f64_u'] },
  { group: 'f64 rounding (soft-float)', cycles: 40, source: 'approximation: libm floor/ceil/trunc/rint on soft-float ~40',
    ops: ['f64.ceil', 'f64.floor', 'f64.trunc', 'f64.nearest'] },
  { group: 'f64 multiply (soft-float)', cycles: 50, source: 'approximation: __aeabi_dmul ~50', ops: ['f64.mul'] },
  { group: 'f64 min/max (soft-float)', cycles: 50, source: 'approximation: two soft-float compares and NaN handling',
    ops: ['f64.min', 'f64.max'] },
  { group: 'f64 add/sub (soft-float)', cycles: 60, source: 'approximation: __aeabi_dadd/__aeabi_dsub ~60', ops: ['f64.add', 'f64.sub'] },
  { group: 'f64 divide (soft-float)', cycles: 200, source: 'approximation: __aeabi_ddiv ~200', ops: ['f64.div'] },
  { group: 'f64 sqrt (soft-float)', cycles: 300, source: 'approximation: libm sqrt on soft-float, ~1.5 x ddiv', ops: ['f64.sqrt'] },
  // --- bulk memory ------------------------------------------------------------------------------
  { group: 'bulk memory (per call)', cycles: 30,
    source: 'a per-CALL cost: call to memcpy/memset (17) plus setup; the length is a run-time value and the charge ' +
      'is made ahead of time, so long copies are undercounted (about 1 cycle per word is not charged)',
    ops: ['memory.copy', 'memory.fill', 'memory.init', 'table.init', 'table.copy'] },
  { group: 'segment drop', cycles: 1, source: 'STR of a "dropped" flag', ops: ['data.drop', 'elem.drop'] },
];

function build(name: string, clockHz: number, groups: readonly CostGroup[]): CostTable {
  const single = new Uint16Array(256).fill(NO_COST);
  const prefixed = new Map<number, number>();
  const seen = new Set<string>();
  for (const g of groups) {
    for (const op of g.ops) {
      if (seen.has(op)) throw new Error(`${name}: ${op} priced twice`);
      seen.add(op);
      const o = opcodeByName(op);
      if (o.prefix === 0xfc) prefixed.set(o.code, g.cycles);
      else single[o.code] = g.cycles;
    }
  }
  const missing = OPCODES.filter((o) => !seen.has(o.name)).map((o) => o.name);
  if (missing.length) throw new Error(`${name}: no cost for ${missing.join(', ')}`);
  return { name, clockHz, single, prefixed };
}

/** MT3620 real-time core: Cortex-M4F at 197,600,000 Hz (shared/reference/hardware.md). */
export const cortexM4FCosts: CostTable = build('cortex-m4f', 197_600_000, cortexM4FGroups);

/** One row per instruction, for tests and documentation. */
export function describe(table: readonly CostGroup[] = cortexM4FGroups):
  { op: string; cycles: number; group: string; source: string }[] {
  return table.flatMap((g) => g.ops.map((op) => ({ op, cycles: g.cycles, group: g.group, source: g.source })));
}

/** Cycles for one instruction by its text-format name, e.g. costByName('f64.add'). */
export function costByName(op: string, table: CostTable = cortexM4FCosts): number {
  const o = opcodeByName(op);
  const c = o.prefix === 0xfc ? table.prefixed.get(o.code) : table.single[o.code];
  if (c === undefined || c === NO_COST) throw new Error(`${table.name}: no cost for ${op}`);
  return c;
}
