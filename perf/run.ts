// `npm run perf`: every benchmark module in perf/ that exports run(), one after another in this
// process; each prints its figures (ratios and rates measured within its own run).
import { readdirSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const dir = new URL('.', import.meta.url).pathname;
const only = process.argv.slice(2);
for (const f of readdirSync(dir).sort()) {
  if (!f.endsWith('.ts') || f === 'run.ts' || (only.length && !only.some((o) => f.includes(o)))) continue;
  console.log(`# ${f}`);
  // A module without run() is a script that measures and prints when imported (perf/instrument.ts).
  const mod = await import(pathToFileURL(dir + f).href);
  if (typeof mod.run !== 'function') continue;
  const figures = await mod.run();
  for (const [k, v] of Object.entries(figures ?? {})) console.log(`${k.padEnd(48)} ${v}`);
}
process.exit(0);
