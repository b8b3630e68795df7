// Benchmark for hlcore (not a test): the outbox journal (SQLite, WAL, synchronous=FULL) appending
// and draining 5 s RT batches, the batch -> telemetry encoding, and draining a backlog through the
// IoT Hub emulator over TLS with 1, 4 and 16 publishes in flight (QoS 1: an entry leaves on PUBACK).
// Ratios compare with the need: one batch every 5 s (PROTOCOL.md / DESIGN.md).
// Usage: node --import tsx perf/hlcore.ts
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { ManualClock } from '../hlcore/manual-clock.ts';
import { Outbox } from '../hlcore/outbox.ts';
import { SqliteStorage } from '../hlcore/sqlite-storage.ts';
import { batchTelemetry, batchDigest } from '../hlcore/telemetry.ts';
import type { Batch } from '../hlcore/intercore/frame.ts';
import { DeviceIdentity } from '../hlcore/identity.ts';
import { HubSession } from '../hlcore/hub-client.ts';
import { TlsNetworkLink } from '../hlcore/host/tls-link.ts';
import { hubEndpoint } from '../hlcore/device.ts';
import { MODEL_ID } from '../hlcore/pnp.ts';
import { MemorySecureStore } from '../sim/secure-store.ts';
import { startCloud } from '../sim/cloud/cloud.ts';

const BATCHES = 2000;
const BACKLOG = 600; // 50 minutes offline at one batch per 5 s

function batch(seq: number): Batch {
  const polls = 50;
  const samples = [0, 1].map((r) => Array.from({ length: polls }, (_, k) => ((seq * 31 + k * 7 + r * 500) % 17 === 0 ? null : 300 + ((seq + k * 13 + r) % 2500))));
  return {
    seq,
    firstSampleUs: BigInt(seq) * 5_000_000n,
    periodMs: 100,
    rangers: 2,
    compensated: true,
    polls,
    temperatureC: 20,
    counters: { readings: seq * 100, noEcho: 0, outOfRange: 0, spurious: 0, stuck: 0, powerCycles: 0, droppedFrames: 0 },
    samples,
    kinds: samples.map((row) => row.map((x) => (x === null ? 'noEcho' : 'mm'))),
  };
}

export async function run(): Promise<Record<string, string>> {
  const dir = mkdtempSync(join(tmpdir(), 'perf-hlcore-'));
  const out: Record<string, string> = {};
  try {
    const batches = Array.from({ length: BATCHES }, (_, i) => batch(i + 1));
    let t = performance.now();
    const bodies = batches.map((b) => JSON.stringify(batchTelemetry(b, Date.UTC(2026, 0, 1), 30)));
    const encodeS = (performance.now() - t) / 1000;
    out['telemetry encode (batches/s)'] = (BATCHES / encodeS).toFixed(0);
    out['telemetry body size (bytes per 5 s batch)'] = String(bodies[0].length);

    const storage = new SqliteStorage(join(dir, 'o.db'), { storeId: 'perf' });
    const box = new Outbox(storage, { maxRows: 1_000_000, maxBytes: 1 << 30 });
    t = performance.now();
    for (let i = 0; i < BATCHES; i++) box.append({ kind: 'batch', createdMs: i, source: { seq: i + 1, digest: batchDigest(batches[i]) }, body: () => bodies[i] });
    const appendS = (performance.now() - t) / 1000;
    out['outbox append, synchronous=FULL (batches/s)'] = (BATCHES / appendS).toFixed(0);
    out['append headroom vs 1 batch / 5 s (ratio)'] = ((BATCHES / appendS) * 5).toFixed(0);
    t = performance.now();
    await box.drain(async () => {}, 16);
    const drainS = (performance.now() - t) / 1000;
    out['outbox drain to a no-op sender (entries/s)'] = (BATCHES / drainS).toFixed(0);
    storage.close();

    // Backlog through the emulator over TLS.
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const cloud = await startCloud({ stateDir: join(dir, 'cloud'), clock, port: 0 });
    try {
      await cloud.enrollActiveCa();
      cloud.hub.registerDevice('perf-1', { modelId: MODEL_ID });
      const ident = new DeviceIdentity({
        store: new MemorySecureStore(),
        clock,
        deviceId: 'perf-1',
        ca: { issue: async (csr, id) => cloud.securityService.issueDeviceCertificate(csr, id) },
      });
      await ident.init();
      await ident.ensureCertificate();
      const session = await HubSession.open({
        link: new TlsNetworkLink(),
        clock,
        endpoint: hubEndpoint(cloud.hubHost, cloud.serverCaPem),
        creds: ident.tlsCredentials(),
        hubHost: cloud.hubHost,
        deviceId: 'perf-1',
        modelId: MODEL_ID,
      });
      for (const window of [1, 4, 16]) {
        const s = new SqliteStorage(join(dir, `w${window}.db`), { storeId: `w${window}` });
        const b = new Outbox(s, { maxRows: 1_000_000, maxBytes: 1 << 30 });
        for (let i = 0; i < BACKLOG; i++) b.append({ kind: 'batch', createdMs: i, source: { seq: i + 1, digest: String(i) }, body: () => bodies[i % BATCHES] });
        t = performance.now();
        await b.drain((e) => session.sendTelemetry(e.body, { '$.mid': e.mid, '$.ct': 'application/json', '$.ce': 'utf-8' }), window);
        const sec = (performance.now() - t) / 1000;
        out[`backlog of ${BACKLOG} through the emulator, window ${window} (msgs/s)`] = (BACKLOG / sec).toFixed(0);
        out[`  50 min offline caught up in (s), window ${window}`] = sec.toFixed(2);
        s.close();
      }
      session.close();
    } finally {
      await cloud.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const figures = await run();
  for (const [k, v] of Object.entries(figures)) console.log(`${k.padEnd(60)} ${v}`);
  process.exit(0);
}
