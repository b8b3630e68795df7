// The report opens in a real browser (Debian's chromium, driven by playwright-core): the charts are
// drawn with data (not an empty canvas), the page needs no network, and logs no console error.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { renderReport, type RunRecord } from '../../sim/report.ts';
import { RtRun } from '../../sim/rt-run.ts';
import { sampleTimeUs } from '../../hlcore/intercore/frame.ts';
import { runSimulation } from '../../sim/rover-sim.ts';
import { loadScenario } from '../../sim/scenario.ts';

const CHROMIUM = '/usr/bin/chromium';
const r = suite('report.html in headless Chromium');

/** A record from a real firmware run (distances), with made-up cloud series of the right shape. */
function record(): RunRecord {
  const run = new RtRun({ world: { distanceCm: { left: { kind: 'ramp', from: 300, to: 30, end: 20 }, right: 150 } }, seed: 5 }).boot();
  run.runFor(20.2);
  const distance = run.board.opts.rig.rangers.map((name, ri) => {
    const truths = run.board.rangers[ri].truths;
    const measured = { t: [] as number[], v: [] as (number | null)[] };
    for (const b of run.batches) b.samples[ri].forEach((mm, k) => {
      measured.t.push(Number(sampleTimeUs(b, ri, k)) / 1e6);
      measured.v.push(mm === null ? null : mm / 10);
    });
    return { ranger: name, truth: { t: truths.map((x) => x.t), v: truths.map((x) => (x.distanceM === null ? null : x.distanceM * 100)) }, measured };
  });
  const n = run.batches.length;
  return {
    title: 'rover sim test <report>',
    subtitle: 'seed 5',
    distance,
    latency: { t: run.batches.map((b) => Number(b.firstSampleUs) / 1e6 + 5), v: run.batches.map(() => 0.25) },
    outboxDepth: { t: [0, 5, 10, 15], v: [0, 1, 0, 0] },
    connected: { t: [0, 1, 12, 14], v: [0, 1, 0, 1] },
    issuer: { t: [0, 14], v: [0, 1] },
    timeline: [{ t: 12, what: 'Wi-Fi down', kind: 'fault' }],
    expectations: [{ text: 'all readings delivered exactly once', pass: true }, { text: 'max delivery latency 10 s', pass: false, detail: 'worst 12 s' }],
    accounting: { taken: n * 100, stored: n * 100, dropped: 0, reasons: {} },
    files: { vcd: 'out/trace.vcd' },
  };
}

async function openInChromium(file: string) {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = await browser.newPage();
  const errors: string[] = [];
  const requests: string[] = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('request', (q) => !q.url().startsWith('file:') && requests.push(q.url()));
  await page.goto('file://' + file);
  await page.waitForSelector('body[data-rendered="yes"]', { timeout: 20000 });
  const charts = await page.$$eval('canvas', (cs) => cs.map((c) => {
    const ctx = (c as HTMLCanvasElement).getContext('2d')!;
    const { width, height } = c as HTMLCanvasElement;
    const px = ctx.getImageData(0, 0, width, height).data;
    let ink = 0;
    for (let i = 3; i < px.length; i += 4) if (px[i] > 0) ink++;
    return { width, ink };
  }));
  return { browser, page, errors, requests, charts };
}

r('the report of a real rover sim run renders with data', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'report-sim-'));
  try {
    const res = await runSimulation({ scenario: loadScenario('default'), durationS: 150, outDir: dir, vcdSeconds: 10 });
    const { browser, page, errors, requests, charts } = await openInChromium(res.files.report);
    try {
      assert.is(charts.length, 4);
      for (const c of charts) assert.ok(c.width > 100 && c.ink > 500, `a chart with ink: ${JSON.stringify(c)}`);
      assert.equal(errors, []);
      assert.equal(requests, []);
      assert.match((await page.textContent('#accounting')) ?? '', new RegExp(`readings taken ${res.accounting.taken} = stored in the hub ${res.accounting.stored} \\+ dropped 0`));
      assert.match((await page.textContent('#timeline')) ?? '', /connected to the hub/);
    } finally {
      await browser.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

r('charts render with data, no console errors, no network; text is escaped', async () => {
  assert.ok(existsSync(CHROMIUM), 'Debian chromium is installed (.ci/run installs it)');
  const dir = mkdtempSync(join(tmpdir(), 'report-'));
  const file = join(dir, 'report.html');
  writeFileSync(file, renderReport(record()));
  const { browser, page, errors, requests, charts } = await openInChromium(file);
  try {
    assert.is(charts.length, 4, 'four charts');
    for (const c of charts) assert.ok(c.width > 100 && c.ink > 500, `a chart with ink: ${JSON.stringify(c)}`);
    assert.equal(errors, []);
    assert.equal(requests, []);
    assert.is(await page.title(), 'rover sim test <report>', 'text is escaped, not markup');
    assert.match((await page.textContent('#accounting')) ?? '', /balanced/);
    assert.match((await page.textContent('#expectations')) ?? '', /FAIL/);
  } finally {
    await browser.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

r.run();
