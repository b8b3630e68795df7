// Image sizes of the Cortex-M4F build (mcu/README.md): the release .wasm, and per board the ELF's
// text/data/bss and the share of each memory region; the wasm-to-ARM code ratio; and, when the
// flashing protocol is available, its throughput over the simulated link.
import { statSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildTarget, ROOT, type Target } from '../tools/build-target.ts';

export async function run(): Promise<Record<string, number | string>> {
  const out: Record<string, number | string> = {};
  const wasm = statSync(join(ROOT, 'build', 'rtcore.wasm')).size;
  out['rtcore.wasm bytes'] = wasm;
  const dir = mkdtempSync(join(tmpdir(), 'rover-perf-mcu-'));
  try {
    for (const t of ['mt3620', 'qemu-mps2-an386'] as Target[]) {
      const t0 = performance.now();
      const r = await buildTarget(t, { outDir: join(dir, t) });
      out[`${t} build seconds`] = ((performance.now() - t0) / 1000).toFixed(2);
      out[`${t} text bytes`] = r.sizes.text;
      out[`${t} data bytes`] = r.sizes.data;
      out[`${t} bss bytes (incl. 16 KiB stack, 64 KiB wasm memory)`] = r.sizes.bss;
      out[`${t} bin bytes`] = statSync(r.bin).size;
      for (const [name, g] of Object.entries(r.sizes.regions)) out[`${t} ${name} used`] = `${g.used} of ${g.bytes} (${((100 * g.used) / g.bytes).toFixed(1)}%)`;
    }
    out['mt3620 text / wasm size'] = (Number(out['mt3620 text bytes']) / wasm).toFixed(2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  try {
    const flash = await import('../tools/flash.ts');
    if (typeof (flash as any).benchmark === 'function') Object.assign(out, await (flash as any).benchmark());
  } catch {
    /* flashing not available */
  }
  return out;
}
