// The host codec (hlcore/intercore/frame.ts) against frames the firmware produced, and against
// annotated bytes written from rtcore/PROTOCOL.md by hand.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { crc32 } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { RtRun } from '../../sim/rt-run.ts';
import {
  buildFrame, componentIdBytes, configFrame, decodeBatch, FrameType, parseFrame, sampleTimeUs,
} from '../../hlcore/intercore/frame.ts';

const f = suite('intercore frame codec');

f('annotated bytes from PROTOCOL.md: an ACK for batch 7 with HL seq 3', () => {
  const bytes = ackBytes();
  assert.equal([...buildFrame(FrameType.ACK, 3, Uint8Array.of(7, 0, 0, 0))], [...bytes]);
  const p = parseFrame(bytes);
  assert.is(p.type, 0x81);
  assert.is(p.seq, 3);
  assert.equal([...p.body], [7, 0, 0, 0]);
});

function ackBytes(): Uint8Array {
  const head = [0x01, 0x81, 0x04, 0x00, 0x03, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00]; // version, type, L=4, seq=3, body
  const c = crc32(Uint8Array.from(head)) >>> 0;
  return Uint8Array.from([...head, c & 0xff, (c >>> 8) & 0xff, (c >>> 16) & 0xff, c >>> 24]);
}

f('component ID: GUID fields little-endian, data4 as is (hardware.md)', () => {
  assert.equal(
    [...componentIdBytes('d17f3218-74e6-4817-a364-ed23eef52d55')],
    [0x18, 0x32, 0x7f, 0xd1, 0xe6, 0x74, 0x17, 0x48, 0xa3, 0x64, 0xed, 0x23, 0xee, 0xf5, 0x2d, 0x55],
  );
  assert.throws(() => componentIdBytes('not-a-guid'), /not a GUID/);
});

f('firmware frames: header names the HL app, decode + re-encode is byte-identical', () => {
  const run = new RtRun({ world: { distanceCm: { left: 123.4, right: null }, temperatureC: 30 }, configuredTemperatureC: 30 });
  const raw: Uint8Array[] = [];
  const ring = run.board.mailbox;
  const rtSend = ring.rtSend.bind(ring);
  ring.rtSend = (msg) => {
    raw.push(msg.slice());
    return rtSend(msg);
  };
  run.boot().runFor(10.2);
  const batches = raw.filter((m) => m[21] === FrameType.BATCH);
  assert.ok(batches.length >= 2);
  const hl = JSON.parse(readFileSync(new URL('../../hlcore/app_manifest.json', import.meta.url), 'utf8')).ComponentId;
  for (const m of batches) {
    assert.equal([...m.subarray(0, 16)], [...componentIdBytes(hl)], 'header names the HL app of the manifest');
    assert.equal([...m.subarray(16, 20)], [0, 0, 0, 0], 'reserved');
    const payload = m.subarray(20);
    const f = parseFrame(payload);
    assert.equal([...buildFrame(f.type, f.seq, f.body)], [...payload]);
    const b = decodeBatch(f);
    assert.is(b.rangers, 2);
    assert.is(b.polls, 50);
    assert.is(b.periodMs, 100);
    assert.is(b.temperatureC, 30);
    assert.ok(b.compensated);
    assert.ok(b.samples[0].every((x) => x === 1234));
    assert.ok(b.kinds[1].every((k) => k === 'noEcho'));
    // Offsets from PROTOCOL.md, read by hand: samples start at body offset 44, poll-major.
    const v = new DataView(f.body.buffer, f.body.byteOffset, f.body.byteLength);
    assert.is(v.getUint16(44, true), 1234);
    assert.is(v.getUint16(46, true), 0xffff);
    assert.is(v.getUint16(10, false) >> 8, 2, 'rangers at offset 10');
  }
  const [b1, b2] = batches.map((m) => decodeBatch(parseFrame(m.subarray(20))));
  assert.is(b2.seq, b1.seq + 1);
  assert.is(sampleTimeUs(b1, 1, 2) - b1.firstSampleUs, 250_000n, 'ranger 1 of poll 2: 2 x 100 ms + 50 ms');
  assert.is(b2.counters.readings, 200);
});

f('malformed frames: one clear reason each', () => {
  const good = ackBytes();
  assert.throws(() => parseFrame(good.subarray(0, 5)), /too short/);
  const v2 = good.slice();
  v2[0] = 2;
  assert.throws(() => parseFrame(v2), /version 2/);
  assert.throws(() => parseFrame(Uint8Array.from([...good, 0])), /length/);
  const flipped = good.slice();
  flipped[9] ^= 4;
  assert.throws(() => parseFrame(flipped), /CRC mismatch/);
  const notBatch = parseFrame(good);
  assert.throws(() => decodeBatch(notBatch), /not a batch/);
  assert.throws(() => configFrame(1, { pollMs: 0, batchMs: 5000, temperatureC: 20, compensate: true }), /pollMs/);
  assert.throws(() => configFrame(1, { pollMs: 100, batchMs: 5000, temperatureC: 1e6, compensate: true }), /temperature/);
});

f.run();
