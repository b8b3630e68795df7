// Runs every uvu suite under test/ in one process and ends with the line CI reads:
// "N passed, N failed". Usage: node --import tsx test/run.ts [substring-filter ...]
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';

const root = new URL('.', import.meta.url).pathname;
const filters = process.argv.slice(2);

function collect(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...collect(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const files = collect(root).filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error(`test/run: no test file matches ${filters.join(' ')}`);
  process.exit(2);
}

// uvu defers suites registered while UVU_DEFER is set, then exec() runs them all.
(globalThis as any).UVU_DEFER = 1;
(globalThis as any).UVU_QUEUE = [];
for (const f of files) {
  (globalThis as any).UVU_INDEX = files.indexOf(f);
  (globalThis as any).UVU_QUEUE.push([relative(root, f)]);
  await import(pathToFileURL(f).href);
}

let captured = '';
const write = process.stdout.write.bind(process.stdout);
process.stdout.write = ((chunk: any, ...rest: any[]) => {
  captured += String(chunk);
  return write(chunk, ...rest);
}) as typeof process.stdout.write;

const { exec } = await import('uvu');
await exec();
process.stdout.write = write;

const plain = captured.replace(/\x1b\[[0-9;]*m/g, '');
const total = Number(/Total:\s+(\d+)/.exec(plain)?.[1] ?? 0);
const passed = Number(/Passed:\s+(\d+)/.exec(plain)?.[1] ?? 0);
const skipped = Number(/Skipped:\s+(\d+)/.exec(plain)?.[1] ?? 0);
console.log(`${passed} passed, ${total - passed - skipped} failed${skipped ? `, ${skipped} skipped` : ''}`);
// Leftover handles (servers, timers) must not keep CI waiting.
process.exit(process.exitCode ?? (total - passed - skipped > 0 ? 1 : 0));
