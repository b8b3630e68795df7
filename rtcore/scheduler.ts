// Tick-less scheduler on one hardware compare timer (timer 0). Periodic tasks are released from
// their ideal time (next += period, like FreeRTOS vTaskDelayUntil), never from "now", so release
// times do not drift however long a task or the interrupt entry takes.
import { timer_set, timer_cancel } from './hal';
import { now64 } from './clock';

export const MAX_TASKS = 8;
const NONE: u64 = u64.MAX_VALUE;

const deadline = new StaticArray<u64>(MAX_TASKS);
const period = new StaticArray<u64>(MAX_TASKS);
/** How many periodic releases were skipped because the core was late by a whole period. */
export let overruns: u32 = 0;

export function initScheduler(): void {
  for (let i = 0; i < MAX_TASKS; i++) {
    deadline[i] = NONE;
    period[i] = 0;
  }
}

/** Release task `id` at `at` (us), then every `every` us (0 = once). */
export function schedule(id: i32, at: u64, every: u64): void {
  deadline[id] = at;
  period[id] = every;
  rearm();
}

export function cancel(id: i32): void {
  deadline[id] = NONE;
  period[id] = 0;
  rearm();
}

/** The ideal release time of a task's current activation (valid inside its run). */
export function idealOf(id: i32): u64 {
  return released[id];
}

const released = new StaticArray<u64>(MAX_TASKS);

/** Called from isr_timer: returns the next due task id (advancing its deadline), or -1 when none
 *  is due. The caller runs the task and calls again, so tasks due together run in id order. */
export function nextDue(): i32 {
  const now = now64();
  let best = -1;
  let bestAt = NONE;
  for (let i = 0; i < MAX_TASKS; i++) {
    const d = deadline[i];
    if (d <= now && d < bestAt) {
      best = i;
      bestAt = d;
    }
  }
  if (best < 0) {
    rearm();
    return -1;
  }
  released[best] = bestAt;
  const p = period[best];
  if (p == 0) {
    deadline[best] = NONE;
  } else {
    let next = bestAt + p;
    while (next <= now) {
      next += p;
      overruns++;
    }
    deadline[best] = next;
  }
  return best;
}

function rearm(): void {
  let soonest = NONE;
  for (let i = 0; i < MAX_TASKS; i++) if (deadline[i] < soonest) soonest = deadline[i];
  if (soonest == NONE) timer_cancel(0);
  else timer_set(0, <u32>soonest);
}
