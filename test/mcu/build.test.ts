// The Cortex-M4F build (tools/build-target.ts): both boards link, every HAL import has a C
// implementation on every board, the image sits where the board's memory map says, the generated
// glue follows the HAL ABI table, and an image that does not fit fails the build.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildTarget, generateGlue, TargetBuildError, ROOT } from '../../tools/build-target.ts';
import { HAL_IMPORTS } from '../../boards/mt3620/m4-core.ts';
import { haveTools, suiteTempDirs } from './_qemu.ts';

const b = suite('mcu: Cortex-M4F build');
const missing = haveTools();
const tmp = suiteTempDirs((fn) => b.after(fn));

b('every board implements every HAL import in C', () => {
  for (const file of ['mcu/mt3620/hal.c', 'mcu/qemu-mps2-an386/hal.c', 'mcu/qemu-mps2-an386/replay.c']) {
    const c = readFileSync(join(ROOT, file), 'utf8');
    for (const [name, sig] of Object.entries(HAL_IMPORTS)) {
      const m = new RegExp(`^(void|uint32_t) hal_${name}\\(([^)]*)\\)`, 'm').exec(c);
      assert.ok(m, `${file}: hal_${name} missing`);
      assert.is(m![1] === 'void', sig.results.length === 0, `${file}: hal_${name} result`);
      const n = m![2].trim() === 'void' ? 0 : m![2].split(',').length;
      assert.is(n, sig.params.length, `${file}: hal_${name} parameters`);
    }
  }
});

b('MT3620: vectors at the TCM base, wasm memory fills SYSRAM, fits 192 KB TCM', async () => {
  if (missing) throw new Error(`${missing} not installed (CI installs it: .ci/run)`);
  const r = await buildTarget('mt3620', { outDir: tmp() });
  const s = r.sizes;
  assert.is(s.sections['.text'].addr, 0x00100000, 'image starts at the TCM (hardware.md)');
  assert.is(s.sections['.wasm_memory'].addr, 0x22000000, 'linear memory in SYSRAM');
  assert.is(s.sections['.wasm_memory'].size, 65536, 'one 64 KiB wasm page');
  assert.is(s.regions.SYSRAM.used, 65536);
  assert.ok(s.regions.TCM.used < 192 * 1024 && s.text > 4096, `TCM ${s.regions.TCM.used}, text ${s.text}`);
  // Vector table word 0: initial stack pointer inside TCM; word 1: reset handler, Thumb bit set.
  const bin = readFileSync(r.bin);
  const sp = bin.readUInt32LE(0);
  const reset = bin.readUInt32LE(4);
  assert.ok(sp > 0x00100000 && sp <= 0x00100000 + 192 * 1024, `SP 0x${sp.toString(16)}`);
  assert.ok((reset & 1) === 1 && reset > 0x00100000 && reset < 0x00100000 + s.text, `reset 0x${reset.toString(16)}`);
});

b('an image that does not fit fails the build', async () => {
  if (missing) throw new Error(`${missing} not installed (CI installs it: .ci/run)`);
  const d = tmp();
  const script = join(d, 'small.ld');
  writeFileSync(script, readFileSync(join(ROOT, 'mcu/mt3620/linker.ld'), 'utf8').replace('LENGTH = 192K', 'LENGTH = 8K'));
  try {
    await buildTarget('mt3620', { outDir: d, linkerScript: script });
    assert.unreachable('an 8 KB TCM cannot hold the image');
  } catch (e) {
    assert.instance(e, TargetBuildError);
    assert.match((e as Error).message, /TCM' overflowed/);
  }
});

b('MT3620: an echo pin without an edge interrupt is refused with the rig; the shipped rigs build', async () => {
  if (missing) throw new Error(`${missing} not installed (CI installs it: .ci/run)`);
  // boards/mt3620/chip.json: EINT0..23 serve GPIO0..23 only. The rig loader refuses the wiring, so the
  // simulator and the chip agree on what a rig may do.
  const dir = tmp();
  const rig = join(dir, 'bad.rig.json');
  writeFileSync(rig, JSON.stringify({
    board: 'avnet-mt3620-sk',
    parts: [{ id: 'left', type: 'hc-sr04' }],
    connections: [['left:TRIG', 'board:click1.PWM'], ['left:ECHO', 'board:click2.CS']],
    rangers: ['left'],
  }));
  try {
    await buildTarget('mt3620', { outDir: tmp(), rig });
    assert.unreachable('GPIO35 cannot interrupt the MT3620 RT core');
  } catch (e) {
    assert.match((e as Error).message, 'left:ECHO is on GPIO35, which has no edge interrupt on mt3620 (GPIO0-23 only)');
  }
  for (const r of ['rover-avnet', 'rover-grove', 'rover-hcsr04']) await buildTarget('mt3620', { outDir: tmp(), rig: r });
});

b('glue generation refuses a firmware that does not match the HAL ABI', () => {
  const header = (imports: string) => `${imports}
/* export: 'init' */
void Z_rtcoreZ_init(Z_rtcore_instance_t*);
/* export: 'idle' */
void Z_rtcoreZ_idle(Z_rtcore_instance_t*);
/* export: 'isr_gpio' */
void Z_rtcoreZ_isr_gpio(Z_rtcore_instance_t*, u32, u32, u32);
/* export: 'isr_timer' */
void Z_rtcoreZ_isr_timer(Z_rtcore_instance_t*, u32);
/* export: 'isr_mailbox' */
void Z_rtcoreZ_isr_mailbox(Z_rtcore_instance_t*, u32);
/* export: 'memory' */
wasm_rt_memory_t* Z_rtcoreZ_memory(Z_rtcore_instance_t* instance);
void Z_rtcore_init_module(void);
void Z_rtcore_instantiate(Z_rtcore_instance_t*, struct Z_hal_instance_t*);
`;
  const ok = generateGlue(header(`/* import: 'hal' 'gpio_write' */\nvoid Z_halZ_gpio_write(struct Z_hal_instance_t*, u32, u32);`), 'rtcore.h');
  assert.match(ok, 'void Z_halZ_gpio_write(struct Z_hal_instance_t* instance, u32 a0, u32 a1) {');
  assert.match(ok, 'hal_gpio_write(a0, a1);');
  assert.match(ok, 'void fw_isr_gpio(uint32_t a0, uint32_t a1, uint32_t a2) { Z_rtcoreZ_isr_gpio(&fw, a0, a1, a2); }');
  assert.match(ok, 'const int32_t rig_role_gpio[4] = {0, 1, 4, 5};', 'pins from rover-hcsr04 (Seeed RDB header 1 pins 4, 6, 12; header 2 pin 4)');
  assert.throws(() => generateGlue(header(`/* import: 'hal' 'gpio_write' */\nvoid Z_halZ_gpio_write(struct Z_hal_instance_t*, u32);`), 'rtcore.h'), /gpio_write: firmware passes 1 arguments/);
  assert.throws(() => generateGlue(header(`/* import: 'hal' 'beep' */\nvoid Z_halZ_beep(struct Z_hal_instance_t*);`), 'rtcore.h'), /hal.beep, which no board provides/);
  assert.throws(() => generateGlue(header('').replace(/\/\* export: 'idle'[^\n]*\n[^\n]*\n/, ''), 'rtcore.h'), /does not export idle/);
});

b('mcu/README.md: the wasm3 signature table covers every HAL import with its wasm type', () => {
  const md = readFileSync(join(ROOT, 'mcu/README.md'), 'utf8');
  const rows = new Map([...md.matchAll(/^\| (\w+) \| [^|]+ \| `([a-z*]+)\(([a-z*]*)\)` \|$/gm)].map((m) => [m[1], { ret: m[2], params: m[3] }]));
  assert.equal([...rows.keys()].sort(), Object.keys(HAL_IMPORTS).sort());
  for (const [name, sig] of Object.entries(HAL_IMPORTS)) {
    const r = rows.get(name)!;
    assert.is(r.ret, sig.results.length ? 'i' : 'v', name);
    assert.is(r.params.replace(/\*/g, 'i'), sig.params.map(() => 'i').join(''), name);
  }
});

b.run();
