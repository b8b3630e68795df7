// The real RT firmware (build/rtcore.wasm on the cycle-clocked MT3620 board, sim/rt-run.ts) feeding
// hlcore over the simulated mailbox, hlcore talking to the project's cloud emulator over TLS, all on
// the board's clock. Truth: the firmware's own counters (readings since boot, in every BATCH) and
// batch sequence numbers (PROTOCOL.md), against what the emulator stored, de-duplicated by $.mid.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RtRun } from '../../sim/rt-run.ts';
import { startCloud } from '../../sim/cloud/cloud.ts';
import { Device } from '../../hlcore/device.ts';
import { seededRandom } from '../../hlcore/random.ts';
import { SqliteStorage } from '../../hlcore/sqlite-storage.ts';
import { TlsNetworkLink } from '../../hlcore/host/tls-link.ts';
import { MemorySecureStore } from '../../sim/secure-store.ts';
import { SimulatedNetwork } from '../../sim/network.ts';
import { SimulatedAccessPoint, SimulatedRadio } from '../../sim/wifi-ap.ts';
import { TELEMETRY } from '../../hlcore/pnp.ts';

const rv = suite('hlcore with the real RT firmware');

rv('firmware batches reach the emulator through a Wi-Fi outage: every reading once, in order', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hl-rover-'));
  const run = new RtRun({ world: { distanceCm: { '*': 120 }, temperatureC: 20 }, startMs: Date.UTC(2026, 0, 1) }).boot();
  const clock = run.clock;
  const cloud = await startCloud({ stateDir: join(dir, 'state'), clock, port: 0, dpsRetryAfterSeconds: 2 });
  const storage = new SqliteStorage(join(dir, 'outbox.db'), { storeId: 'rover' });
  const ap = new SimulatedAccessPoint('rover-net', 'pa55word');
  const radio = new SimulatedRadio(clock, [ap]);
  const net = new SimulatedNetwork(new TlsNetworkLink(), false);
  radio.onLink = (up) => net.setUp(up);
  let device: Device | null = null;
  try {
    await cloud.enrollActiveCa();
    device = new Device({
      clock,
      random: seededRandom(7),
      deviceId: 'rover-fw',
      firmwareVersion: 'fw-test',
      intercore: run.board.mailbox.port, // hlcore's client takes over the HL end of the mailbox
      radio,
      networks: [{ ssid: 'rover-net', psk: 'pa55word' }],
      link: net,
      secureStore: new MemorySecureStore(),
      storage,
      ca: { issue: async (csr, id) => cloud.securityService.issueDeviceCertificate(csr, id) },
      cloud: { dps: { host: cloud.host, port: cloud.port, ca: cloud.serverCaPem }, idScope: cloud.idScope },
      backoff: { baseMs: 1000, capMs: 30_000 },
    });
    const dev = device;
    const until = async (cond: () => boolean, what: string, maxS = 300) => {
      const end = clock.now() + maxS * 1000;
      while (!cond()) {
        if (clock.now() > end) throw new Error(`gave up waiting for ${what}`);
        await new Promise((r) => setImmediate(r));
        const t = Date.now();
        while (dev.busy && Date.now() - t < 100 && !cond()) await new Promise((r) => setTimeout(r, 1));
        if (!cond()) run.runFor(0.25);
      }
    };
    await dev.start();
    await until(() => cloud.hub.countTelemetry({ deviceId: 'rover-fw' }) >= 3, 'first telemetry');
    ap.down('interference');
    const t = clock.now();
    await until(() => clock.now() - t >= 60_000, 'a minute offline');
    assert.ok(!dev.connected);
    assert.ok(storage.counters().rows >= 10, `buffered ${storage.counters().rows}`);
    ap.restore();
    await until(() => dev.connected && storage.counters().rows === 0, 'drained');
    const before = dev.intercore.stats.batches;
    await until(() => dev.intercore.stats.batches > before && storage.counters().rows === 0, 'one more batch through');

    const byMid = new Map<string, any>();
    for (const r of cloud.hub.telemetry({ deviceId: 'rover-fw' })) {
      const b = JSON.parse(r.body.toString());
      if (b[TELEMETRY.samples]) byMid.set(r.messageId!, b);
    }
    const bodies = [...byMid.values()].sort((a, b) => a.batchSeq - b.batchSeq);
    const seqs = bodies.map((b) => b.batchSeq);
    assert.equal(seqs, Array.from({ length: seqs.length }, (_, i) => i + 1), 'batches 1..N, each once');
    const samples = bodies.reduce((n, b) => n + b.samples.length, 0);
    assert.is(dev.intercore.stats.batches, seqs.length, 'every batch acknowledged to the firmware is at the hub');
    // PROTOCOL.md: counters.readings = every sample of every kind since boot (the firmware's own count).
    const status = await (async () => {
      let s: any = null;
      dev.intercore.requestStatus().then((x) => (s = x));
      await until(() => s !== null, 'status');
      return s;
    })();
    const inQueue = status.queueDepth;
    assert.is(inQueue, 0);
    assert.ok(status.counters.readings >= samples, `${status.counters.readings} readings since boot, ${samples} at the hub`);
    // Readings after the last stored batch are still in the firmware's open batch: at most one batch's worth.
    assert.ok(status.counters.readings - samples < 100, `${status.counters.readings - samples} readings not yet batched`);
    const mm = bodies.flatMap((b) => b.samples.filter((s: any) => s.kind === 'mm').map((s: any) => s.mm));
    assert.ok(mm.length > 0.9 * samples, 'almost every sample is a distance');
    for (const x of mm) assert.ok(Math.abs(x - 1200) <= 10, `120 cm target read as ${x} mm`);
  } finally {
    device?.stop();
    await cloud.close();
    storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

rv.run();
