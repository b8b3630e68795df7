// The whole rover under one simulated clock: the real rtcore.wasm on the cycle-accurate board, the
// real hlcore Device, and the cloud emulators (Security Service, relying party, DPS + IoT Hub on a
// real MQTT broker over real TLS on loopback), driven by a scenario.
//
// One clock: the board's core cycles. hlcore and the cloud read `startMs + cycles / hz`; their
// timers are events in the board's queue. Network traffic is real, so it takes real time: whenever
// hlcore or the cloud ran (a timer, a datagram from the RT core, a scenario action), the board
// yields and the orchestrator waits until the traffic is quiescent (no bytes moving, the device not
// busy, for several event-loop turns) before simulated time moves on. Simulated time therefore
// never advances while a message is in flight, and the same scenario and seed give the same
// telemetry rows and the same waveforms.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Board } from '../boards/board.ts';
import { loadRig } from '../boards/hardware.ts';
import type { Machine } from '../boards/machine.ts';
import { Device } from '../hlcore/device.ts';
import type { Clock } from '../hlcore/clock.ts';
import { seededRandom } from '../hlcore/random.ts';
import { TlsNetworkLink } from '../hlcore/host/tls-link.ts';
import type { TlsEndpoint } from '../hlcore/network.ts';
import { SqliteStorage } from '../hlcore/sqlite-storage.ts';
import { FrameType, batchId, decodeBatch, parseFrame, type Batch } from '../hlcore/intercore/frame.ts';
import { startCloud, type Cloud, type RefusedEvent } from './cloud/cloud.ts';
import { World } from './world.ts';
import { loadFirmware } from './rt-run.ts';
import { SimulatedAccessPoint, SimulatedRadio } from './wifi-ap.ts';
import { SimulatedNetwork } from './network.ts';
import { TrafficWatch } from './traffic-watch.ts';
import { MemorySecureStore } from './secure-store.ts';
import { registerCa, liveCas } from './cloud/register-ca.ts';
import type { Expectation, Scenario, ScenarioEvent } from './scenario.ts';
import { formatDuration } from './scenario.ts';
import { renderReport, type RunRecord, type Series } from './report.ts';
import { LiveView } from './live-view.ts';

export const DEVICE_ID = 'rover-0001';
const GROUP = 'rovers';
const SSID = 'rover-lab';
const PSK = 'correct horse battery staple';
/** After the scenario ends, keep the world running until every batch closed before the end is in
 *  the hub, for at most this long (simulated). */
const DRAIN_LIMIT_S = 1800;
/** Points per series kept for the report (the rest decimated evenly). */
const REPORT_POINTS = 4000;

export interface SimOptions {
  scenario: Scenario;
  seed?: number;
  outDir: string;
  /** stretch or shorten the scenario (benchmarks) */
  durationS?: number;
  /** seconds of waveform in trace.vcd (default 600) */
  vcdSeconds?: number;
  live?: boolean;
  /** called after every settled step with the simulated time (tests, progress) */
  onProgress?: (simS: number) => void;
}

export interface ExpectationResult {
  text: string;
  pass: boolean;
  detail: string;
}

export interface SimResult {
  scenario: string;
  seed: number;
  simSeconds: number;
  wallSeconds: number;
  accounting: { taken: number; stored: number; dropped: number; reasons: Record<string, number>; duplicatesStored: number };
  expectations: ExpectationResult[];
  refusals: RefusedEvent[];
  files: { report: string; vcd: string; telemetry: string };
  /** wall time by part: firmware+board (board.run), network settling (hlcore + broker + TLS), rest */
  wallShares: Record<string, number>;
  /** wall-clock ms from a batch frame leaving the RT core to its row in the hub's store */
  wallLatencyMs: { median: number; p99: number; n: number };
  ok: boolean;
}

/** Keep at most `max` points, evenly. */
function decimate(s: Series, max = REPORT_POINTS): Series {
  if (s.t.length <= max) return s;
  const step = s.t.length / max;
  const out: Series = { t: [], v: [] };
  for (let i = 0; i < max; i++) {
    const k = Math.floor(i * step);
    out.t.push(s.t[k]);
    out.v.push(s.v[k]);
  }
  return out;
}

export async function runSimulation(o: SimOptions): Promise<SimResult> {
  const sc = o.scenario;
  const seed = o.seed ?? sc.seed;
  const durationS = o.durationS ?? sc.durationS;
  const outDir = resolve(o.outDir);
  const stateDir = join(outDir, 'state');
  rmSync(stateDir, { recursive: true, force: true });
  mkdirSync(stateDir, { recursive: true });
  const files = { report: join(outDir, 'report.html'), vcd: join(outDir, 'trace.vcd'), telemetry: join(outDir, 'telemetry.db') };
  for (const f of [files.telemetry, files.telemetry + '-wal', files.telemetry + '-shm']) rmSync(f, { force: true });
  const wall0 = performance.now();

  // ---- the board, and with it the one clock ----
  const world = new World({ ...sc.world, seed });
  const board = new Board({ rig: loadRig(sc.rig), env: world, wasm: loadFirmware(), seed, vcd: true, vcdSeconds: o.vcdSeconds ?? 600, pinLog: false });
  const m: Machine = board.machine;
  let activity = false;
  const touched = () => {
    activity = true;
  };
  let setupMs: number | null = sc.tenant.createdAt; // the tenant is created before the run starts
  const clock: Clock & { at(ms: number, fn: () => void): () => void } = {
    now: () => setupMs ?? sc.startMs + (m.now / m.hz) * 1000,
    at: (ms, fn) => {
      const ev = m.at(Math.round(((ms - sc.startMs) / 1000) * m.hz), () => {
        activity = true;
        fn();
      });
      return () => m.cancel(ev);
    },
  };

  // ---- the cloud ----
  const cloud: Cloud = await startCloud({ stateDir: join(stateDir, 'cloud'), clock, port: 0, policy: sc.tenant.policy, database: files.telemetry });
  setupMs = null;
  const ss = cloud.securityService;
  const rp = cloud.relyingParty;
  const refusals: RefusedEvent[] = [];
  const timeline: RunRecord['timeline'] = [];
  const at = () => (m.now / m.hz);
  cloud.events.on('refused', (e: RefusedEvent) => {
    refusals.push(e);
    if (refusals.length <= 20) timeline.push({ t: at(), kind: 'connection', what: `${e.kind} refused ${e.deviceId}: ${e.reason}` });
  });
  if (sc.tenant.registered !== 'none') {
    const cas = await liveCas(ss);
    for (const ca of cas) if (sc.tenant.registered === 'all' || ca.status === 'Active') await registerCa(ss, rp, ca.thumbprint, GROUP);
  }
  const caIndex = async (thumbprint: string | undefined) => (await ss.list()).find((c) => c.thumbprint === thumbprint)?.index ?? -1;

  // ---- the high-level core ----
  const ap = new SimulatedAccessPoint(SSID, PSK);
  const radio = new SimulatedRadio(clock, [ap]);
  const net = new SimulatedNetwork(new TlsNetworkLink());
  radio.onLink = (up) => net.setUp(up);
  const link = new TrafficWatch(net, touched);
  if (process.env.ROVER_SIM_DEBUG) link.trace = (line) => process.stderr.write(`[${formatDuration(at())}] ${line}\n`);
  const secureStore = new MemorySecureStore();
  // The device's flash: on a RAM disk when the machine has one. The journal still commits with
  // synchronous=FULL (hlcore/sqlite-storage.ts); an HL crash in a scenario is the process dying,
  // not the power, so the fsync to a real disk would only cost wall time.
  const flash = existsSync('/dev/shm') ? mkdtempSync('/dev/shm/rover-flash-') : join(stateDir, 'device');
  mkdirSync(flash, { recursive: true });
  const storagePath = join(flash, 'outbox.sqlite');
  const endpoint = (): TlsEndpoint => ({ host: '127.0.0.1', port: cloud.port, ca: cloud.serverCaPem });
  const port = board.mailbox.port;
  const makeDevice = () => {
    const d = new Device({
      clock,
      random: seededRandom(seed ^ 0x5eed),
      deviceId: DEVICE_ID,
      firmwareVersion: '0.1.0',
      intercore: port,
      radio,
      networks: [{ ssid: SSID, psk: PSK }],
      link,
      secureStore,
      storage: new SqliteStorage(storagePath, { storeId: 'hl' }),
      ca: {
        issue: async (csr, id) => {
          touched();
          const c = await ss.issueDeviceCertificate(csr, id);
          return { certificate: c.certificate, chain: c.chain };
        },
      },
      cloud: { dps: endpoint(), idScope: cloud.idScope, hub: () => endpoint() },
      log: process.env.ROVER_SIM_DEBUG ? (line) => process.stderr.write(`[${formatDuration(at())}] ${line}\n`) : undefined,
    });
    // Every datagram from the RT core runs hlcore code: let the network settle after it.
    const deliver = port.onReceive!;
    port.onReceive = (p) => {
      activity = true;
      deliver(p);
    };
    return d;
  };

  // What the RT core produced (the accounting's "taken"): every BATCH leaving the RT side.
  const produced = new Map<string, { samples: number; closedAt: number; batch: Batch }>();
  /** Wall-clock latency from a batch frame leaving the RT core to its row in the hub (benchmark). */
  const producedWall = new Map<string, number>();
  const wallLatencyMs: number[] = [];
  const ring = board.mailbox;
  const rtSend = ring.rtSend.bind(ring);
  ring.rtSend = (msg) => {
    const r = rtSend(msg);
    if (r === 0 && msg[21] === FrameType.BATCH) {
      try {
        const b = decodeBatch(parseFrame(msg.subarray(20)));
        const id = batchId(b);
        if (!produced.has(id)) {
          produced.set(id, { samples: b.polls * b.rangers, closedAt: at(), batch: b });
          producedWall.set(id, performance.now());
        }
      } catch {
        /* a corrupted frame is the HL side's problem */
      }
    }
    return r;
  };

  let device = makeDevice();
  board.boot();
  await device.start();
  activity = true;

  // ---- scenario events ----
  const handlers: Record<string, (e: ScenarioEvent) => void | Promise<void>> = {
    'wifi-down': (e) => {
      ap.down('scenario: Wi-Fi down');
      clock.at(clock.now() + (e.for as number) * 1000, () => {
        ap.restore();
        timeline.push({ t: at(), kind: 'fault', what: 'Wi-Fi back' });
      });
    },
    'broker-down': (e) => {
      link.block(cloud.port, true);
      clock.at(clock.now() + (e.for as number) * 1000, () => {
        link.block(cloud.port, false);
        timeline.push({ t: at(), kind: 'fault', what: 'broker back' });
      });
    },
    'hl-restart': (e) => {
      device.stop(); // the process dies: nothing more from it; its storage stays on disk
      port.running = false;
      port.onReceive = null;
      const down = (e.downFor as number | undefined) ?? 5;
      clock.at(clock.now() + down * 1000, () => {
        port.running = true;
        device = makeDevice();
        void device.start();
        board.mailbox.scheduleDrain();
        timeline.push({ t: at(), kind: 'fault', what: 'HL app started again' });
      });
    },
    'rt-restart': () => {
      noteRamLoss();
      board.restartRt();
    },
    'power-off': (e) => {
      noteRamLoss();
      device.stop();
      port.running = false;
      port.onReceive = null;
      board.powerOff();
      clock.at(clock.now() + (e.for as number) * 1000, () => {
        board.powerOn();
        port.running = true;
        device = makeDevice();
        void device.start();
        timeline.push({ t: at(), kind: 'fault', what: 'power back' });
      });
    },
    'sensor-stuck': (e) => board.rangers[e.ranger as number].inject('stuck'),
    'sensor-missed': (e) => board.rangers[e.ranger as number].inject('missed', (e.count as number) ?? 1),
    'sensor-spurious': (e) => board.rangers[e.ranger as number].inject('spurious', (e.count as number) ?? 1),
    'mailbox-corrupt': (e) => board.mailbox.corruptNext((e.count as number) ?? 1),
    'register-ca': async (e) => {
      const cas = await liveCas(ss);
      const newest = cas.sort((a, b) => b.index - a.index)[0];
      await registerCa(ss, rp, newest.thumbprint, (e.group as string) ?? GROUP);
      timeline.push({ t: at(), kind: 'operator', what: `registered CA ${newest.index} (${newest.thumbprint.slice(0, 8)}...) in ${(e.group as string) ?? GROUP}` });
    },
    'set-desired': (e) => {
      if (device.connected) link.expectInbound('$iothub/twin/PATCH/properties/desired/');
      const v = cloud.hub.setDesired(DEVICE_ID, e.patch as Record<string, unknown>);
      timeline.push({ t: at(), kind: 'operator', what: `desired $version ${v}: ${JSON.stringify(e.patch)}` });
    },
    'invoke-command': (e) => {
      if (device.connected) link.expectInbound('$iothub/methods/POST/');
      cloud.hub.invokeMethod(DEVICE_ID, e.name as string, e.payload ?? null).then(
        (r) => timeline.push({ t: at(), kind: 'operator', what: `command ${e.name as string} answered ${r.status}` }),
        (err) => timeline.push({ t: at(), kind: 'operator', what: `command ${e.name as string} failed: ${(err as Error).message}` }),
      );
    },
  };
  // Frames the RT core had produced but the hub did not have when its RAM was lost: if they never
  // arrive, that loss is their counted reason.
  const ramLost = new Set<string>();
  const noteRamLoss = () => {
    for (const id of produced.keys()) if (!storedIdsLive.has(id)) ramLost.add(id);
  };
  const pendingActions: Promise<void>[] = [];
  for (const e of sc.events) {
    m.at(Math.round(e.at * m.hz), () => {
      activity = true;
      timeline.push({ t: at(), kind: ['register-ca', 'set-desired', 'invoke-command'].includes(e.do) ? 'operator' : 'fault', what: describe(e) });
      const r = handlers[e.do](e);
      if (r instanceof Promise) pendingActions.push(r);
    });
  }

  // ---- the loop ----
  const series = {
    latency: { t: [] as number[], v: [] as (number | null)[] },
    outbox: { t: [] as number[], v: [] as (number | null)[] },
    connected: { t: [] as number[], v: [] as (number | null)[] },
    issuer: { t: [] as number[], v: [] as (number | null)[] },
  };
  const truth = board.rangers.map(() => ({ t: [] as number[], v: [] as (number | null)[] }));
  let lastConnected: boolean | null = null;
  let lastIssuer: string | undefined;
  let lastOutbox = -1;
  let boardWall = 0;
  let settleWall = 0;
  const live = o.live ? new LiveView(durationS, board.opts.rig.rangers) : null;
  let taken = 0;

  const observe = async () => {
    const t = at();
    const c = device.connected;
    if (c !== lastConnected) {
      lastConnected = c;
      series.connected.t.push(t);
      series.connected.v.push(c ? 1 : 0);
      timeline.push({ t, kind: 'connection', what: c ? 'connected to the hub' : `not connected (${device.connectionState})` });
    }
    const issuer = device.identity.info()?.issuerThumbprint;
    if (issuer !== lastIssuer) {
      lastIssuer = issuer;
      const idx = await caIndex(issuer);
      series.issuer.t.push(t);
      series.issuer.v.push(idx);
      timeline.push({ t, kind: 'certificate', what: `device certificate from CA ${idx} (${issuer?.slice(0, 8)}...)` });
    }
    const rows = device.outbox.counters().rows;
    if (rows !== lastOutbox) {
      lastOutbox = rows;
      series.outbox.t.push(t);
      series.outbox.v.push(rows);
    }
    for (let r = 0; r < board.rangers.length; r++) {
      const tr = board.rangers[r].truths;
      for (const x of tr) {
        truth[r].t.push(x.t);
        truth[r].v.push(x.distanceM === null ? null : x.distanceM * 100);
      }
      tr.length = 0; // consumed: long runs must not keep every measurement in memory
    }
  };

  // Quiescent: no answer outstanding on the device's connections (TrafficWatch), no certificate
  // request in flight (CSR signing, the Security Service), no operator action pending, and nothing
  // moved for three event-loop turns. Waiting for a simulated-time timer (a DPS retry-after, a
  // backoff) is not activity: time moves on to it.
  const settle = async () => {
    const t0 = performance.now();
    let quiet = 0;
    let last = '';
    for (;;) {
      await new Promise<void>((r) => setImmediate(r));
      if (pendingActions.length) await Promise.all(pendingActions.splice(0));
      const busy = link.outstanding() > 0 || device.identity.busy;
      const sig = `${link.bytes()}|${storedCount}|${busy}`;
      if (!busy && sig === last) {
        if (++quiet >= 3) break;
      } else {
        quiet = 0;
        last = sig;
      }
      // A guard, not a timing assumption: traffic on loopback settles in milliseconds.
      if (performance.now() - t0 > 30_000) {
        throw new Error(`${formatDuration(at())}: network traffic did not settle within 30 s of wall time (waiting for ${link.describe()}${device.identity.busy ? ', a certificate' : ''})`);
      }
    }
    settleWall += performance.now() - t0;
  };

  const runUntil = async (endS: number, stop?: () => boolean) => {
    const end = Math.round(endS * m.hz);
    while (m.now < end && !stop?.()) {
      const t0 = performance.now();
      board.runUntil(end, () => activity);
      boardWall += performance.now() - t0;
      if (activity) {
        activity = false;
        await settle();
        await observe();
        o.onProgress?.(at());
      }
      if (live) live.update({ simS: at(), wallS: (performance.now() - wall0) / 1000, lastCm: lastCm(), taken: takenSoFar(), delivered: storedSoFar(), connection: device.connectionState, issuer: lastIssuer ? `CA ${series.issuer.v.at(-1)}` : '-' });
    }
  };
  const lastCm = () => truth.map((s) => s.v.at(-1) ?? null);
  const takenSoFar = () => {
    let n = 0;
    for (const p of produced.values()) n += p.samples;
    return n;
  };
  // Readings delivered so far (live view): samples in distinct telemetry messages.
  let storedCount = 0;
  let storedReadings = 0;
  const storedIdsLive = new Set<string>();
  const seenMids = new Set<string>();
  const storedSoFar = () => storedReadings;
  cloud.events.on('telemetry', (row: { deviceId: string; messageId: string | null; body: Buffer }) => {
    storedCount++;
    if (row.deviceId !== DEVICE_ID || seenMids.has(row.messageId ?? '')) return;
    seenMids.add(row.messageId ?? '');
    try {
      const body = JSON.parse(row.body.toString('utf8'));
      const ss = body?.samples;
      if (Array.isArray(ss) && ss.length) {
        storedReadings += ss.length;
        const id = `${ss[0].us}-${body.batchSeq}`;
        storedIdsLive.add(id);
        const t0 = producedWall.get(id);
        if (t0 !== undefined) {
          wallLatencyMs.push(performance.now() - t0);
          producedWall.delete(id);
        }
      }
    } catch {
      /* not a batch */
    }
  });

  try {
    await runUntil(durationS);
    // Drain: the batches closed before the end must reach the hub (the RT keeps polling meanwhile).
    const due = new Set([...produced].filter(([, p]) => p.closedAt <= durationS).map(([id]) => id));
    await runUntil(durationS + DRAIN_LIMIT_S, () => [...due].every((id) => storedIdsLive.has(id)));
    await observe();
    live?.stop();

    // ---- accounting: taken = stored + dropped, over the batches closed before the end ----
    const st = stored();
    let takenN = 0;
    let storedN = 0;
    const reasons: Record<string, number> = {};
    for (const id of due) {
      const p = produced.get(id)!;
      takenN += p.samples;
      if (st.ids.has(id)) storedN += p.samples;
    }
    // Every reading of a batch that did not arrive gets a reason: RAM lost with the RT core (counted
    // here, per batch), the RT queue overflowing, the outbox dropping its oldest (counters).
    const rtDroppedFrames = [...produced.values()].reduce((mx, p) => Math.max(mx, p.batch.counters.droppedFrames), 0);
    const outboxDropped = device.outbox.counters().droppedRows;
    let lostWithRam = 0;
    let other = 0;
    for (const id of due) {
      if (st.ids.has(id)) continue;
      if (ramLost.has(id)) lostWithRam += produced.get(id)!.samples;
      else other += produced.get(id)!.samples;
    }
    if (lostWithRam) reasons['RT RAM lost before delivery (power off / RT restart), readings'] = lostWithRam;
    if (other && rtDroppedFrames) reasons[`RT queue overflow: ${rtDroppedFrames} frames (readings)`] = other;
    else if (other && outboxDropped) reasons[`outbox full, oldest dropped: ${outboxDropped} entries (readings)`] = other;
    else if (other) reasons['not delivered by the end of the drain (no counted reason)'] = other;
    const dropped = takenN - storedN;
    taken = takenN;

    // ---- the record ----
    for (const row of cloud.hub.telemetry({ deviceId: DEVICE_ID })) {
      const b = st.byMid.get(row.messageId ?? '');
      if (!b) continue;
      series.latency.t.push((row.arrivedAt - sc.startMs) / 1000);
      series.latency.v.push((row.arrivedAt - sc.startMs) / 1000 - b.lastS);
    }
    const expectations = sc.expect.map((x) => evaluate(x, { reasons, takenN, storedN, dropped, st, refusals, latency: series.latency.v as number[], counters: lastCounters(produced), twin: () => cloud.hub.twin(DEVICE_ID) as any, device }));
    const rangers = board.opts.rig.rangers;
    const measured = rangers.map(() => ({ t: [] as number[], v: [] as (number | null)[] }));
    for (const s of st.samples) {
      measured[s.r]?.t.push(s.us / 1e6);
      measured[s.r]?.v.push(s.mm === undefined ? null : s.mm / 10);
    }
    const simSeconds = at();
    const wallSeconds = (performance.now() - wall0) / 1000;
    const record: RunRecord = {
      title: `rover sim ${sc.name} (seed ${seed})`,
      subtitle: `${sc.description} Started ${new Date(sc.startMs).toISOString()}, ${formatDuration(durationS)} simulated (+ ${formatDuration(simSeconds - durationS)} drain) in ${wallSeconds.toFixed(1)} s of wall time.`,
      distance: rangers.map((r, i) => ({ ranger: r, truth: decimate(truth[i]), measured: decimate(measured[i]) })),
      latency: decimate(series.latency),
      outboxDepth: series.outbox,
      connected: series.connected,
      issuer: series.issuer,
      timeline,
      expectations,
      accounting: { taken: takenN, stored: storedN, dropped, reasons },
      files: { report: files.report, vcd: files.vcd, telemetry: files.telemetry },
    };
    writeFileSync(files.report, renderReport(record));
    writeFileSync(files.vcd, board.vcd!.toString(Math.min(m.now, (o.vcdSeconds ?? 600) * m.hz)));
    const accounting = { taken: takenN, stored: storedN, dropped, reasons, duplicatesStored: st.duplicateRows };
    return {
      scenario: sc.name,
      seed,
      simSeconds,
      wallSeconds,
      accounting,
      expectations,
      refusals,
      files,
      wallShares: { board: boardWall / 1000, network: settleWall / 1000, other: wallSeconds - (boardWall + settleWall) / 1000 },
      wallLatencyMs: quantiles(wallLatencyMs),
      ok: expectations.every((e) => e.pass),
    };
  } finally {
    live?.stop();
    device.stop();
    await cloud.close();
    if (flash.startsWith('/dev/shm/')) rmSync(flash, { recursive: true, force: true });
  }

  /** The hub's store, read back: batches by id (after de-duplication by message id). */
  function stored() {
    const ids = new Set<string>();
    const byMid = new Map<string, { lastS: number }>();
    const samples: { r: number; us: number; mm?: number }[] = [];
    let duplicateRows = 0;
    const seenMid = new Set<string>();
    for (const row of cloud.hub.telemetry({ deviceId: DEVICE_ID })) {
      const mid = row.messageId ?? '';
      if (seenMid.has(mid)) {
        duplicateRows++;
        continue;
      }
      seenMid.add(mid);
      let body: any;
      try {
        body = JSON.parse(row.body.toString('utf8'));
      } catch {
        continue;
      }
      const ss = body?.samples as { us: number; r: number; mm?: number }[] | undefined;
      if (!Array.isArray(ss) || ss.length === 0) continue;
      // The batch's identity from its own content: first sample time and sequence number.
      const id = `${ss[0].us}-${body.batchSeq}`;
      ids.add(id);
      byMid.set(mid, { lastS: ss[ss.length - 1].us / 1e6 });
      for (const s of ss) samples.push(s);
    }
    return { ids, byMid, samples, duplicateRows };
  }
}

function quantiles(xs: number[]): { median: number; p99: number; n: number } {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => (s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : NaN);
  return { median: +q(0.5).toFixed(2), p99: +q(0.99).toFixed(2), n: s.length };
}

function lastCounters(produced: Map<string, { batch: Batch }>): Record<string, number> {
  let last: Batch | null = null;
  for (const p of produced.values()) last = p.batch;
  return (last?.counters ?? {}) as unknown as Record<string, number>;
}

function describe(e: ScenarioEvent): string {
  const params = Object.entries(e).filter(([k]) => k !== 'at' && k !== 'do').map(([k, v]) => `${k}=${typeof v === 'number' && k !== 'count' && k !== 'ranger' ? formatDuration(v) : JSON.stringify(v)}`);
  return `${e.do}${params.length ? ' ' + params.join(' ') : ''}`;
}

interface EvalContext {
  reasons: Record<string, number>;
  takenN: number;
  storedN: number;
  dropped: number;
  st: { ids: Set<string>; duplicateRows: number; samples: unknown[] };
  refusals: RefusedEvent[];
  latency: number[];
  counters: Record<string, number>;
  twin: () => { reported: Record<string, any> };
  device: Device;
}

function evaluate(x: Expectation, c: EvalContext): ExpectationResult {
  switch (x.kind) {
    case 'all-delivered-once':
      return {
        text: 'every reading the RT core took is in the hub exactly once (after de-duplication by message id)',
        pass: c.takenN > 0 && c.storedN === c.takenN && c.st.samples.length === c.takenN,
        detail: `taken ${c.takenN}, stored ${c.storedN}, distinct samples in the hub ${c.st.samples.length}, duplicate rows dropped ${c.st.duplicateRows}`,
      };
    case 'all-accounted': {
      const unexplained = c.reasons['not delivered by the end of the drain (no counted reason)'] ?? 0;
      return {
        text: 'readings taken = stored + dropped, and every dropped reading has a counted reason',
        pass: c.takenN > 0 && c.takenN === c.storedN + c.dropped && unexplained === 0,
        detail: `taken ${c.takenN} = stored ${c.storedN} + dropped ${c.dropped}${Object.entries(c.reasons).map(([k, v]) => `; ${k}: ${v}`).join('')}`,
      };
    }
    case 'no-auth-failure':
      return { text: 'no connection refused', pass: c.refusals.length === 0, detail: c.refusals.length ? `${c.refusals.length} refusals, first: ${c.refusals[0].reason}` : 'none' };
    case 'auth-refused': {
      // The relying party's reason names the issuer it does not know; the device must have reached
      // the same diagnosis on its own (its failure records name its certificate's issuer).
      const hit = c.refusals.find((r) => r.reason.includes(x.reason));
      const named = hit ? /[0-9A-F]{40}/.exec(hit.reason)?.[0] : undefined;
      const diag = c.device.failures.find((f) => f.unknownIssuer)?.unknownIssuer;
      return {
        text: `connections refused with "${x.reason}", and the device names the unknown issuer`,
        pass: !!hit && !!named && diag === named,
        detail: hit ? `${c.refusals.length} refusals, e.g. "${hit.reason}"; device diagnosis: unknown issuer ${diag ?? '(none)'}` : 'no such refusal',
      };
    }
    case 'max-delivery-latency': {
      const worst = c.latency.length ? Math.max(...c.latency) : Infinity;
      return { text: `delivery latency at most ${x.seconds} s`, pass: worst <= x.seconds, detail: `worst ${worst.toFixed(2)} s over ${c.latency.length} batches` };
    }
    case 'property-acknowledged': {
      const p = c.twin().reported?.[x.name];
      return { text: `writable property ${x.name} acknowledged with ac ${x.ac}`, pass: p?.ac === x.ac, detail: p ? JSON.stringify(p) : 'not reported' };
    }
    case 'counter-at-least': {
      const v = c.counters[x.counter];
      return { text: `RT counter ${x.counter} >= ${x.value}`, pass: typeof v === 'number' && v >= x.value, detail: `${x.counter} = ${v}` };
    }
  }
}
