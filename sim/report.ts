// The run report (out/report.html): one self-contained page — uPlot's script and style inlined, the
// data inlined as JSON, no network — with the charts a person needs to trust a run: true vs measured
// distance per ranger, delivery latency, outbox depth, connection/certificate timeline, faults, the
// expectations with pass/fail, and the accounting equation (taken = stored + dropped).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export interface Series {
  t: number[]; // seconds since the scenario start
  v: (number | null)[];
}

export interface RunRecord {
  title: string;
  subtitle: string;
  /** Per ranger: the world's truth and the readings as stored in the hub, in cm. */
  distance: { ranger: string; truth: Series; measured: Series }[];
  /** Seconds from the end of a batch to its row in the hub's store, per stored batch. */
  latency: Series;
  outboxDepth: Series;
  /** 1 = connected to the hub, 0 = not (step function). */
  connected: Series;
  /** Index of the tenant CA that issued the device certificate in use (step function). */
  issuer: Series;
  timeline: { t: number; what: string; kind: 'fault' | 'operator' | 'connection' | 'certificate' | 'note' }[];
  expectations: { text: string; pass: boolean; detail?: string }[];
  accounting: { taken: number; stored: number; dropped: number; reasons: Record<string, number> };
  files: Record<string, string>;
}

function uplotAssets(): { js: string; css: string } {
  const require = createRequire(import.meta.url);
  const dist = dirname(require.resolve('uplot/dist/uPlot.iife.min.js'));
  return { js: readFileSync(join(dist, 'uPlot.iife.min.js'), 'utf8'), css: readFileSync(join(dist, 'uPlot.min.css'), 'utf8') };
}

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

export function renderReport(r: RunRecord): string {
  const { js, css } = uplotAssets();
  const a = r.accounting;
  const balanced = a.taken === a.stored + a.dropped;
  // JSON inside <script>: escape "<" so no string can close the tag.
  const data = JSON.stringify(r).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(r.title)}</title>
<style>${css}
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}
.sub{color:#666}.pass{color:#0a7d28;font-weight:600}.fail{color:#c0172b;font-weight:600}
table{border-collapse:collapse}td,th{padding:3px 10px;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
.eq{font-size:16px;padding:8px 12px;background:#f4f6f8;display:inline-block;border-radius:4px}
.chart{margin:8px 0 16px}</style></head>
<body>
<h1>${esc(r.title)}</h1><div class="sub">${esc(r.subtitle)}</div>
<h2>Accounting</h2>
<div class="eq" id="accounting">readings taken ${a.taken} = stored in the hub ${a.stored} + dropped ${a.dropped}
 <span class="${balanced ? 'pass' : 'fail'}">${balanced ? 'balanced' : 'NOT BALANCED'}</span>
 ${Object.entries(a.reasons).map(([k, v]) => `<br>dropped, ${esc(k)}: ${v}`).join('')}</div>
<h2>Expectations</h2>
<table id="expectations">${r.expectations.map((e) => `<tr><td class="${e.pass ? 'pass' : 'fail'}">${e.pass ? 'pass' : 'FAIL'}</td><td>${esc(e.text)}</td><td>${esc(e.detail ?? '')}</td></tr>`).join('')}</table>
<h2>Distance: truth and measured</h2><div id="distance"></div>
<h2>Delivery latency and outbox depth</h2><div id="latency"></div><div id="outbox"></div>
<h2>Connection and certificate</h2><div id="connection"></div>
<h2>Timeline</h2>
<table id="timeline">${r.timeline.map((e) => `<tr><td>${fmt(e.t)}</td><td>${esc(e.kind)}</td><td>${esc(e.what)}</td></tr>`).join('')}</table>
<h2>Files</h2><table>${Object.entries(r.files).map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`).join('')}</table>
<script>${js}</script>
<script>
const R = ${data};
const W = Math.min(1050, document.body.clientWidth - 10);
const fmtT = (u, v) => v.map((s) => s >= 86400 ? (s / 86400).toFixed(1) + 'd' : s >= 3600 ? (s / 3600).toFixed(1) + 'h' : s >= 60 ? (s / 60).toFixed(1) + 'm' : s + 's');
const palette = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd'];
function merge(list) {
  const ts = [...new Set(list.flatMap((s) => s.t))].sort((a, b) => a - b);
  const idx = new Map(ts.map((t, i) => [t, i]));
  return [ts, ...list.map((s) => { const col = new Array(ts.length).fill(null); s.t.forEach((t, i) => { col[idx.get(t)] = s.v[i]; }); return col; })];
}
function plot(el, title, series, names, opts = {}) {
  const data = merge(series);
  new uPlot({
    title, width: W, height: opts.height || 260, scales: { x: { time: false } },
    axes: [{ values: fmtT }, { label: opts.unit || '' }],
    series: [{ label: 'time' }, ...names.map((n, i) => ({ label: n, stroke: palette[i % palette.length], spanGaps: !(opts.points?.[i]), width: opts.width?.[i] ?? 1.5,
      paths: opts.step ? uPlot.paths.stepped({ align: 1 }) : undefined, points: { show: opts.points?.[i] ?? false, size: 3 } }))],
  }, data, document.getElementById(el));
}
const dSeries = [], dNames = [], dPoints = [];
R.distance.forEach((d) => { dSeries.push(d.truth, d.measured); dNames.push(d.ranger + ' truth', d.ranger + ' measured'); dPoints.push(false, true); });
plot('distance', 'Distance (cm)', dSeries, dNames, { unit: 'cm', points: dPoints, width: dSeries.map((_, i) => i % 2 ? 0 : 2) });
plot('latency', 'Delivery latency (s)', [R.latency], ['batch -> hub'], { unit: 's', points: [true] });
plot('outbox', 'Outbox depth (batches)', [R.outboxDepth], ['outbox'], { step: true });
plot('connection', 'Connected (1) and certificate issuer (CA index)', [R.connected, R.issuer], ['connected', 'issuer CA'], { step: true, height: 200 });
document.body.dataset.rendered = 'yes';
</script></body></html>
`;
}

function fmt(s: number): string {
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = (s % 60).toFixed(3).padStart(6, '0');
  return `${d ? d + 'd ' : ''}${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:${sec}`;
}
