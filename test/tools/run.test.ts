// `rover run` through the real CLI: JSON lines a script can read, exit codes, one-line errors.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = new URL('../../', import.meta.url).pathname;
const rover = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'tools/rover.ts', ...args], { cwd: ROOT, encoding: 'utf8' });

const c = suite('rover run (CLI)');
const dir = mkdtempSync(join(tmpdir(), 'rover-run-'));

c('--json: one object per batch, then the summary; --temp reaches the firmware; --vcd written', () => {
  const vcd = join(dir, 'w.vcd');
  const r = rover('run', '--seconds', '11', '--distance-cm', '88.8', '--temp', '-5', '--json', '--vcd', vcd);
  assert.is(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  const batches = lines.filter((l) => l.type === 'batch');
  assert.is(batches.length, 2);
  assert.equal(batches.map((b) => b.seq), [1, 2]);
  assert.is(batches[0].periodMs, 100);
  assert.is(batches[0].temperatureC, -5);
  assert.ok(batches[0].samplesMm.flat().every((mm: number) => Math.abs(mm - 888) <= 1));
  const s = lines.at(-1);
  assert.is(s.type, 'summary');
  assert.ok(s.simSeconds >= 11 && s.simSeconds < 11.01);
  assert.ok(s.wallSeconds > 0);
  assert.is(s.readings, 200);
  assert.is(s.noEcho, 0);
  assert.match(readFileSync(vcd, 'utf8'), /\$var wire 1 \S+ left\.TRIG \$end/);
});

c('--profile: a JSON world with a CSV file beside it', () => {
  writeFileSync(join(dir, 'd.csv'), '0,50\n100,50\n');
  writeFileSync(join(dir, 'world.json'), JSON.stringify({ distanceCm: { left: { kind: 'csv', file: 'd.csv' }, right: null } }));
  const r = rover('run', '--seconds', '6', '--profile', join(dir, 'world.json'), '--json');
  assert.is(r.status, 0, r.stderr);
  const b = JSON.parse(r.stdout.split('\n')[0]);
  assert.ok(b.samplesMm[0].every((mm: number) => Math.abs(mm - 500) <= 1));
  assert.ok(b.samplesMm[1].every((mm: number | null) => mm === null));
  assert.ok(b.kinds[1].every((k: string) => k === 'noEcho'));
});

c('bad arguments: exit 2 and one line naming the argument', () => {
  writeFileSync(join(dir, 'bad.json'), '{"distanceCm": {"left": {"kind": "ramp", "from": 1}}}');
  for (const [args, re] of [
    [['--seconds', 'soon'], /--seconds: expected/],
    [['--temp', '300'], /--temp: expected degrees C between -40 and 85, got '300'/],
    [['--distance-cm', '5', '--profile', 'x.json'], /exclude each other/],
    [['--profile', join(dir, 'bad.json')], /bad\.json: distanceCm\.left\.to: expected a number/],
    [['--rig', 'no-such-rig'], /no-such-rig\.rig\.json not found/],
    [['--frobnicate'], /Unknown option '--frobnicate'/],
  ] as [string[], RegExp][]) {
    const r = rover('run', ...args);
    assert.is(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.is(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
  }
});

c('--help documents every option', () => {
  const r = rover('run', '--help');
  assert.is(r.status, 0);
  for (const o of ['--rig', '--distance-cm', '--profile', '--temp', '--seconds', '--seed', '--vcd', '--json']) assert.match(r.stdout, o);
});

c.after(() => rmSync(dir, { recursive: true, force: true }));
c.run();
