// The intercore link to the high-level core: a queue of batch frames kept until the high-level
// core acknowledges their sequence number, retransmitted otherwise; commands in the other
// direction. Byte layout: rtcore/PROTOCOL.md. Transport: the HAL mailbox (MT3620 shared-memory
// ring buffers, shared/reference/hardware.md).
import { mbox_doorbell, mbox_recv, mbox_send, MBOX_FULL, MBOX_OK, DOORBELL_SENT, DOORBELL_RECEIVED } from './hal';
import { crc32 } from './crc32';
import { CRC_BYTES, HEADER, PREAMBLE, VERSION } from './protocol';

/** 40 frames of 5 s = 200 s of readings kept while the high-level core is away. Each slot holds the
 *  largest batch frame (header 20 + preamble 8 + body 44 + 200 samples * 2 + CRC 4 = 476 bytes). */
export const QUEUE_SLOTS: i32 = 40;
export const SLOT_BYTES: i32 = 480;
/** Retransmit an unacknowledged frame after 1 s. */
const RETRANSMIT_US: u64 = 1000000;
const NEVER: u64 = u64.MAX_VALUE;

const slots = memory.data(QUEUE_SLOTS * SLOT_BYTES);
const slotLen = new StaticArray<i32>(QUEUE_SLOTS);
const slotSeq = new StaticArray<u32>(QUEUE_SLOTS);
const slotSentAt = new StaticArray<u64>(QUEUE_SLOTS);
const slotAcked = new StaticArray<bool>(QUEUE_SLOTS);
let head: i32 = 0; // oldest frame still held
let count: i32 = 0;

export let nextSeq: u32 = 1;
export let droppedFrames: u32 = 0;
export let retransmissions: u32 = 0;
export let rxErrors: u32 = 0;
let waitingForRoom = false;

/** Component ID of the high-level app: the message header names the peer. Default from the HL app
 *  manifest (hlcore/app_manifest.json); replaced by the sender ID of each inbound message. */
const peer = memory.data<u8>([
  0x18, 0x32, 0x7f, 0xd1, 0xe6, 0x74, 0x17, 0x48, 0xa3, 0x64, 0xed, 0x23, 0xee, 0xf5, 0x2d, 0x55,
]);

export function queueDepth(): i32 {
  return count;
}

/** Reserve the next slot for a new frame and return the address where its body starts. When the
 *  queue is full the oldest frame is dropped and counted (its readings are lost; the counter travels
 *  in every later frame so the loss is never silent). */
export function beginFrame(): usize {
  if (count == QUEUE_SLOTS) {
    head = (head + 1) % QUEUE_SLOTS;
    count--;
    droppedFrames++;
  }
  const i = (head + count) % QUEUE_SLOTS;
  return slots + <usize>(i * SLOT_BYTES) + HEADER + PREAMBLE;
}

/** Seal the frame begun with beginFrame: preamble, CRC, header; queue it for sending. */
export function commitFrame(type: u8, bodyLen: i32): u32 {
  const i = (head + count) % QUEUE_SLOTS;
  const base = slots + <usize>(i * SLOT_BYTES);
  const seq = nextSeq++;
  const len = seal(base, type, seq, bodyLen);
  slotLen[i] = len;
  slotSeq[i] = seq;
  slotSentAt[i] = NEVER;
  slotAcked[i] = false;
  count++;
  return seq;
}

/** Fill header, preamble and CRC around a body already at base + HEADER + PREAMBLE. */
function seal(base: usize, type: u8, seq: u32, bodyLen: i32): i32 {
  memory.copy(base, peer, 16);
  store<u32>(base + 16, 0); // reserved
  const p = base + HEADER;
  store<u8>(p, VERSION);
  store<u8>(p + 1, type);
  store<u16>(p + 2, <u16>bodyLen);
  store<u32>(p + 4, seq);
  const n = PREAMBLE + bodyLen;
  store<u32>(p + n, crc32(p, n));
  return HEADER + n + CRC_BYTES;
}

const reply = memory.data(128);

/** Address where a reply body goes (replies are not queued: the high-level core asks again). */
export function replyBody(): usize {
  return reply + HEADER + PREAMBLE;
}

export function sendReply(type: u8, seq: u32, bodyLen: i32): void {
  const len = seal(reply, type, seq, bodyLen);
  if (mbox_send(reply, len) == MBOX_OK) mbox_doorbell(DOORBELL_SENT);
}

/** Send what is due: frames never sent, and unacknowledged ones older than RETRANSMIT_US. Stops at
 *  the first full-buffer refusal and waits for the "received" doorbell or the next pump. */
export function pump(now: u64): void {
  let sent = false;
  for (let k = 0; k < count; k++) {
    const i = (head + k) % QUEUE_SLOTS;
    if (slotAcked[i]) continue;
    const at = slotSentAt[i];
    if (at != NEVER && now - at < RETRANSMIT_US) continue;
    const r = mbox_send(slots + <usize>(i * SLOT_BYTES), slotLen[i]);
    if (r == MBOX_FULL) {
      waitingForRoom = true;
      break;
    }
    if (r != MBOX_OK) {
      // Cannot ever fit: drop it rather than block the queue forever; counted.
      slotAcked[i] = true;
      droppedFrames++;
      continue;
    }
    if (at != NEVER) retransmissions++;
    slotSentAt[i] = now;
    sent = true;
  }
  if (sent) {
    waitingForRoom = false;
    mbox_doorbell(DOORBELL_SENT);
  }
  trimAcked();
}

function trimAcked(): void {
  while (count > 0 && slotAcked[head]) {
    head = (head + 1) % QUEUE_SLOTS;
    count--;
  }
}

export function acknowledge(seq: u32): void {
  for (let k = 0; k < count; k++) {
    const i = (head + k) % QUEUE_SLOTS;
    if (slotSeq[i] == seq) slotAcked[i] = true;
  }
  trimAcked();
}

export function isWaitingForRoom(): bool {
  return waitingForRoom;
}

const rx = memory.data(256);
export const RX_MAX: i32 = 256;

/** Take the next inbound message; returns the payload address and sets rxType/rxSeq/rxBodyLen, or
 *  0 when the ring is empty. Malformed payloads (length, version, CRC) are counted and skipped. */
export let rxType: u8 = 0;
export let rxSeq: u32 = 0;
export let rxBodyLen: i32 = 0;

export function receive(): usize {
  for (;;) {
    const n = mbox_recv(rx, RX_MAX);
    if (n == 0) return 0;
    if (n < 0 || n < HEADER + PREAMBLE + CRC_BYTES) {
      rxErrors++;
      continue;
    }
    const p = rx + HEADER;
    const bodyLen = <i32>load<u16>(p + 2);
    const total = PREAMBLE + bodyLen;
    if (load<u8>(p) != VERSION || HEADER + total + CRC_BYTES != n || load<u32>(p + total) != crc32(p, total)) {
      rxErrors++;
      continue;
    }
    memory.copy(peer, rx, 16); // answer whoever spoke last
    rxType = load<u8>(p + 1);
    rxSeq = load<u32>(p + 4);
    rxBodyLen = bodyLen;
    mbox_doorbell(DOORBELL_RECEIVED);
    return p + PREAMBLE;
  }
}
