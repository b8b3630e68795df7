// 64-bit microsecond time from the 32-bit 1 MHz counter. The counter wraps every 71.6 minutes;
// the firmware reads it at least every poll period, far more often, so one wrap is never missed.
import { counter_us } from './hal';

let high: u64 = 0;
let lastLow: u32 = 0;

export function now64(): u64 {
  const low = counter_us();
  if (low < lastLow) high += <u64>1 << 32;
  lastLow = low;
  return high | <u64>low;
}

/** Busy-wait until at least `us` full counter ticks have elapsed since the call. Reading the
 *  counter after the caller's side effect and waiting for us+1 ticks guarantees >= us elapsed
 *  whatever the sub-tick phase (the counter may be about to tick at the first read). */
export function spinMicros(us: u32): void {
  const start = counter_us();
  while (counter_us() - start < us + 1) {}
}
