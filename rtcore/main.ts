// rtcore entry: the exports the board calls (init, idle, isr_*) and the application:
// poll the rangers in turn every poll period, gather a batch, send it every batch period.
// Exports are the HAL ABI's other half (rtcore/hal.ts holds the imports).
import { irq_restore, irq_save, uart_write } from './hal';
import { now64 } from './clock';
import { cancel, idealOf, initScheduler, nextDue, overruns, schedule } from './scheduler';
import * as ranger from './ranger';
import * as link from './link';
import {
  BATCH_FIXED, F_COMPENSATED, S_FAULT, R_BAD_ARGUMENT, R_OK, R_UNKNOWN_COMMAND, T_ACK, T_BATCH, T_CONFIG,
  T_POWER_CYCLE, T_RESULT, T_STATUS, T_STATUS_REQUEST,
} from './protocol';

// Task ids (scheduler slots)
const T_POLL0 = 0; // + ranger
const T_TIMEOUT0 = 2; // + ranger
const T_POWER_ON0 = 4; // + ranger
const T_PUMP = 6;

/** The defaults the issue and the original rover's README ask for: 100 ms poll, 5 s batch, 20 degC. */
let pollUs: u64 = 100000;
let pollsPerBatch: i32 = 50;
let tempCentiC: i32 = 2000;
let compensate = true;
// A configuration received mid-batch is applied at the next batch boundary (temperature at once).
let pendingPollUs: u64 = 0;
let pendingPolls: i32 = 0;

/** Largest batch: 100 polls x 2 rangers = 200 samples (fits a 480-byte queue slot). */
const MAX_POLLS_PER_BATCH = 100;
/** Each ranger gets its own slot of the poll period and must be done within it (45 ms timeout). */
const MIN_SLOT_US: u64 = 50000;
/** Datasheet: measurement cycle > 60 ms per sensor. */
const MIN_POLL_US: u64 = 60000;
const PUMP_US: u64 = 250000;

const samples = new StaticArray<u16>(MAX_POLLS_PER_BATCH * ranger.MAX_RANGERS);
let batchFirstUs: u64 = 0; // ideal time of the batch's first poll of ranger 0
let batchPoll: i32 = 0; // poll index within the batch, per ranger 0 release
let recorded: i32 = 0;
let batchPollUs: u64 = 0; // the poll period this batch was taken with
const pollOfRanger = new StaticArray<i32>(ranger.MAX_RANGERS);

const banner = memory.data<u8>([114, 116, 99, 111, 114, 101, 32, 117, 112, 10]); // "rtcore up\n"

export function init(): void {
  initScheduler();
  ranger.initRangers();
  ranger.setAirTemperature(tempCentiC, compensate);
  uart_write(banner, 10);
  const start = now64() + pollUs;
  startBatch(start);
  schedulePolls(start);
  schedule(T_PUMP, start, PUMP_US);
}

function schedulePolls(start: u64): void {
  const n = ranger.rangerCount;
  for (let r = 0; r < n; r++) schedule(T_POLL0 + r, start + (pollUs * <u64>r) / <u64>n, pollUs);
}

function startBatch(first: u64): void {
  batchFirstUs = first;
  batchPoll = 0;
  recorded = 0;
  batchPollUs = pollUs;
  for (let i = 0; i < pollsPerBatch * ranger.MAX_RANGERS; i++) samples[i] = S_FAULT;
  for (let r = 0; r < ranger.MAX_RANGERS; r++) pollOfRanger[r] = 0;
}

/** Samples taken since boot, every kind counted (the first cumulative counter of a batch). */
let readings: u32 = 0;

function record(r: i32, sample: u16): void {
  const p = pollOfRanger[r];
  if (p >= pollsPerBatch) return; // cannot happen: each ranger completes within its slot
  readings++;
  samples[p * ranger.rangerCount + r] = sample;
  pollOfRanger[r] = p + 1;
  recorded++;
  if (recorded == pollsPerBatch * ranger.rangerCount) closeBatch();
}

function poll(r: i32): void {
  const s = ranger.trigger(r);
  if (s != 0) {
    record(r, s);
    if (ranger.isOff(r)) schedule(T_POWER_ON0 + r, now64() + ranger.POWER_OFF_US, 0);
    return;
  }
  schedule(T_TIMEOUT0 + r, idealOf(T_POLL0 + r) + ranger.TIMEOUT_US, 0);
}

function closeBatch(): void {
  const n = ranger.rangerCount;
  const b = link.beginFrame();
  store<u64>(b, batchFirstUs);
  store<u16>(b + 8, <u16>(batchPollUs / 1000));
  store<u8>(b + 10, <u8>n);
  store<u8>(b + 11, compensate ? F_COMPENSATED : 0);
  store<u16>(b + 12, <u16>pollsPerBatch);
  store<i16>(b + 14, <i16>tempCentiC);
  storeCounters(b + 16);
  const count = pollsPerBatch * n;
  for (let i = 0; i < count; i++) store<u16>(b + BATCH_FIXED + (<usize>i << 1), samples[i]);
  link.commitFrame(T_BATCH, BATCH_FIXED + count * 2);
  needPump = true;

  const next = batchFirstUs + batchPollUs * <u64>pollsPerBatch;
  if (pendingPolls != 0) {
    pollUs = pendingPollUs;
    pollsPerBatch = pendingPolls;
    pendingPolls = 0;
    schedulePolls(next);
  }
  startBatch(next);
}

let needPump = false;

/** The cumulative counters, in the order BATCH and STATUS share (PROTOCOL.md). */
function storeCounters(p: usize): void {
  store<u32>(p, readings);
  store<u32>(p + 4, ranger.noEcho);
  store<u32>(p + 8, ranger.outOfRange);
  store<u32>(p + 12, ranger.spurious);
  store<u32>(p + 16, ranger.stuck);
  store<u32>(p + 20, ranger.powerCycles);
  store<u32>(p + 24, link.droppedFrames);
}

function runTask(id: i32): void {
  if (id < T_TIMEOUT0) {
    poll(id - T_POLL0);
  } else if (id < T_POWER_ON0) {
    const r = id - T_TIMEOUT0;
    const s = ranger.onTimeout(r);
    if (s != 0) {
      record(r, s);
      if (ranger.isOff(r)) schedule(T_POWER_ON0 + r, now64() + ranger.POWER_OFF_US, 0);
    }
  } else if (id < T_PUMP) {
    ranger.powerOn(id - T_POWER_ON0);
  } else {
    needPump = true;
  }
}

export function isr_timer(id: i32): void {
  for (let t = nextDue(); t >= 0; t = nextDue()) runTask(t);
}

export function isr_gpio(gpio: i32, level: i32, capture: u32): void {
  const r = ranger.onEdge(gpio, level, capture);
  if (r >= 0) {
    cancel(T_TIMEOUT0 + r);
    record(r, ranger.lastSample);
  }
}

/** bit 0: the high-level core sent messages; bit 1: it took messages (room in our ring). */
export function isr_mailbox(bits: i32): void {
  if (bits & 1) handleInbound();
  if (bits & 2 && link.isWaitingForRoom()) needPump = true;
}

/** Background work between interrupts; the board (or the C main loop) calls it, then waits for
 *  an interrupt (WFI). */
export function idle(): void {
  const s = irq_save();
  const pumpNow = needPump;
  needPump = false;
  irq_restore(s);
  if (pumpNow) link.pump(now64());
}

function handleInbound(): void {
  for (let p = link.receive(); p != 0; p = link.receive()) {
    const type = link.rxType;
    const len = link.rxBodyLen;
    if (type == T_ACK && len == 4) {
      link.acknowledge(load<u32>(p));
      needPump = true;
    } else if (type == T_CONFIG && len == 8) {
      result(configure(load<u16>(p), load<u16>(p + 2), load<i16>(p + 4), load<u8>(p + 6)));
    } else if (type == T_POWER_CYCLE && len == 1) {
      const r = <i32>load<u8>(p);
      if (ranger.forcePowerCycle(r)) {
        schedule(T_POWER_ON0 + r, now64() + ranger.POWER_OFF_US, 0);
        result(R_OK);
      } else result(R_BAD_ARGUMENT);
    } else if (type == T_STATUS_REQUEST && len == 0) {
      status();
    } else {
      result(R_UNKNOWN_COMMAND);
    }
  }
}

function result(code: u8): void {
  const b = link.replyBody();
  store<u8>(b, link.rxType);
  store<u8>(b + 1, code);
  link.sendReply(T_RESULT, link.rxSeq, 2);
}

function configure(pollMs: u16, batchMs: u16, centiC: i16, flags: u8): u8 {
  const p = <u64>pollMs * 1000;
  const b = <u64>batchMs * 1000;
  const n = <u64>max(ranger.rangerCount, 1);
  if (p < MIN_POLL_US || p / n < MIN_SLOT_US || b < p || b % p != 0 || b / p > <u64>MAX_POLLS_PER_BATCH) {
    return R_BAD_ARGUMENT;
  }
  if (centiC < -4000 || centiC > 8500) return R_BAD_ARGUMENT; // HC-SR04 storage range is wider; we accept -40..85 degC
  tempCentiC = centiC;
  compensate = (flags & F_COMPENSATED) != 0;
  ranger.setAirTemperature(tempCentiC, compensate);
  if (p != pollUs || <i32>(b / p) != pollsPerBatch) {
    pendingPollUs = p;
    pendingPolls = <i32>(b / p);
  }
  return R_OK;
}

function status(): void {
  const b = link.replyBody();
  store<u64>(b, now64());
  store<u16>(b + 8, <u16>(pollUs / 1000));
  store<u16>(b + 10, <u16>((pollUs * <u64>pollsPerBatch) / 1000));
  store<i16>(b + 12, <i16>tempCentiC);
  store<u8>(b + 14, compensate ? F_COMPENSATED : 0);
  store<u8>(b + 15, <u8>ranger.rangerCount);
  storeCounters(b + 16);
  store<u32>(b + 44, link.retransmissions);
  store<u32>(b + 48, link.rxErrors);
  store<u32>(b + 52, overruns);
  store<u16>(b + 56, <u16>link.queueDepth());
  link.sendReply(T_STATUS, link.rxSeq, 58);
}
