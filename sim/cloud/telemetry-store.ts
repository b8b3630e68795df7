// The emulated hub's durable state in SQLite (better-sqlite3, synchronous): device-to-cloud telemetry,
// the device registry DPS writes (so a restarted emulator still knows its devices) and device twins.
// Telemetry rows keep what an operator or a test needs to check delivery: device id, body, the
// decoded property bag, message id, the device's creation time (`iothub-creation-time-utc`,
// azure-iot-protocols.md "Telemetry") and the arrival time on the simulated clock.
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export interface TelemetryRow {
  seq: number;
  deviceId: string;
  body: Buffer;
  properties: Record<string, string>;
  messageId: string | null;
  /** `iothub-creation-time-utc` as sent by the device (ISO 8601 text), or null */
  createdAt: string | null;
  /** simulated ms since the epoch when the hub accepted the message */
  arrivedAt: number;
}

export interface DeviceRecord {
  deviceId: string;
  registrationId: string;
  group: string;
  issuerThumbprint: string;
  modelId: string | null;
  payload: unknown;
  createdAt: number;
  updatedAt: number;
  etag: string;
}

export interface TwinRecord {
  desired: Record<string, unknown>;
  desiredVersion: number;
  reported: Record<string, unknown>;
  reportedVersion: number;
}

export interface TelemetryQuery {
  deviceId?: string;
  /** arrival time bounds, simulated ms, inclusive */
  from?: number;
  to?: number;
  limit?: number;
}

interface RawRow {
  seq: number;
  device_id: string;
  body: Buffer;
  properties: string;
  message_id: string | null;
  created_at: string | null;
  arrived_at: number;
}

export class TelemetryStore {
  private db: Database.Database;
  private insertTelemetry: Database.Statement;
  private upsertDevice: Database.Statement;
  private upsertTwin: Database.Statement;

  /** path: a file (its directory is created) or ':memory:'. */
  constructor(path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    // WAL + NORMAL: one fsync per checkpoint, not per row; a crash loses at most the last moments,
    // which an emulator may (the device side is what must not lose readings).
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS telemetry (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        device_id TEXT NOT NULL,
        body BLOB NOT NULL,
        properties TEXT NOT NULL,
        message_id TEXT,
        created_at TEXT,
        arrived_at INTEGER NOT NULL
      );
      CREATE INDEX IF NOT EXISTS telemetry_device_arrival ON telemetry (device_id, arrived_at);
      CREATE INDEX IF NOT EXISTS telemetry_arrival ON telemetry (arrived_at);
      CREATE TABLE IF NOT EXISTS devices (
        device_id TEXT PRIMARY KEY,
        record TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS twins (
        device_id TEXT PRIMARY KEY,
        record TEXT NOT NULL
      );
    `);
    this.insertTelemetry = this.db.prepare(
      'INSERT INTO telemetry (device_id, body, properties, message_id, created_at, arrived_at) VALUES (?, ?, ?, ?, ?, ?)',
    );
    this.upsertDevice = this.db.prepare('INSERT INTO devices (device_id, record) VALUES (?, ?) ON CONFLICT(device_id) DO UPDATE SET record = excluded.record');
    this.upsertTwin = this.db.prepare('INSERT INTO twins (device_id, record) VALUES (?, ?) ON CONFLICT(device_id) DO UPDATE SET record = excluded.record');
  }

  // ------------------------------------------------ telemetry

  /** Stores one message; returns its sequence number. */
  addTelemetry(r: Omit<TelemetryRow, 'seq'>): number {
    const info = this.insertTelemetry.run(r.deviceId, r.body, JSON.stringify(r.properties), r.messageId, r.createdAt, r.arrivedAt);
    return Number(info.lastInsertRowid);
  }

  private where(q: TelemetryQuery): { sql: string; args: (string | number)[] } {
    const c: string[] = [];
    const args: (string | number)[] = [];
    if (q.deviceId !== undefined) (c.push('device_id = ?'), args.push(q.deviceId));
    if (q.from !== undefined) (c.push('arrived_at >= ?'), args.push(q.from));
    if (q.to !== undefined) (c.push('arrived_at <= ?'), args.push(q.to));
    return { sql: c.length ? ` WHERE ${c.join(' AND ')}` : '', args };
  }

  countTelemetry(q: TelemetryQuery = {}): number {
    const w = this.where(q);
    return (this.db.prepare(`SELECT COUNT(*) AS n FROM telemetry${w.sql}`).get(...w.args) as { n: number }).n;
  }

  /** Rows in arrival order (then sequence). */
  telemetry(q: TelemetryQuery = {}): TelemetryRow[] {
    const w = this.where(q);
    const limit = q.limit !== undefined ? ` LIMIT ${Math.max(0, Math.floor(q.limit))}` : '';
    const rows = this.db.prepare(`SELECT * FROM telemetry${w.sql} ORDER BY arrived_at, seq${limit}`).all(...w.args) as RawRow[];
    return rows.map((r) => ({
      seq: r.seq,
      deviceId: r.device_id,
      body: r.body,
      properties: JSON.parse(r.properties) as Record<string, string>,
      messageId: r.message_id,
      createdAt: r.created_at,
      arrivedAt: r.arrived_at,
    }));
  }

  // ------------------------------------------------ device registry and twins

  saveDevice(d: DeviceRecord): void {
    this.upsertDevice.run(d.deviceId, JSON.stringify(d));
  }

  device(deviceId: string): DeviceRecord | null {
    const r = this.db.prepare('SELECT record FROM devices WHERE device_id = ?').get(deviceId) as { record: string } | undefined;
    return r ? (JSON.parse(r.record) as DeviceRecord) : null;
  }

  devices(): DeviceRecord[] {
    return (this.db.prepare('SELECT record FROM devices ORDER BY device_id').all() as { record: string }[]).map((r) => JSON.parse(r.record) as DeviceRecord);
  }

  saveTwin(deviceId: string, t: TwinRecord): void {
    this.upsertTwin.run(deviceId, JSON.stringify(t));
  }

  twin(deviceId: string): TwinRecord | null {
    const r = this.db.prepare('SELECT record FROM twins WHERE device_id = ?').get(deviceId) as { record: string } | undefined;
    return r ? (JSON.parse(r.record) as TwinRecord) : null;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
