// The real-time side alone: the real rtcore.wasm on the simulated board with its rig, in a world,
// and hlcore's intercore client taking the batches — everything under the board's cycle clock.
// `rover run` and the rtcore tests use it; the whole-rover orchestrator builds on the same parts.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Board } from '../boards/board.ts';
import { loadRig, BOARDS_DIR } from '../boards/hardware.ts';
import type { CoreOptions } from '../boards/mt3620/m4-core.ts';
import { IntercoreClient } from '../hlcore/intercore/client.ts';
import type { Batch, Status } from '../hlcore/intercore/frame.ts';
import type { Clock } from '../hlcore/clock.ts';
import { World, type WorldSpec } from './world.ts';

export const RELEASE_WASM = join(BOARDS_DIR, '..', 'build', 'rtcore.wasm');

export function loadFirmware(path = RELEASE_WASM): Uint8Array {
  if (!existsSync(path)) throw new Error(`${path} not found: run \`npm run build\` first`);
  return new Uint8Array(readFileSync(path));
}

export interface RtRunOptions {
  rig?: string;
  world: WorldSpec;
  seed?: number;
  vcd?: boolean;
  /** Air temperature the firmware is configured with (default: the world's at t = 0). */
  configuredTemperatureC?: number;
  compensate?: boolean;
  pollMs?: number;
  batchMs?: number;
  wasm?: Uint8Array;
  core?: CoreOptions;
  /** Simulated wall-clock date of power-on (ms since epoch), for hlcore's clock. */
  startMs?: number;
}

export class RtRun {
  readonly board: Board;
  readonly world: World;
  readonly client: IntercoreClient;
  readonly clock: Clock;
  readonly batches: Batch[] = [];
  readonly rejected: string[] = [];
  lastStatus: Status | null = null;

  constructor(readonly opts: RtRunOptions) {
    this.world = new World({ seed: opts.seed, ...opts.world });
    this.board = new Board({ rig: loadRig(opts.rig), env: this.world, wasm: opts.wasm ?? loadFirmware(), seed: opts.seed, vcd: opts.vcd, core: opts.core });
    const m = this.board.machine;
    const start = opts.startMs ?? Date.UTC(2026, 0, 1);
    this.clock = {
      now: () => start + (m.now / m.hz) * 1000,
      at: (ms, fn) => {
        const ev = m.at(Math.round(((ms - start) / 1000) * m.hz), fn);
        return () => m.cancel(ev);
      },
    };
    this.client = new IntercoreClient(this.board.mailbox.port, this.clock, {
      batch: (b) => {
        this.batches.push(b);
      },
      status: (s) => {
        this.lastStatus = s;
      },
      rejected: (r) => this.rejected.push(r),
    });
  }

  /** Power on; the HL side sends the configuration at once (it arrives before the first poll). */
  boot(): this {
    this.board.boot();
    const o = this.opts;
    if (o.configuredTemperatureC !== undefined || o.compensate !== undefined || o.pollMs || o.batchMs) {
      this.client
        .configure({
          pollMs: o.pollMs ?? 100,
          batchMs: o.batchMs ?? 5000,
          temperatureC: o.configuredTemperatureC ?? this.world.temperatureC(0),
          compensate: o.compensate ?? true,
        })
        .then((r) => {
          if (r.code !== 0) this.rejected.push(`configuration refused by the RT core (code ${r.code})`);
        }, (e) => this.rejected.push(String(e.message)));
    }
    return this;
  }

  runFor(seconds: number): void {
    this.board.runFor(seconds);
  }
}
