// One RT batch (PROTOCOL.md, 0x01 BATCH) -> the telemetry message named by rover.dtdl.json: a summary
// per ranger for charts and every sample with its device time stamp.
import { createHash } from 'node:crypto';
import { sampleTimeUs, type Batch } from './intercore/frame.ts';
import { rangerTelemetry, TELEMETRY } from './pnp.ts';

export interface RangerSummary {
  lastCm?: number;
  minCm?: number;
  maxCm?: number;
  meanCm?: number;
  valid: number;
  noEcho: number;
  belowAlert: number;
}

export interface SampleOut {
  t: string;
  us: number;
  r: number;
  mm?: number;
  kind: string;
}

/**
 * Device time of RT microsecond `us`: the RT core keeps time since its boot; `rtBootMs` is that boot
 * on the device's UTC clock (hlcore/device.ts estimates it from batch arrival times).
 */
export function sampleIso(rtBootMs: number, us: bigint): string {
  return new Date(rtBootMs + Number(us) / 1000).toISOString();
}

/** Trigger time of the last sample of a batch, microseconds since RT boot. */
export function lastSampleUs(b: Batch): bigint {
  return sampleTimeUs(b, b.rangers - 1, b.polls - 1);
}

export function summarize(b: Batch, r: number, alertCm: number): RangerSummary {
  const mm = b.samples[r].filter((x): x is number => x !== null);
  const s: RangerSummary = {
    valid: mm.length,
    noEcho: b.kinds[r].filter((k) => k === 'noEcho').length,
    belowAlert: mm.filter((x) => x / 10 < alertCm).length,
  };
  if (mm.length > 0) {
    const cm = (x: number) => Math.round(x) / 10;
    s.lastCm = cm(mm[mm.length - 1]);
    s.minCm = cm(Math.min(...mm));
    s.maxCm = cm(Math.max(...mm));
    s.meanCm = Math.round(mm.reduce((a, x) => a + x, 0) / mm.length) / 10;
  }
  return s;
}

export function batchTelemetry(b: Batch, rtBootMs: number, alertCm: number): Record<string, unknown> {
  const out: Record<string, unknown> = { [TELEMETRY.batchSeq]: b.seq };
  for (let r = 0; r < b.rangers; r++) out[rangerTelemetry(r)] = summarize(b, r, alertCm);
  const samples: SampleOut[] = [];
  for (let k = 0; k < b.polls; k++) {
    for (let r = 0; r < b.rangers; r++) {
      const us = sampleTimeUs(b, r, k);
      const v = b.samples[r][k];
      const s: SampleOut = { t: sampleIso(rtBootMs, us), us: Number(us), r, kind: b.kinds[r][k] };
      if (v !== null) s.mm = v;
      samples.push(s);
    }
  }
  out[TELEMETRY.samples] = samples;
  return out;
}

/** A digest of everything in the batch: a resent batch has the same one, a rebooted RT core's not. */
export function batchDigest(b: Batch): string {
  return createHash('sha256').update(JSON.stringify([b.seq, String(b.firstSampleUs), b.periodMs, b.rangers, b.polls, b.temperatureC, b.counters, b.kinds, b.samples])).digest('hex').slice(0, 32);
}
