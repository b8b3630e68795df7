// HC-SR04 / Grove ranger driver. One measurement = a >= 10 us trigger pulse timed on the 1 MHz
// counter, then the width of the ECHO pulse from the board's edge-capture time stamps.
// Numbers from shared/reference/hardware.md (HC-SR04 section) unless said otherwise.
import {
  gpio_configure, gpio_read, gpio_write, pin, sensor_power,
  GPIO_INPUT_IRQ, GPIO_OUTPUT,
} from './hal';
import { spinMicros } from './clock';
import { S_FAULT, S_NO_ECHO, S_OUT_OF_RANGE, S_SPURIOUS } from './protocol';

export const MAX_RANGERS = 2;

/** Trigger: the datasheet asks for >= 10 us high. */
const TRIGGER_US: u32 = 10;
/** The module holds ECHO high ~38 ms when nothing answers; the longest real echo (400 cm at -10 degC,
 *  c = 325.2 m/s) is 24.6 ms, so anything from 30 ms up is "no echo". */
const NO_ECHO_US: u32 = 30000;
/** A pulse shorter than the 2 cm round trip at +40 degC (112 us) cannot be a real echo. */
const MIN_ECHO_US: u32 = 100;
/** Range 2-400 cm (datasheet). */
const MIN_MM: u32 = 20;
const MAX_MM: u32 = 4000;
/** The ECHO line must have fallen this long after the trigger (38 ms no-echo pulse + ~2.3 ms
 *  trigger-to-echo delay + margin); later than that it is stuck. */
export const TIMEOUT_US: u64 = 45000;
/** Supply off time when power-cycling a ranger with a stuck ECHO line. */
export const POWER_OFF_US: u64 = 20000;

const IDLE: u8 = 0;
const WAIT_RISE: u8 = 1;
const WAIT_FALL: u8 = 2;
const OFF: u8 = 3;

export let rangerCount: i32 = 0;
const trig = new StaticArray<i32>(MAX_RANGERS);
const echo = new StaticArray<i32>(MAX_RANGERS);
const state = new StaticArray<u8>(MAX_RANGERS);
const rise = new StaticArray<u32>(MAX_RANGERS);

// Cumulative counters since boot (reported in every batch).
export let noEcho: u32 = 0;
export let outOfRange: u32 = 0;
export let spurious: u32 = 0;
export let stuck: u32 = 0;
export let powerCycles: u32 = 0;

/** Speed of sound in mm/us, or 0 for the datasheet rule (cm = us / 58). */
let mmPerUsRoundTrip: f32 = 0;

/** temperature in 1/100 degC; compensate false = the datasheet's /58 rule. */
export function setAirTemperature(centiC: i32, compensate: bool): void {
  if (!compensate) {
    mmPerUsRoundTrip = 0;
    return;
  }
  // c = 331.3 + 0.606 * T m/s (hardware.md); mm per us of round trip = c / 2000.
  const c: f32 = 331.3 + 0.606 * (<f32>centiC / 100.0);
  mmPerUsRoundTrip = c / 2000.0;
}

export function initRangers(): void {
  rangerCount = 0;
  for (let r = 0; r < MAX_RANGERS; r++) {
    const t = pin(r * 2);
    const e = pin(r * 2 + 1);
    if (t < 0 || e < 0) break;
    trig[r] = t;
    echo[r] = e;
    state[r] = IDLE;
    rangerCount++;
    sensor_power(r, 1);
    if (t != e) {
      gpio_configure(t, GPIO_OUTPUT);
      gpio_write(t, 0);
    }
    gpio_configure(e, GPIO_INPUT_IRQ);
  }
}

/** Start a measurement. Returns a sample code when none can be taken (the caller records it at
 *  once), or 0 when a measurement is under way and will complete through onEdge/onTimeout. */
export function trigger(r: i32): u16 {
  const s = state[r];
  if (s == OFF) return S_FAULT;
  if (s != IDLE) {
    // Previous measurement never completed (should not happen: the timeout ends it first).
    state[r] = IDLE;
  }
  const t = trig[r];
  const e = echo[r];
  if (t != e && gpio_read(e) != 0) {
    // ECHO already high before we triggered: the clone-module "stuck high" fault.
    stuck++;
    powerOff(r);
    return S_FAULT;
  }
  if (t == e) gpio_configure(t, GPIO_OUTPUT); // Grove: one SIG pin, output for the trigger...
  gpio_write(t, 1);
  spinMicros(TRIGGER_US);
  gpio_write(t, 0);
  if (t == e) gpio_configure(t, GPIO_INPUT_IRQ); // ...then input for the echo.
  state[r] = WAIT_RISE;
  return 0;
}

/** Edge interrupt on an ECHO pin. Returns the ranger whose measurement completed (its sample in
 *  lastSample), or -1. */
export let lastSample: u16 = 0;

export function onEdge(gpio: i32, level: i32, capture: u32): i32 {
  for (let r = 0; r < rangerCount; r++) {
    if (echo[r] != gpio) continue;
    const s = state[r];
    if (s == WAIT_RISE && level != 0) {
      rise[r] = capture;
      state[r] = WAIT_FALL;
    } else if (s == WAIT_FALL && level == 0) {
      state[r] = IDLE;
      lastSample = classify(capture - rise[r]);
      return r;
    } else if (level != 0) {
      spurious++; // a pulse nobody asked for (crosstalk, glitch)
    }
    return -1;
  }
  return -1;
}

/** The measurement timeout: ends a measurement that got no complete echo. Returns the sample, or 0
 *  when the measurement had already completed. */
export function onTimeout(r: i32): u16 {
  const s = state[r];
  if (s == WAIT_RISE) {
    state[r] = IDLE;
    noEcho++;
    return S_NO_ECHO;
  }
  if (s == WAIT_FALL) {
    // ECHO rose and is still high long after any echo or no-echo pulse would have ended.
    stuck++;
    powerOff(r);
    return S_FAULT;
  }
  return 0;
}

export function isBusy(r: i32): bool {
  return state[r] == WAIT_RISE || state[r] == WAIT_FALL;
}

function powerOff(r: i32): void {
  powerCycles++;
  state[r] = OFF;
  sensor_power(r, 0);
}

export function powerOn(r: i32): void {
  sensor_power(r, 1);
  state[r] = IDLE;
}

/** Start a power cycle on command from the high-level core. */
export function forcePowerCycle(r: i32): bool {
  if (r < 0 || r >= rangerCount || state[r] == OFF) return false;
  powerOff(r);
  return true;
}

export function isOff(r: i32): bool {
  return state[r] == OFF;
}

function classify(width: u32): u16 {
  if (width >= NO_ECHO_US) {
    noEcho++;
    return S_NO_ECHO;
  }
  if (width < MIN_ECHO_US) {
    spurious++;
    return S_SPURIOUS;
  }
  let mm: u32;
  if (mmPerUsRoundTrip == 0) {
    mm = (width * 10 + 29) / 58; // cm = us / 58, rounded to the nearest mm
  } else {
    mm = <u32>(<f32>width * mmPerUsRoundTrip + 0.5);
  }
  if (mm < MIN_MM || mm > MAX_MM) {
    outOfRange++;
    return S_OUT_OF_RANGE;
  }
  return <u16>mm;
}
