// `rover build`: compile rtcore (AssemblyScript) into build/rtcore.wasm (release: what ships to
// the MCU) and build/rtcore.debug.wasm, and print the release size against its 16 KiB budget.
import { readdirSync, statSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CommandError, parse } from './cli.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
/** Issue budget: the release image stays under 16 KiB. */
export const RELEASE_BUDGET = 16 * 1024;

export const help = `rover build [--quiet-if-fresh] [--json]
rover build --target mt3620|qemu-mps2-an386 [--rig FILE] [--json]   Cortex-M4F image (mcu/README.md)

Compiles rtcore/ with AssemblyScript (asconfig.json) into
  build/rtcore.wasm        release: -O3 shrink 2, stub runtime, no asserts, one 64 KiB page
  build/rtcore.debug.wasm  debug: with source map
and prints the release size; fails if it is 16 KiB or more.
  --quiet-if-fresh  do nothing when both outputs are newer than every source file
  --json            print {"release":bytes,"debug":bytes,"budget":bytes}`;

function newest(dir: string): number {
  let t = 0;
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    const s = statSync(p);
    t = Math.max(t, s.isDirectory() ? newest(p) : s.mtimeMs);
  }
  return t;
}

export async function buildRtcore(): Promise<{ release: number; debug: number }> {
  const asc = (await import('assemblyscript/asc')).default;
  for (const target of ['release', 'debug']) {
    let err = '';
    const { error } = await asc.main(['rtcore/main.ts', '--config', 'asconfig.json', '--target', target], {
      stdout: { write: () => true } as any,
      stderr: { write: (s: string) => ((err += s), true) } as any,
      // asc resolves paths against its baseDir
      ...({ baseDir: ROOT } as object),
    } as any);
    if (error) throw new CommandError(`rtcore ${target} build failed: ${error.message}\n${err}`);
  }
  return { release: statSync(join(ROOT, 'build/rtcore.wasm')).size, debug: statSync(join(ROOT, 'build/rtcore.debug.wasm')).size };
}

export async function main(argv: string[]): Promise<number> {
  if (argv.some((a) => a === '--target' || a.startsWith('--target='))) return (await import('./build-target.ts')).main(argv);
  const a = parse(argv, { 'quiet-if-fresh': { type: 'boolean' }, json: { type: 'boolean' } }, help);
  if (!a) return 0;
  const outs = ['build/rtcore.wasm', 'build/rtcore.debug.wasm'].map((f) => join(ROOT, f));
  if (a.values['quiet-if-fresh'] && outs.every(existsSync)) {
    const src = Math.max(newest(join(ROOT, 'rtcore')), statSync(join(ROOT, 'asconfig.json')).mtimeMs);
    if (outs.every((o) => statSync(o).mtimeMs > src)) return 0;
  }
  const sizes = await buildRtcore();
  if (a.values.json) console.log(JSON.stringify({ ...sizes, budget: RELEASE_BUDGET }));
  else console.log(`rtcore.wasm (release): ${sizes.release} bytes of ${RELEASE_BUDGET} (${((100 * sizes.release) / RELEASE_BUDGET).toFixed(0)}%); debug: ${sizes.debug} bytes`);
  if (sizes.release >= RELEASE_BUDGET) throw new CommandError(`release rtcore.wasm is ${sizes.release} bytes: over the ${RELEASE_BUDGET}-byte budget`);
  return 0;
}
