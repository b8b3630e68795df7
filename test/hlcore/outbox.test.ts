// The outbox journal (hlcore/outbox.ts on hlcore/sqlite-storage.ts) checked against what SQLite
// itself holds: order, stable message ids across a crash, the oldest-first drop policy and its
// persisted counters, duplicate and RT-reboot detection, and a real SIGKILL in the middle of appends.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import Database from 'better-sqlite3';
import { Outbox, type OutboxEntry } from '../../hlcore/outbox.ts';
import { SqliteStorage } from '../../hlcore/sqlite-storage.ts';

const o = suite('hlcore outbox');
let dir = '';
o.before.each(() => {
  dir = mkdtempSync(join(tmpdir(), 'hl-outbox-'));
});
o.after.each(() => rmSync(dir, { recursive: true, force: true }));

const batch = (seq: number, digest = `d${seq}`) => ({ kind: 'batch' as const, createdMs: 1000 + seq, body: (mid: string) => JSON.stringify({ seq, mid }), source: { seq, digest } });

o('journal settings: WAL, synchronous=FULL, file mode 0600', () => {
  const path = join(dir, 'o.db');
  const s = new SqliteStorage(path, { storeId: 'ab' });
  s.close();
  const db = new Database(path, { readonly: true });
  assert.is(db.pragma('journal_mode', { simple: true }), 'wal');
  db.close();
  assert.is(statSync(path).mode & 0o777, 0o600);
});

o('appends drain in order; an entry leaves only after its send resolved (PUBACK)', async () => {
  const s = new SqliteStorage(join(dir, 'o.db'), { storeId: 'ab' });
  const box = new Outbox(s, { maxRows: 100, maxBytes: 1 << 20 });
  for (let i = 1; i <= 10; i++) box.append(batch(i));
  const sent: string[] = [];
  const n = await box.drain(async (e) => {
    sent.push(e.mid);
    assert.ok(s.peek(e.id - 1, 1)[0]?.id === e.id, 'still stored while in flight');
  }, 3);
  assert.is(n, 10);
  assert.equal(sent, Array.from({ length: 10 }, (_, i) => `ab.1-${i + 1}`));
  const c = s.counters();
  assert.is(c.rows, 0);
  assert.is(c.sent, 10);
  assert.is(c.appended, 10);
  s.close();
});

o('a failed send stops the drain; the failed entry and the rest stay, in order', async () => {
  const s = new SqliteStorage(join(dir, 'o.db'), { storeId: 'ab' });
  const box = new Outbox(s, { maxRows: 100, maxBytes: 1 << 20 });
  for (let i = 1; i <= 6; i++) box.append(batch(i));
  const err = await box
    .drain(async (e) => {
      if (e.mid.endsWith('-3')) throw new Error('connection closed');
    }, 1)
    .then(() => null, (e: Error) => e);
  assert.is(err?.message, 'connection closed');
  assert.equal(s.peek(0, 100).map((e) => e.mid), ['ab.1-3', 'ab.1-4', 'ab.1-5', 'ab.1-6']);
  s.close();
});

o('crash mid-drain (DB closed without the acks): reopened, nothing lost, order kept, same message ids', async () => {
  const path = join(dir, 'o.db');
  let s = new SqliteStorage(path, { storeId: 'ab' });
  let box = new Outbox(s, { maxRows: 100, maxBytes: 1 << 20 });
  for (let i = 1; i <= 20; i++) box.append(batch(i));
  const hub: string[] = []; // what the hub received (it may receive an entry twice)
  const hanging: (() => void)[] = [];
  const draining = box.drain((e) => {
    hub.push(e.mid);
    if (hub.length <= 5) return Promise.resolve();
    return new Promise<void>((resolve) => hanging.push(resolve)); // published, PUBACK never processed
  }, 4);
  while (hanging.length < 4) await new Promise((r) => setImmediate(r));
  s.close(); // the crash: process gone before the PUBACKs of 6..9 were handled
  hanging.forEach((r) => r()); // late acks hit a closed journal: must not remove anything
  await draining.catch(() => {});
  s = new SqliteStorage(path);
  box = new Outbox(s, { maxRows: 100, maxBytes: 1 << 20 });
  const left = s.peek(0, 100);
  assert.equal(left.map((e) => e.mid), Array.from({ length: 15 }, (_, i) => `ab.1-${i + 6}`), 'entries 6..20 survive, in order');
  await box.drain(async (e) => void hub.push(e.mid));
  assert.is(s.counters().rows, 0);
  // The hub saw 6..9 twice, with the same message id both times: de-duplication by $.mid gives each once.
  const unique = [...new Set(hub)];
  assert.is(hub.length, 24);
  assert.equal(unique, Array.from({ length: 20 }, (_, i) => `ab.1-${i + 1}`));
  s.close();
});

o('bounded: oldest-first drop with persisted counters (rows and bytes)', () => {
  const path = join(dir, 'o.db');
  let s = new SqliteStorage(path, { storeId: 'ab' });
  const box = new Outbox(s, { maxRows: 5, maxBytes: 1 << 20 });
  for (let i = 1; i <= 8; i++) box.append(batch(i));
  assert.equal(s.peek(0, 100).map((e) => e.mid), ['ab.1-4', 'ab.1-5', 'ab.1-6', 'ab.1-7', 'ab.1-8']);
  const each = Buffer.byteLength(JSON.stringify({ seq: 1, mid: 'ab.1-1' }));
  let c = s.counters();
  assert.is(c.droppedRows, 3);
  assert.is(c.droppedBytes, 3 * each);
  s.close();
  s = new SqliteStorage(path);
  c = s.counters();
  assert.is(c.droppedRows, 3, 'drop counters survive a restart');
  // Byte bound: room for exactly 3 entries of this size.
  const byBytes = new Outbox(s, { maxRows: 100, maxBytes: 3 * each + 2 });
  byBytes.append(batch(9));
  assert.is(s.counters().rows, 3);
  assert.is(s.counters().bytes, 3 * each);
  assert.equal(s.peek(0, 100).map((e) => e.mid), ['ab.1-7', 'ab.1-8', 'ab.1-9']);
  assert.is(s.counters().droppedRows, 6, '3 by rows before, 3 (entries 4, 5, 6) by bytes now');
  s.close();
});

o('a batch resent by the RT core is stored once; a lower seq with other contents is a new RT epoch', () => {
  const s = new SqliteStorage(join(dir, 'o.db'), { storeId: 'ab' });
  const box = new Outbox(s, { maxRows: 100, maxBytes: 1 << 20 });
  assert.ok(box.append(batch(1)).stored);
  assert.ok(box.append(batch(2)).stored);
  const dup = box.append(batch(2));
  assert.equal(dup, { stored: false, duplicateOf: 'ab.1-2' });
  const reboot = box.append(batch(1, 'other contents'));
  assert.ok(reboot.stored && reboot.entry.mid === 'ab.2-1', 'RT reboot: epoch 2');
  const ev = box.append({ kind: 'event', createdMs: 5, body: () => '{}' });
  assert.ok(ev.stored && ev.entry.mid === 'ab.e1');
  assert.is(s.counters().duplicates, 1);
  assert.is(s.counters().rtEpoch, 2);
  s.close();
});

o('power loss (SIGKILL) during appends: every append reported committed is there, the DB is intact', async () => {
  const path = join(dir, 'o.db');
  const script = `
    import { SqliteStorage } from ${JSON.stringify(new URL('../../hlcore/sqlite-storage.ts', import.meta.url).pathname)};
    const s = new SqliteStorage(${JSON.stringify(path)}, { storeId: 'ab' });
    for (let i = 1; ; i++) {
      s.append({ kind: 'batch', createdMs: i, body: (mid) => JSON.stringify({ mid, pad: 'x'.repeat(2000) }), source: { seq: i, digest: 'd' + i } }, { maxRows: 1e9, maxBytes: 1e12 });
      process.stdout.write(i + '\\n');
    }`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  await new Promise<void>((resolve) => {
    child.stdout.on('data', (d) => {
      out += d;
      if (out.split('\n').length > 300) {
        child.kill('SIGKILL');
        resolve();
      }
    });
  });
  await new Promise((r) => child.on('exit', r));
  const reported = Math.max(...out.trim().split('\n').map(Number));
  const db = new Database(path);
  assert.is(db.pragma('integrity_check', { simple: true }), 'ok');
  db.close();
  const s = new SqliteStorage(path);
  const rows: OutboxEntry[] = s.peek(0, 1e6);
  assert.ok(rows.length >= reported, `${rows.length} rows stored, ${reported} reported committed`);
  rows.forEach((e, i) => assert.is(e.mid, `ab.1-${i + 1}`, 'contiguous, in order'));
  s.close();
});

o.run();
