// The intercore link (rtcore/PROTOCOL.md) over the MT3620 shared-memory ring buffers
// (shared/reference/hardware.md): backpressure when the ring is full, retransmission across a
// high-level restart with no duplicate after an acknowledgement, CRC rejection both ways.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { crc32 } from 'node:zlib';
import { RtRun } from '../../sim/rt-run.ts';
import { IntercoreClient } from '../../hlcore/intercore/client.ts';
import { buildFrame, configFrame, FrameType, parseFrame, statusRequestFrame, type Batch } from '../../hlcore/intercore/frame.ts';
import { Ring, OK, FULL, TOO_BIG } from '../../boards/mt3620/mailbox.ts';

const mb = suite('rtcore intercore mailbox');

mb('ring buffer layout: 4-byte length + data in 16-byte-aligned blocks, 16 bytes spare', () => {
  const r = new Ring(256);
  assert.is(Ring.blockBytes(1), 16);
  assert.is(Ring.blockBytes(12), 16);
  assert.is(Ring.blockBytes(13), 32);
  const msg = Uint8Array.from({ length: 100 }, (_, i) => i);
  assert.is(r.write(msg), OK); // 112 bytes
  assert.is(r.writePos, 112);
  assert.is(new DataView(r.bytes.buffer).getUint32(64, true), 100, 'length word right after the 64-byte header');
  assert.is(r.write(msg), OK); // 224 used, 32 free
  assert.is(r.write(new Uint8Array(13)), FULL, 'a 32-byte block needs 32 + 16 spare: 32 free is not enough');
  assert.is(r.write(new Uint8Array(12)), OK, 'a 16-byte block leaves exactly the 16 spare bytes');
  assert.is(r.write(new Uint8Array(1)), FULL, 'no room is left now');
  assert.equal(r.read(), msg);
  assert.is(r.write(msg), OK, 'wraps around the end of the data area');
  assert.equal(r.read(), msg);
  assert.equal(r.read(), new Uint8Array(12));
  assert.equal(r.read(), msg);
  assert.is(r.read(), null);
  assert.is(r.write(new Uint8Array(240)), TOO_BIG);
});

/** Watch every payload crossing to the HL side, with the time it crossed. */
function tap(run: RtRun) {
  const seen: { t: number; seq: number; type: number; bytes: Uint8Array }[] = [];
  const port = run.board.mailbox.port;
  const deliver = port.onReceive!;
  port.onReceive = (p) => {
    try {
      const f = parseFrame(p);
      seen.push({ t: run.board.seconds(), seq: f.seq, type: f.type, bytes: p });
    } catch {
      seen.push({ t: run.board.seconds(), seq: -1, type: -1, bytes: p });
    }
    deliver(p);
  };
  return seen;
}

mb('a full ring buffer applies backpressure: frames wait in the RT core, none is lost', () => {
  const run = new RtRun({ world: { distanceCm: { '*': 100 } } }).boot();
  const port = run.board.mailbox.port;
  port.running = false; // the HL app stops reading
  run.runFor(60.2); // 12 frames of 276 bytes; the 2048-byte ring holds 7
  assert.is(run.batches.length, 0);
  const ring = run.board.mailbox.outbound;
  assert.ok(ring.used() > 2048 - 288 - 16, `ring nearly full: ${ring.used()} bytes`);
  port.running = true;
  run.board.mailbox.scheduleDrain();
  run.runFor(10);
  const seqs = run.batches.map((b) => b.seq);
  assert.equal(seqs, Array.from({ length: 14 }, (_, i) => i + 1), 'every frame, in order');
  assert.is(run.batches.at(-1)!.counters.droppedFrames, 0);
  assert.ok(run.client.stats.duplicates > 0, 'retransmissions of frames already in the ring were recognised');
});

mb('HL restart: unacknowledged frames are sent again; after an ack a frame is never sent again', () => {
  const run = new RtRun({ world: { distanceCm: { '*': 100 } } }).boot();
  const frames = tap(run);
  const acks: { t: number; seq: number }[] = [];
  const port = run.board.mailbox.port;
  const send = port.send.bind(port);
  port.send = (p) => {
    const f = parseFrame(p);
    if (f.type === FrameType.ACK) acks.push({ t: run.board.seconds(), seq: new DataView(f.body.buffer, f.body.byteOffset).getUint32(0, true) });
    return send(p);
  };
  run.runFor(12); // 2 frames delivered and acked
  assert.is(run.batches.length, 2);
  // The HL app dies: it reads nothing for 30 s, then a new instance (no memory of the old) starts.
  port.running = false;
  run.runFor(30);
  const fresh: Batch[] = [];
  port.running = true;
  new IntercoreClient(port, run.clock, { batch: (b) => void fresh.push(b) });
  run.board.mailbox.scheduleDrain();
  run.runFor(20);
  const all = [...run.batches, ...fresh];
  const unique = new Set(all.map((b) => b.seq));
  assert.equal([...unique].sort((a, b) => a - b), Array.from({ length: 12 }, (_, i) => i + 1), 'every frame arrived');
  assert.is(all.length, 12, 'each frame handed to the application exactly once');
  for (const a of acks) {
    const later = frames.filter((f) => f.type === FrameType.BATCH && f.seq === a.seq && f.t > a.t + 0.001);
    assert.is(later.length, 0, `frame ${a.seq} sent again after its ack at ${a.t.toFixed(3)} s`);
  }
});

mb('a corrupted frame is rejected by its CRC (both directions)', () => {
  const run = new RtRun({ world: { distanceCm: { '*': 100 } } }).boot();
  const frames = tap(run);
  run.runFor(5.2);
  const good = frames.find((f) => f.type === FrameType.BATCH)!.bytes;
  // Independent check of the firmware's CRC with zlib.
  const n = good.length - 4;
  assert.is(new DataView(good.buffer, good.byteOffset).getUint32(n, true), crc32(good.subarray(0, n)) >>> 0);
  for (const at of [0, 5, 20, n - 1, n + 2]) {
    const bad = good.slice();
    bad[at] ^= 0x10;
    assert.throws(() => parseFrame(bad), /CRC|version|length/);
  }
  const bad = good.slice();
  bad[60] ^= 1;
  const before = run.client.stats.rejected;
  run.board.mailbox.port.onReceive!(bad);
  assert.is(run.client.stats.rejected, before + 1);
  // HL -> RT: a corrupted configuration is dropped and counted by the firmware; a good one is applied.
  const cfg = configFrame(900, { pollMs: 100, batchMs: 5000, temperatureC: 30, compensate: true });
  cfg[9] ^= 0xff;
  run.board.mailbox.port.send(cfg);
  run.runFor(0.01);
  let status: any = null;
  run.client.requestStatus().then((s) => (status = s));
  run.runFor(0.01);
  return Promise.resolve().then(() => {
    assert.ok(status, 'status answered');
    assert.is(status.counters.rxErrors, 1);
    assert.is(status.temperatureC, 20, 'configuration not applied');
  });
});

mb('configuration: validated by the firmware, periods applied at the batch boundary', async () => {
  const run = new RtRun({ world: { distanceCm: { '*': 100 } } }).boot();
  const results: number[] = [];
  run.client.configure({ pollMs: 40, batchMs: 4000, temperatureC: 20, compensate: true }).then((r) => results.push(r.code));
  run.client.configure({ pollMs: 100, batchMs: 5050, temperatureC: 20, compensate: true }).then((r) => results.push(r.code));
  run.client.configure({ pollMs: 200, batchMs: 2000, temperatureC: 25, compensate: true }).then((r) => results.push(r.code));
  run.runFor(0.05);
  await Promise.resolve();
  assert.equal(results, [1, 1, 0], 'poll 40 ms (< 60 ms cycle) and 5050/100 refused; 200/2000 accepted');
  run.runFor(10);
  const [b1, b2, b3] = run.batches;
  assert.is(b1.periodMs, 100);
  assert.is(b1.polls, 50);
  assert.is(b1.temperatureC, 25, 'temperature applied at once');
  assert.is(b2.periodMs, 200);
  assert.is(b2.polls, 10);
  assert.is(Number(b2.firstSampleUs - b1.firstSampleUs), 5_000_000);
  assert.is(Number(b3.firstSampleUs - b2.firstSampleUs), 2_000_000);
});

mb('status request and power-cycle command', async () => {
  const run = new RtRun({ world: { distanceCm: { '*': 100 } } }).boot();
  run.runFor(1);
  let code = -1;
  run.client.powerCycle(1).then((r) => (code = r.code));
  run.runFor(0.01);
  await Promise.resolve();
  assert.is(code, 0);
  let bad = -1;
  run.client.powerCycle(7).then((r) => (bad = r.code));
  run.runFor(0.01);
  await Promise.resolve();
  assert.is(bad, 1, 'no ranger 7');
  let s: any;
  run.client.requestStatus().then((x) => (s = x));
  run.runFor(0.01);
  await Promise.resolve();
  assert.is(s.counters.powerCycles, 1);
  assert.is(s.rangers, 2);
  assert.is(s.pollMs, 100);
  assert.ok(run.board.seconds() - Number(s.uptimeUs) / 1e6 < 0.011, 'uptime is the board clock');
});

mb('an unknown command type gets "unknown command"; a truncated payload is dropped', async () => {
  const run = new RtRun({ world: { distanceCm: { '*': 100 } } }).boot();
  const frames = tap(run);
  run.board.mailbox.port.send(buildFrame(0x99, 77));
  run.board.mailbox.port.send(statusRequestFrame(78).subarray(0, 9));
  run.runFor(0.01);
  const r = frames.find((f) => f.type === FrameType.RESULT)!;
  assert.ok(r, 'a result frame');
  assert.is(r.seq, 77);
  assert.equal([...parseFrame(r.bytes).body], [0x99, 2]);
  assert.is(frames.filter((f) => f.seq === 78).length, 0);
});

mb('corruption in transit: rejected by CRC, the frame comes again, nothing lost', () => {
  const run = new RtRun({ world: { distanceCm: { '*': 100 } } }).boot();
  run.runFor(1);
  run.board.mailbox.corruptNext(2);
  run.runFor(15);
  assert.is(run.board.mailbox.corrupted, 2);
  assert.is(run.client.stats.rejected, 2);
  assert.equal(run.batches.map((b) => b.seq), [1, 2, 3], 'every frame once, in order');
});

mb('RT restart: the counter keeps running, sequence numbers start again, batches stay distinct', () => {
  const run = new RtRun({ world: { distanceCm: { '*': 100 } } }).boot();
  run.runFor(12.5); // 2 batches acknowledged, a third half gathered
  run.board.restartRt();
  run.runFor(10.3);
  const seqs = run.batches.map((b) => b.seq);
  assert.equal(seqs, [1, 2, 1, 2], 'seq restarts at 1 after the restart');
  const t = run.batches.map((b) => Number(b.firstSampleUs) / 1e6);
  assert.ok(t[2] > 12.5, `the new boot's first sample (${t[2]} s) is later on the running counter`);
  assert.is(run.client.stats.duplicates, 0, 'not mistaken for retransmissions');
  assert.is(run.batches[2].counters.readings, 100, 'the restarted core counts from zero');
});

mb.run();
