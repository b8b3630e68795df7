// Store-and-forward: every reading the RT core hands over is journalled here before it is
// acknowledged on the intercore link (PROTOCOL.md, 0x81 ACK: "received and stored"), and leaves only
// after the hub's PUBACK (azure-iot-protocols.md, "Telemetry: publish QoS 1"). Designed against the
// complaints in azure-iot-protocols.md: telemetry lost while disconnected, queues lost after a long
// outage, "success" without delivery.
//
// Rules:
// - Journal: the storage commits each append in one transaction (SQLite, WAL, synchronous=FULL in
//   hlcore/sqlite-storage.ts) — a crash or power loss at any point leaves every acknowledged entry.
// - Bounded: at most maxRows entries and maxBytes body bytes. Drop policy: OLDEST FIRST — when an
//   append would exceed a bound, the oldest entries are deleted in the same transaction and counted
//   (droppedRows, droppedBytes, persisted). The newest readings describe where the rover is now.
// - Order: drained in append order; with a window of W publishes in flight, PUBACKs remove entries.
// - Message id: each entry carries a stable `mid`, `{storeId}.{rtEpoch}-{batchSeq}` for RT batches and
//   `{storeId}.e{n}` for device events, sent as `$.mid` so the hub side de-duplicates an entry resent
//   after a crash between PUBACK and delete. A batch the RT core resends after an HL crash (acked too
//   late) is recognised by (seq, digest) and stored once; a batch with a seq at or below the last one
//   but a different digest means the RT core rebooted: rtEpoch goes up (persisted).

export type EntryKind = 'batch' | 'event';

export interface OutboxEntry {
  id: number;
  mid: string;
  kind: EntryKind;
  createdMs: number;
  body: string;
  /** extra message properties (application properties of the telemetry message) */
  props: Record<string, string>;
  bytes: number;
}

export interface OutboxBounds {
  maxRows: number;
  maxBytes: number;
}

export interface OutboxCounters {
  rows: number;
  bytes: number;
  appended: number;
  sent: number;
  droppedRows: number;
  droppedBytes: number;
  duplicates: number;
  rtEpoch: number;
  storeId: string;
}

export interface AppendRequest {
  kind: EntryKind;
  createdMs: number;
  /** the body, given the mid (so it can carry it) */
  body: (mid: string) => string;
  props?: Record<string, string>;
  /** for RT batches: the batch's seq and a digest of its contents (duplicate / reboot detection) */
  source?: { seq: number; digest: string };
}

export type AppendResult =
  | { stored: true; entry: OutboxEntry; dropped: number }
  | { stored: false; duplicateOf: string };

/** The journal the outbox needs: one transaction per call. */
export interface OutboxStorage {
  append(req: AppendRequest, bounds: OutboxBounds): AppendResult;
  /** Entries with id > afterId, oldest first. */
  peek(afterId: number, limit: number): OutboxEntry[];
  /** Delete after PUBACK; false when it was already gone (dropped or removed). */
  remove(id: number): boolean;
  counters(): OutboxCounters;
  /** Small persistent settings (last desired configuration, assigned hub). */
  getMeta(key: string): string | null;
  setMeta(key: string, value: string | null): void;
  close(): void;
}

export const DEFAULT_BOUNDS: OutboxBounds = {
  // A 5 s batch of 2 rangers x 50 polls is ~7.5 KB of JSON (perf/hlcore.ts): 20 000 rows are ~27 hours
  // offline, and 160 MB (about as many rows of that size) bounds the flash used whatever the batch size.
  maxRows: 20_000,
  maxBytes: 160 * 1024 * 1024,
};

export class OutboxClosedError extends Error {}

export class Outbox {
  private draining: Promise<number> | null = null;
  private again = false;

  constructor(
    readonly storage: OutboxStorage,
    readonly bounds: OutboxBounds = DEFAULT_BOUNDS,
  ) {
    if (!(bounds.maxRows >= 1 && bounds.maxBytes >= 1)) throw new Error(`outbox bounds must be >= 1 (got ${JSON.stringify(bounds)})`);
  }

  append(req: AppendRequest): AppendResult {
    return this.storage.append(req, this.bounds);
  }

  counters(): OutboxCounters {
    return this.storage.counters();
  }

  /** True while a drain runs (entries in flight). */
  get busy(): boolean {
    return this.draining !== null;
  }

  /**
   * Sends every entry in order, at most `window` unacknowledged at a time; an entry is removed when
   * `send` resolves (the PUBACK). Stops at the first failure (rejects with it; the failed entry and
   * everything after it stay). Concurrent calls share one run; an append during a run is picked up.
   */
  drain(send: (e: OutboxEntry) => Promise<void>, window = 4): Promise<number> {
    if (this.draining) {
      this.again = true;
      return this.draining;
    }
    const run = async () => {
      let total = 0;
      try {
        do {
          this.again = false;
          total += await this.drainOnce(send, window);
        } while (this.again);
      } finally {
        this.draining = null;
      }
      return total;
    };
    this.draining = run();
    return this.draining;
  }

  private async drainOnce(send: (e: OutboxEntry) => Promise<void>, window: number): Promise<number> {
    let after = 0;
    let done = 0;
    let failure: unknown = null;
    const inflight = new Set<Promise<void>>();
    for (;;) {
      if (failure) break;
      const batch = this.storage.peek(after, window - inflight.size);
      if (batch.length === 0 && inflight.size === 0) break;
      for (const e of batch) {
        after = e.id;
        const p: Promise<void> = send(e).then(
          () => {
            inflight.delete(p);
            this.storage.remove(e.id);
            done++;
          },
          (err) => {
            inflight.delete(p);
            failure ??= err ?? new Error('send failed');
          },
        );
        inflight.add(p);
      }
      if (inflight.size > 0) await Promise.race(inflight);
    }
    await Promise.allSettled([...inflight]);
    if (failure) throw failure;
    return done;
  }
}
