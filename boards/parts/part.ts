// What a part model is given (Wokwi's chip API shape: pins, watches, timers on simulated time) and
// what the world must provide. Parts never read the wall clock and never import sim/.

/** The world around the board, as the simulator provides it. Times in simulated seconds. */
export interface Environment {
  /** Distance in metres from part `partId` to the nearest target, or null when nothing echoes. */
  distanceM(partId: string, t: number): number | null;
  temperatureC(t: number): number;
}

export interface PartPin {
  readonly name: string;
  read(): number;
  /** Drive the pin (0/1) or release it (null). */
  drive(v: number | null): void;
  watch(fn: (level: number) => void): void;
  /** True while the MCU drives this pin as an output. */
  mcuDriving(): boolean;
}

export interface PartContext {
  readonly id: string;
  readonly attrs: Record<string, unknown>;
  pin(name: string): PartPin;
  /** Simulated time now, in seconds and in core cycles. */
  seconds(): number;
  cycles(): number;
  /** Core clock, Hz (to turn cycles into time). */
  hz(): number;
  /** Run fn after `us` microseconds of simulated time; returns a cancel function. */
  after(us: number, fn: () => void): () => void;
  env: Environment;
  /** Seeded uniform random in [0, 1). */
  random(): number;
}

export type FaultKind = 'missed' | 'spurious' | 'stuck';

/** A measurement the part made, with the truth it was made from (for tests and reports). */
export interface Truth {
  part: string;
  /** trigger time (end of TRIG pulse), seconds */
  t: number;
  distanceM: number | null;
  temperatureC: number;
  /** ECHO high time produced, us (Infinity for stuck) */
  echoUs: number;
  kind: 'echo' | 'noEcho' | FaultKind;
}

export interface Part {
  readonly id: string;
  readonly type: string;
  /** Make the next `count` measurements fail this way ('stuck' holds until power is cycled). */
  inject(kind: FaultKind, count?: number): void;
  /** Probability per measurement of each fault (seeded), e.g. { missed: 0.01 }. */
  setFaultRates(rates: Partial<Record<FaultKind, number>>): void;
}
