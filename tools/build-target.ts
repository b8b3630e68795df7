// `rover build --target BOARD`: the shipped rtcore.wasm as a Cortex-M4F image. wasm2c translates the
// release .wasm to C (ahead of time; no interpreter on the chip), our small runtime replaces wabt's
// wasm-rt-impl.c (mcu/runtime), a C HAL per board implements every import of the HAL ABI
// (mcu/<board>/hal.c), and arm-none-eabi-gcc links it with the board's linker script into an ELF,
// a raw binary and a size report. The build fails when the image does not fit the board's memory.
// Tools (Debian): wabt (wasm2c), gcc-arm-none-eabi, libnewlib-arm-none-eabi. See mcu/README.md.
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { HAL_IMPORTS, FIRMWARE_EXPORTS } from '../boards/mt3620/m4-core.ts';
import { loadRig } from '../boards/hardware.ts';

const run = promisify(execFile);
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const MCU = join(ROOT, 'mcu');

export type Target = 'mt3620' | 'qemu-mps2-an386';

export interface Region {
  name: string;
  origin: number;
  bytes: number;
}

/** Per board: where its C lives, and the memory the image must fit (the linker script holds the
 *  same numbers; hardware.md for the MT3620). */
export const TARGETS: Record<Target, { dir: string; sources: string[]; regions: Region[]; summary: string; edgeIrqGpios?: number; drivableGpio?: (g: number) => boolean }> = {
  mt3620: {
    dir: 'mt3620',
    sources: ['hal.c', 'ring.c'],
    regions: [
      { name: 'TCM', origin: 0x00100000, bytes: 192 * 1024 },
      { name: 'SYSRAM', origin: 0x22000000, bytes: 64 * 1024 },
    ],
    summary: 'MT3620 real-time core: image in the 192 KB TCM, wasm memory in the 64 KB SYSRAM',
    // The RT core's external interrupts EINT0..23 serve GPIO0..23 only; hal.c drives the GPIO and ISU
    // group blocks: GPIO0-23, 26-40, 66-75 (mcu/mt3620/hal.c gpio_block).
    edgeIrqGpios: 24,
    drivableGpio: (g) => g < 24 || (g >= 26 && g <= 40) || (g >= 66 && g <= 75),
  },
  'qemu-mps2-an386': {
    dir: 'qemu-mps2-an386',
    sources: ['common.c', 'hal.c'],
    regions: [
      { name: 'SSRAM1', origin: 0x00000000, bytes: 4 * 1024 * 1024 },
      { name: 'SSRAM23', origin: 0x20000000, bytes: 4 * 1024 * 1024 },
    ],
    summary: 'QEMU mps2-an386 (Cortex-M4F): CMSDK timers and UART0',
  },
};

export const CFLAGS = [
  '-mcpu=cortex-m4', '-mthumb', '-mfloat-abi=hard', '-mfpu=fpv4-sp-d16', '-Os', '-g',
  '-ffunction-sections', '-fdata-sections', '-fno-common', '-Wall', '-Wno-unused-function', '-Wno-unused-variable',
  '-Wno-unused-but-set-variable', '-DNDEBUG',
  // Call-depth guard of the generated code (wasm-rt.h); the 16 KiB stack holds far more.
  '-DWASM_RT_MAX_CALL_STACK_DEPTH=200',
];

export const help = `rover build --target mt3620|qemu-mps2-an386 [--rig FILE] [--json]

Builds the release build/rtcore.wasm for a Cortex-M4F board (mcu/README.md):
  wasm2c (wabt) -> C, our runtime (mcu/runtime), the board's C HAL (mcu/<board>/hal.c), startup and
  vector table (mcu/common), linked by arm-none-eabi-gcc with the board's linker script
  (-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 -Os).
Writes build/mcu/<target>/rtcore.elf, rtcore.bin, rtcore.map and prints text/data/bss and the use of
each memory region; fails if the image does not fit (MT3620: 192 KB TCM, 64 KB SYSRAM).
  --rig FILE   rig whose wiring gives pin(role) and the sensor supply switches (default rover-hcsr04)
  --json       print {"target","elf","bin","sizes":{...}}
Needs: wasm2c (Debian wabt), arm-none-eabi-gcc (gcc-arm-none-eabi, libnewlib-arm-none-eabi).`;

export interface BuildOptions {
  /** Output directory (default build/mcu/<target>). */
  outDir?: string;
  /** Rig file or name (boards/rigs); its wiring becomes the pin tables. */
  rig?: string;
  /** The .wasm to translate (default build/rtcore.wasm, the release binary). */
  wasm?: string;
  /** qemu-mps2-an386 only: link the replay HAL with this trace (mcu/qemu-mps2-an386/replay.c). */
  replayTrace?: Uint32Array;
  /** Another linker script for the board (tests: a smaller memory must fail the build). */
  linkerScript?: string;
}

export interface Sizes {
  text: number;
  data: number;
  bss: number;
  /** Bytes of each memory region the image uses, and its size. */
  regions: Record<string, { used: number; bytes: number }>;
  sections: Record<string, { addr: number; size: number }>;
}

export class TargetBuildError extends Error {}

/** A program from the system's PATH, never from node_modules/.bin: under `npm test` npm puts
 *  node_modules/.bin first, and the npm `wabt` package (a test dependency) ships a wasm2c of another
 *  version whose C needs another wasm-rt.h. */
export function systemTool(cmd: string): string {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (!dir || dir.includes('node_modules')) continue;
    const f = join(dir, cmd);
    if (existsSync(f)) return f;
  }
  return cmd; // not found: the call reports ENOENT with the package to install
}

async function tool(cmd: string, args: string[], cwd?: string): Promise<string> {
  try {
    const { stdout } = await run(systemTool(cmd), args, { cwd, maxBuffer: 64 << 20 });
    return stdout;
  } catch (e: any) {
    if (e.code === 'ENOENT') {
      const pkg = cmd === 'wasm2c' ? 'wabt' : 'gcc-arm-none-eabi libnewlib-arm-none-eabi';
      throw new TargetBuildError(`${cmd} not found: install it (Debian: apt-get install ${pkg})`);
    }
    throw new TargetBuildError(`${cmd} failed: ${(e.stderr || e.message).toString().trim().split('\n').slice(0, 20).join('\n')}`);
  }
}

/** wasm-rt.h of the installed wabt: the generated C must be compiled against its own version. */
async function wasmRtHeader(): Promise<string> {
  const candidates = ['/usr/include/wasm-rt.h', '/usr/local/include/wasm-rt.h'];
  const bin = systemTool('wasm2c');
  if (bin !== 'wasm2c') candidates.unshift(join(dirname(bin), '..', 'include', 'wasm-rt.h'), join(dirname(bin), '..', 'share', 'wabt', 'wasm2c', 'wasm-rt.h'));
  const f = candidates.find(existsSync);
  if (!f) throw new TargetBuildError('wasm-rt.h (from wabt) not found beside wasm2c');
  return f;
}

interface Decl {
  ret: string;
  cname: string;
  params: string[];
}

/** Read the wasm2c header: import thunks and export names differ between wabt versions
 *  (1.0.32: Z_halZ_gpio_write / Z_rtcoreZ_init; newer: w2c_hal_gpio_write / w2c_rtcore_init), so the
 *  glue is generated from what this wabt wrote, and checked against the HAL ABI table. */
export function parseHeader(h: string): { imports: Map<string, Decl>; exports: Map<string, Decl>; instanceType: string; initModule: string | null; instantiate: Decl } {
  const imports = new Map<string, Decl>();
  const exports = new Map<string, Decl>();
  const decl = (s: string): Decl => {
    const m = /^\s*(.+?)\s*\b(\w+)\((.*)\);/.exec(s);
    if (!m) throw new TargetBuildError(`wasm2c header: cannot read declaration '${s}'`);
    const params = m[3].trim() === '' || m[3].trim() === 'void' ? [] : m[3].split(',').map((p) => p.trim());
    return { ret: m[1], cname: m[2], params };
  };
  for (const m of h.matchAll(/\/\* import: '(\w+)' '(\w+)' \*\/\s*\n([^\n]+)/g)) {
    if (m[1] !== 'hal') throw new TargetBuildError(`firmware imports from module '${m[1]}': only "hal" exists`);
    imports.set(m[2], decl(m[3]));
  }
  for (const m of h.matchAll(/\/\* export: '(\w+)' \*\/\s*\n([^\n]+)/g)) exports.set(m[1], decl(m[2]));
  const inst = /\n\s*void (\w+_instantiate)\(([^)]*)\);/.exec(h);
  if (!inst) throw new TargetBuildError('wasm2c header: no *_instantiate function');
  const instantiate = decl(`void ${inst[1]}(${inst[2]});`);
  const instanceType = instantiate.params[0].replace(/\*$/, '').trim();
  const im = /\n\s*void (\w+_init_module)\(void\);/.exec(h);
  return { imports, exports, instanceType, initModule: im ? im[1] : null, instantiate };
}

const EXPORT_ORDER = ['init', 'idle', 'isr_gpio', 'isr_timer', 'isr_mailbox'] as const;

/** glue.c: fw_* wrappers around the exports, hal_* calls behind each import, rig pin tables. */
export function generateGlue(header: string, headerName: string, rigFile?: string): string {
  const { imports, exports, instanceType, initModule, instantiate } = parseHeader(header);
  const problems: string[] = [];
  for (const [name, sig] of Object.entries(HAL_IMPORTS)) {
    const d = imports.get(name);
    if (!d) continue; // a HAL function the firmware does not use is fine
    if (d.params.length - 1 !== sig.params.length) problems.push(`hal.${name}: firmware passes ${d.params.length - 1} arguments, HAL_IMPORTS says ${sig.params.length}`);
    if ((d.ret === 'void') !== (sig.results.length === 0)) problems.push(`hal.${name}: result differs from HAL_IMPORTS`);
  }
  for (const name of imports.keys()) if (!(name in HAL_IMPORTS)) problems.push(`firmware imports hal.${name}, which no board provides (HAL_IMPORTS)`);
  for (const [name, sig] of Object.entries(FIRMWARE_EXPORTS)) {
    const d = exports.get(name);
    if (!d) problems.push(`firmware does not export ${name}`);
    else if (sig !== 'memory' && d.params.length - 1 !== sig.params.length) problems.push(`export ${name}: ${d.params.length - 1} parameters, FIRMWARE_EXPORTS says ${sig.params.length}`);
  }
  if (problems.length) throw new TargetBuildError(`HAL ABI mismatch:\n  ${problems.join('\n  ')}`);

  const rig = loadRig(rigFile);
  const gpioOf = (id: string, pin: string) => rig.wiring.get(`${id}:${pin}`);
  const roles = [-1, -1, -1, -1];
  const vcc = [-1, -1];
  rig.rangers.slice(0, 2).forEach((id, r) => {
    const single = gpioOf(id, 'SIG');
    roles[2 * r] = single ?? gpioOf(id, 'TRIG') ?? -1;
    roles[2 * r + 1] = single ?? gpioOf(id, 'ECHO') ?? -1;
    vcc[r] = gpioOf(id, 'VCC') ?? -1;
  });

  const out: string[] = [
    `/* Generated by tools/build-target.ts from ${headerName} (wasm2c) and ${rig.file.replace(ROOT + '/', '')}. Do not edit. */`,
    `#include "${headerName}"`,
    '#include "mcu.h"',
    '',
    `/* rig ${rig.board.name}: rangers ${rig.rangers.join(', ')} */`,
    `const int32_t rig_role_gpio[4] = {${roles.join(', ')}};`,
    `const int32_t rig_vcc_gpio[2] = {${vcc.join(', ')}};`,
    '',
    `static ${instanceType} fw;`,
    '',
    'void fw_instantiate(void) {',
    '  wasm_rt_init();',
    ...(initModule ? [`  ${initModule}();`] : []),
    `  ${instantiate.cname}(&fw${instantiate.params.slice(1).map(() => ', 0').join('')});`,
    '}',
  ];
  for (const name of EXPORT_ORDER) {
    const d = exports.get(name)!;
    const n = d.params.length - 1;
    const ps = Array.from({ length: n }, (_, i) => `uint32_t a${i}`);
    out.push(`void fw_${name}(${ps.join(', ') || 'void'}) { ${d.cname}(&fw${ps.map((_, i) => `, a${i}`).join('')}); }`);
  }
  out.push(`uint8_t *fw_memory(void) { return ${exports.get('memory')!.cname}(&fw)->data; }`, '');
  for (const [name, d] of imports) {
    const n = d.params.length - 1;
    const ps = [d.params[0] + ' instance', ...Array.from({ length: n }, (_, i) => `u32 a${i}`)];
    const call = `hal_${name}(${Array.from({ length: n }, (_, i) => `a${i}`).join(', ')})`;
    out.push(`${d.ret} ${d.cname}(${ps.join(', ')}) {`, '  (void)instance;', `  ${d.ret === 'void' ? '' : 'return '}${call};`, '}');
  }
  return out.join('\n') + '\n';
}

/** The replay trace as C (mcu/qemu-mps2-an386/replay.c reads it). */
function traceC(words: Uint32Array): string {
  const lines: string[] = [];
  for (let i = 0; i < words.length; i += 8) lines.push('  ' + Array.from(words.subarray(i, i + 8), (w) => `0x${w.toString(16)}u`).join(', ') + ',');
  return `#include <stdint.h>\nconst uint32_t replay_trace[] = {\n${lines.join('\n')}\n  0};\nconst uint32_t replay_trace_words = ${words.length}u;\n`;
}

/** Parse `arm-none-eabi-size -A` (name, size, addr). */
function sections(out: string): Record<string, { addr: number; size: number }> {
  const r: Record<string, { addr: number; size: number }> = {};
  for (const line of out.split('\n')) {
    const m = /^(\.\S+)\s+(\d+)\s+(\d+)/.exec(line.trim());
    // debug sections are not loaded (address 0): only the image's own sections count
    if (m && !/^\.(debug|comment|ARM\.attributes|stab)/.test(m[1])) r[m[1]] = { size: Number(m[2]), addr: Number(m[3]) };
  }
  return r;
}

/** Compile and link C sources with a board's startup, linker script and flags (test programs:
 *  test/mcu/ring.test.ts runs mcu/mt3620/ring.c on the mps2 board). */
export async function buildProgram(target: Target, sources: string[], outDir: string): Promise<string> {
  const t = TARGETS[target];
  const board = join(MCU, t.dir);
  mkdirSync(outDir, { recursive: true });
  const inc = ['-I', outDir, '-I', join(MCU, 'runtime'), '-I', board, '-I', join(MCU, 'mt3620'), '-I', join(MCU, 'bootloader')];
  const all = [join(MCU, 'common', 'startup.c'), join(MCU, 'common', 'util.c'), ...sources];
  const objs = await Promise.all(all.map(async (src, i) => {
    const obj = join(outDir, `p${i}-${src.split('/').pop()!.replace(/\.c$/, '.o')}`);
    await tool('arm-none-eabi-gcc', [...CFLAGS, ...inc, '-c', src, '-o', obj]);
    return obj;
  }));
  const elf = join(outDir, 'program.elf');
  await tool('arm-none-eabi-gcc', [...CFLAGS, '-nostartfiles', '--specs=nano.specs', '-Wl,--gc-sections', '-Wl,--no-warn-rwx-segments',
    '-T', join(board, 'linker.ld'), '-L', join(MCU, 'common'), '-L', board, ...objs, '-lm', '-o', elf]);
  return elf;
}

export async function buildTarget(target: Target, opts: BuildOptions = {}): Promise<{ elf: string; bin: string; sizes: Sizes }> {
  const t = TARGETS[target];
  if (!t) throw new TargetBuildError(`unknown target '${target}' (known: ${Object.keys(TARGETS).join(', ')})`);
  if (opts.replayTrace && target !== 'qemu-mps2-an386') throw new TargetBuildError('a replay build exists for qemu-mps2-an386 only');
  const wasm = resolve(opts.wasm ?? join(ROOT, 'build', 'rtcore.wasm'));
  if (!existsSync(wasm)) {
    if (opts.wasm) throw new TargetBuildError(`${wasm} not found`);
    const { buildRtcore } = await import('./build.ts');
    await buildRtcore();
  }
  if (t.edgeIrqGpios !== undefined || t.drivableGpio) {
    const rig = loadRig(opts.rig);
    for (const [name, g] of rig.wiring) {
      if (t.drivableGpio && !t.drivableGpio(g)) throw new TargetBuildError(`${target}: ${rig.file.replace(ROOT + '/', '')}: ${name} is on GPIO${g}, which the HAL cannot drive (mcu/mt3620/hal.c gpio_block)`);
    }
    // The firmware takes each echo (HC-SR04 ECHO, Grove SIG) as an edge interrupt: the pin needs one.
    for (const id of rig.rangers) {
      for (const pin of ['ECHO', 'SIG']) {
        const g = rig.wiring.get(`${id}:${pin}`);
        if (g !== undefined && t.edgeIrqGpios !== undefined && g >= t.edgeIrqGpios) {
          throw new TargetBuildError(`${target}: ${rig.file.replace(ROOT + '/', '')}: ${id}:${pin} is on GPIO${g}, which has no edge interrupt on this core (EINT covers GPIO0-${t.edgeIrqGpios - 1}); wire it to one of those`);
        }
      }
    }
  }
  const out = resolve(opts.outDir ?? join(ROOT, 'build', 'mcu', target));
  mkdirSync(out, { recursive: true });

  // 1. wasm -> C (the module is named rtcore: its symbols say so)
  await tool('wasm2c', [wasm, '-n', 'rtcore', '-o', join(out, 'rtcore.c')]);
  copyFileSync(await wasmRtHeader(), join(out, 'wasm-rt.h'));
  writeFileSync(join(out, 'glue.c'), generateGlue(readFileSync(join(out, 'rtcore.h'), 'utf8'), 'rtcore.h', opts.rig));

  // 2. compile: generated code, our runtime, startup, main loop, the board
  const board = join(MCU, t.dir);
  const boardSources = opts.replayTrace ? ['common.c', 'replay.c'] : t.sources;
  if (opts.replayTrace) writeFileSync(join(out, 'trace.c'), traceC(opts.replayTrace));
  const sources = [
    join(out, 'rtcore.c'), join(out, 'glue.c'),
    join(MCU, 'runtime', 'wasm-rt-mcu.c'),
    join(MCU, 'common', 'startup.c'), join(MCU, 'common', 'main.c'), join(MCU, 'common', 'util.c'),
    ...boardSources.map((s) => join(board, s)),
    ...(opts.replayTrace ? [join(out, 'trace.c')] : []),
  ];
  const inc = ['-I', out, '-I', join(MCU, 'runtime'), '-I', board];
  const objs = await Promise.all(sources.map(async (src, i) => {
    const obj = join(out, `${i}-${src.split('/').pop()!.replace(/\.c$/, '.o')}`);
    await tool('arm-none-eabi-gcc', [...CFLAGS, ...inc, '-c', src, '-o', obj]);
    return obj;
  }));

  // 3. link: the board's linker script (regions) includes mcu/common/sections.ld
  const elf = join(out, 'rtcore.elf');
  const bin = join(out, 'rtcore.bin');
  await tool('arm-none-eabi-gcc', [
    ...CFLAGS, '-nostartfiles', '--specs=nano.specs', '-Wl,--gc-sections', '-Wl,--no-warn-rwx-segments',
    '-T', opts.linkerScript ?? join(board, 'linker.ld'), '-L', join(MCU, 'common'), `-Wl,-Map=${join(out, 'rtcore.map')}`,
    '-L', board, ...objs, '-lm', '-o', elf,
  ]);
  await tool('arm-none-eabi-objcopy', ['-O', 'binary', '--remove-section=.wasm_memory', '--remove-section=.stack', '--remove-section=.bss', elf, bin]);

  // 4. sizes, and the fit check (the linker already refuses an overflowing region)
  const berkeley = (await tool('arm-none-eabi-size', ['-B', elf])).trim().split('\n')[1].trim().split(/\s+/).map(Number);
  const secs = sections(await tool('arm-none-eabi-size', ['-A', elf]));
  const regions: Sizes['regions'] = {};
  for (const r of t.regions) regions[r.name] = { used: 0, bytes: r.bytes };
  for (const s of Object.values(secs)) {
    const r = t.regions.find((g) => s.addr >= g.origin && s.addr < g.origin + g.bytes);
    if (r && s.size) regions[r.name].used = Math.max(regions[r.name].used, s.addr + s.size - r.origin);
  }
  const sizes: Sizes = { text: berkeley[0], data: berkeley[1], bss: berkeley[2], regions, sections: secs };
  for (const [name, r] of Object.entries(regions)) {
    if (r.used > r.bytes) throw new TargetBuildError(`${target}: image needs ${r.used} bytes of ${name}, which has ${r.bytes}`);
  }
  return { elf, bin, sizes };
}

export function describe(target: Target, r: { elf: string; bin: string; sizes: Sizes }): string {
  const s = r.sizes;
  const regions = Object.entries(s.regions).map(([n, g]) => `${n} ${g.used} of ${g.bytes} bytes (${((100 * g.used) / g.bytes).toFixed(1)}%)`).join('; ');
  return `${target}: ${r.elf.replace(ROOT + '/', '')}  text ${s.text}  data ${s.data}  bss ${s.bss}  (${regions})`;
}

export async function main(argv: string[]): Promise<number> {
  const { parse, jsonLine, UsageError, CommandError } = await import('./cli.ts');
  const a = parse(argv, { target: { type: 'string' }, rig: { type: 'string' }, json: { type: 'boolean' } }, help);
  if (!a) return 0;
  const target = a.values.target as Target | undefined;
  if (!target || !(target in TARGETS)) throw new UsageError(`--target: expected one of ${Object.keys(TARGETS).join(', ')}, got '${target ?? ''}'`);
  let r;
  try {
    r = await buildTarget(target, { rig: a.values.rig });
  } catch (e) {
    if (e instanceof TargetBuildError) throw new CommandError(e.message);
    throw e;
  }
  if (a.values.json) jsonLine({ target, elf: r.elf, bin: r.bin, sizes: { text: r.sizes.text, data: r.sizes.data, bss: r.sizes.bss, regions: r.sizes.regions } });
  else console.log(describe(target, r));
  return 0;
}
