// hlcore's side of the intercore link (rtcore/PROTOCOL.md): validates every payload, acknowledges
// batch frames once the caller has them, drops duplicates (retransmissions), and sends
// configuration and commands to the RT core, asking again when no answer comes.
import type { Clock } from '../clock.ts';
import {
  ackFrame, batchId, configFrame, decodeBatch, decodeResult, decodeStatus, FrameError, FrameType, parseFrame,
  powerCycleFrame, statusRequestFrame, type Batch, type Config, type Result, type Status,
} from './frame.ts';

/** A datagram channel to the RT app (the simulated mailbox, or /dev/rtapp on the device). */
export interface IntercoreChannel {
  /** False when the channel has no room now (the caller may try again later). */
  send(payload: Uint8Array): boolean;
  onReceive: ((payload: Uint8Array) => void) | null;
}

export interface IntercoreEvents {
  /** A new batch. Return (or resolve) when it is stored: only then is it acknowledged. */
  batch(b: Batch): void | Promise<void>;
  status?(s: Status): void;
  rejected?(reason: string): void;
}

/** Ask again after 1 s without an answer, 5 times at most. */
const RETRY_MS = 1000;
const MAX_TRIES = 5;
/** Batch ids (batchId) remembered for duplicate detection (well above the RT queue's 40 frames). */
const SEEN_WINDOW = 1024;

interface PendingCommand {
  frame: Uint8Array;
  tries: number;
  cancel: () => void;
  resolve: (r: Result | Status) => void;
  reject: (e: Error) => void;
}

export class IntercoreClient {
  readonly stats = { batches: 0, duplicates: 0, rejected: 0, acks: 0, sendFailures: 0 };
  private readonly seen = new Set<string>();
  private readonly seenOrder: string[] = [];
  private hlSeq = 1;
  private readonly pending = new Map<number, PendingCommand>();

  constructor(private readonly ch: IntercoreChannel, private readonly clock: Clock, private readonly ev: IntercoreEvents) {
    ch.onReceive = (p) => this.receive(p);
  }

  private receive(p: Uint8Array): void {
    let f;
    try {
      f = parseFrame(p);
    } catch (e) {
      this.reject((e as Error).message);
      return;
    }
    try {
      if (f.type === FrameType.BATCH) {
        const b = decodeBatch(f);
        const id = batchId(b);
        if (this.seen.has(id)) {
          this.stats.duplicates++;
          this.ack(b.seq); // our earlier ack may have been lost: the RT core still holds it
          return;
        }
        const done = this.ev.batch(b);
        const commit = () => {
          this.remember(id);
          this.stats.batches++;
          this.ack(b.seq);
        };
        if (done instanceof Promise) done.then(commit, () => {}); // not stored: no ack, the RT core sends it again
        else commit();
      } else if (f.type === FrameType.STATUS) {
        const s = decodeStatus(f);
        this.ev.status?.(s);
        this.settle(s.seq, s);
      } else if (f.type === FrameType.RESULT) {
        const r = decodeResult(f);
        this.settle(r.seq, r);
      } else {
        this.reject(`unknown frame type 0x${f.type.toString(16)}`);
      }
    } catch (e) {
      if (e instanceof FrameError) this.reject(e.message);
      else throw e;
    }
  }

  private reject(reason: string): void {
    this.stats.rejected++;
    this.ev.rejected?.(reason);
  }

  private remember(id: string): void {
    this.seen.add(id);
    this.seenOrder.push(id);
    if (this.seenOrder.length > SEEN_WINDOW) this.seen.delete(this.seenOrder.shift()!);
  }

  private ack(seq: number): void {
    if (this.ch.send(ackFrame(this.hlSeq++, seq))) this.stats.acks++;
    else this.stats.sendFailures++; // the RT core retransmits; we ack the duplicate then
  }

  /** Send the configuration; resolves with the RT core's result (code 0 = applied). */
  configure(c: Config): Promise<Result> {
    return this.command((seq) => configFrame(seq, c)) as Promise<Result>;
  }

  powerCycle(ranger: number): Promise<Result> {
    return this.command((seq) => powerCycleFrame(seq, ranger)) as Promise<Result>;
  }

  requestStatus(): Promise<Status> {
    return this.command((seq) => statusRequestFrame(seq)) as Promise<Status>;
  }

  private command(build: (seq: number) => Uint8Array): Promise<Result | Status> {
    const seq = this.hlSeq++;
    const frame = build(seq);
    return new Promise((resolve, reject) => {
      const cmd: PendingCommand = { frame, tries: 0, cancel: () => {}, resolve, reject };
      this.pending.set(seq, cmd);
      this.attempt(seq, cmd);
    });
  }

  private attempt(seq: number, cmd: PendingCommand): void {
    if (cmd.tries++ >= MAX_TRIES) {
      this.pending.delete(seq);
      cmd.reject(new Error(`RT core did not answer command ${seq} after ${MAX_TRIES} tries`));
      return;
    }
    if (!this.ch.send(cmd.frame)) this.stats.sendFailures++;
    cmd.cancel = this.clock.at(this.clock.now() + RETRY_MS, () => this.attempt(seq, cmd));
  }

  private settle(seq: number, value: Result | Status): void {
    const cmd = this.pending.get(seq);
    if (!cmd) return;
    this.pending.delete(seq);
    cmd.cancel();
    cmd.resolve(value);
  }
}
