// The outbox journal on the device's storage: SQLite through better-sqlite3 (synchronous, so an
// intercore batch can be acknowledged the moment its insert has committed).
// Durability: journal_mode=WAL with synchronous=FULL — every committed transaction is on stable
// storage before commit returns (sqlite.org/pragma.html#pragma_synchronous: "FULL ... ensures that
// all content is safely written to the disk"), so a power loss at any point loses nothing that was
// acknowledged. Policy and message ids: hlcore/outbox.ts.
import Database from 'better-sqlite3';
import { chmodSync, existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { AppendRequest, AppendResult, OutboxBounds, OutboxCounters, OutboxEntry, OutboxStorage } from './outbox.ts';

/** How many recent (seq, digest) pairs are kept to recognise a resent batch (the RT queue holds 40). */
const RECENT = 256;
const COUNTER_KEYS = ['appended', 'sent', 'droppedRows', 'droppedBytes', 'duplicates', 'rtEpoch', 'eventSeq', 'lastSeq'] as const;
type CounterKey = (typeof COUNTER_KEYS)[number];

export interface SqliteStorageOptions {
  /** identifies this journal in message ids; random (persisted) when absent */
  storeId?: string;
}

export class SqliteStorage implements OutboxStorage {
  private readonly db: Database.Database;
  private closed = false;
  private readonly stmt;
  private readonly storeId: string;

  constructor(readonly path: string, opts: SqliteStorageOptions = {}) {
    const fresh = !existsSync(path);
    this.db = new Database(path);
    if (fresh && path !== ':memory:') chmodSync(path, 0o600);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        mid TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        body TEXT NOT NULL,
        props TEXT NOT NULL,
        bytes INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS counters (k TEXT PRIMARY KEY, v INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS recent (seq INTEGER PRIMARY KEY, digest TEXT NOT NULL, mid TEXT NOT NULL);
    `);
    const db = this.db;
    this.stmt = {
      getCounter: db.prepare<[string], { v: number }>('SELECT v FROM counters WHERE k = ?'),
      setCounter: db.prepare('INSERT INTO counters (k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v'),
      getMeta: db.prepare<[string], { v: string }>('SELECT v FROM meta WHERE k = ?'),
      setMeta: db.prepare('INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v'),
      delMeta: db.prepare('DELETE FROM meta WHERE k = ?'),
      insert: db.prepare('INSERT INTO outbox (mid, kind, created_ms, body, props, bytes) VALUES (?, ?, ?, ?, ?, ?)'),
      totals: db.prepare<[], { rows: number; bytes: number | null }>('SELECT COUNT(*) AS rows, SUM(bytes) AS bytes FROM outbox'),
      oldest: db.prepare<[], { id: number; bytes: number }>('SELECT id, bytes FROM outbox ORDER BY id LIMIT 1'),
      del: db.prepare('DELETE FROM outbox WHERE id = ?'),
      peek: db.prepare<[number, number], Row>('SELECT * FROM outbox WHERE id > ? ORDER BY id LIMIT ?'),
      recentGet: db.prepare<[number], { digest: string; mid: string }>('SELECT digest, mid FROM recent WHERE seq = ?'),
      recentPut: db.prepare('INSERT OR REPLACE INTO recent (seq, digest, mid) VALUES (?, ?, ?)'),
      recentClear: db.prepare('DELETE FROM recent'),
      recentTrim: db.prepare('DELETE FROM recent WHERE seq <= ?'),
    };
    let id = this.getMeta('storeId');
    if (!id) {
      id = opts.storeId ?? randomBytes(4).toString('hex');
      this.setMeta('storeId', id);
    }
    this.storeId = id;
    if (this.counter('rtEpoch') === 0) this.setCounter('rtEpoch', 1);
  }

  private counter(k: CounterKey): number {
    return this.stmt.getCounter.get(k)?.v ?? 0;
  }

  private setCounter(k: CounterKey, v: number): void {
    this.stmt.setCounter.run(k, v);
  }

  private bump(k: CounterKey, by = 1): number {
    const v = this.counter(k) + by;
    this.setCounter(k, v);
    return v;
  }

  private check(): void {
    if (this.closed) throw new Error(`outbox storage ${this.path} is closed`);
  }

  append(req: AppendRequest, bounds: OutboxBounds): AppendResult {
    this.check();
    const tx = this.db.transaction((): AppendResult => {
      let mid: string;
      if (req.source) {
        const { seq, digest } = req.source;
        const seen = this.stmt.recentGet.get(seq);
        if (seen && seen.digest === digest) {
          this.bump('duplicates');
          return { stored: false, duplicateOf: seen.mid };
        }
        const last = this.counter('lastSeq');
        if (seq <= last) {
          // PROTOCOL.md: batch seqs count 1, 2, 3 ... from RT boot. A lower or repeated seq with
          // other contents is a new RT boot: a new epoch keeps message ids unique.
          this.bump('rtEpoch');
          this.stmt.recentClear.run();
        }
        this.setCounter('lastSeq', seq);
        mid = `${this.storeId}.${this.counter('rtEpoch')}-${seq}`;
        this.stmt.recentPut.run(seq, digest, mid);
        this.stmt.recentTrim.run(seq - RECENT);
      } else {
        mid = `${this.storeId}.e${this.bump('eventSeq')}`;
      }
      const body = req.body(mid);
      const bytes = Buffer.byteLength(body);
      const props = JSON.stringify(req.props ?? {});
      // Oldest-first drop: make room for the new entry before inserting it.
      let dropped = 0;
      let { rows, bytes: used } = this.totals();
      while (rows > 0 && (rows + 1 > bounds.maxRows || used + bytes > bounds.maxBytes)) {
        const o = this.stmt.oldest.get()!;
        this.stmt.del.run(o.id);
        rows--;
        used -= o.bytes;
        dropped++;
        this.bump('droppedRows');
        this.bump('droppedBytes', o.bytes);
      }
      if (bytes > bounds.maxBytes) {
        // Larger than the whole outbox: it cannot be kept; counted like any other drop.
        this.bump('droppedRows');
        this.bump('droppedBytes', bytes);
        return { stored: true, entry: { id: 0, mid, kind: req.kind, createdMs: req.createdMs, body, props: req.props ?? {}, bytes }, dropped: dropped + 1 };
      }
      const info = this.stmt.insert.run(mid, req.kind, req.createdMs, body, props, bytes);
      this.bump('appended');
      return { stored: true, entry: { id: Number(info.lastInsertRowid), mid, kind: req.kind, createdMs: req.createdMs, body, props: req.props ?? {}, bytes }, dropped };
    });
    return tx.immediate();
  }

  private totals(): { rows: number; bytes: number } {
    const t = this.stmt.totals.get()!;
    return { rows: t.rows, bytes: t.bytes ?? 0 };
  }

  peek(afterId: number, limit: number): OutboxEntry[] {
    this.check();
    if (limit <= 0) return [];
    return this.stmt.peek.all(afterId, limit).map(fromRow);
  }

  remove(id: number): boolean {
    if (this.closed) return false; // a PUBACK arriving after a simulated crash: the entry stays for the resend
    return this.db.transaction(() => {
      const n = this.stmt.del.run(id).changes;
      if (n > 0) this.bump('sent');
      return n > 0;
    }).immediate();
  }

  counters(): OutboxCounters {
    this.check();
    const t = this.totals();
    return {
      rows: t.rows,
      bytes: t.bytes,
      appended: this.counter('appended'),
      sent: this.counter('sent'),
      droppedRows: this.counter('droppedRows'),
      droppedBytes: this.counter('droppedBytes'),
      duplicates: this.counter('duplicates'),
      rtEpoch: this.counter('rtEpoch'),
      storeId: this.storeId,
    };
  }

  getMeta(key: string): string | null {
    this.check();
    return this.stmt.getMeta.get(key)?.v ?? null;
  }

  setMeta(key: string, value: string | null): void {
    this.check();
    if (value === null) this.stmt.delMeta.run(key);
    else this.stmt.setMeta.run(key, value);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}

interface Row {
  id: number;
  mid: string;
  kind: string;
  created_ms: number;
  body: string;
  props: string;
  bytes: number;
}

function fromRow(r: Row): OutboxEntry {
  return { id: r.id, mid: r.mid, kind: r.kind as OutboxEntry['kind'], createdMs: r.created_ms, body: r.body, props: JSON.parse(r.props), bytes: r.bytes };
}
