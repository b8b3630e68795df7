// Wi-Fi manager: a state machine over a radio it does not own (WifiRadio: the simulated one in
// sim/wifi-ap.ts, or the OS's wificonfig on a device). Pure logic on the injected Clock.
//
//   idle ──start()──> connecting(i) ──connected──> connected ──lost──> connecting(same network first)
//                         │ failed / timeout                                     
//                         ├──> connecting(i+1)      (next configured network, in priority order)
//                         └──> waiting ──backoff──> connecting(0)   (every network failed once)
//
// Why a reconnect with capped backoff and no give-up: azure-iot-protocols.md, "What users ...
// complain about" — C2D dead after a Wi-Fi drop (#148): the connection manager listens to this
// machine and reconnects the cloud session whenever it reaches `connected` again.
import type { Clock } from './clock.ts';
import { Backoff } from './backoff.ts';
import type { Random } from './random.ts';

export interface WifiNetwork {
  ssid: string;
  psk: string;
}

export type WifiRadioEvent =
  | { type: 'connected'; ssid: string }
  | { type: 'failed'; ssid: string; reason: string }
  | { type: 'lost'; ssid: string; reason: string };

/** The radio: starts an association and reports its outcome; never retries by itself. */
export interface WifiRadio {
  connect(network: WifiNetwork): void;
  disconnect(): void;
  onEvent: ((e: WifiRadioEvent) => void) | null;
}

export type WifiState = 'idle' | 'connecting' | 'connected' | 'waiting';

export interface WifiStatus {
  state: WifiState;
  ssid: string | null;
  lastFailure: string | null;
  attempts: number;
  connects: number;
  losses: number;
}

export interface WifiOptions {
  clock: Clock;
  random: Random;
  radio: WifiRadio;
  networks: WifiNetwork[];
  /** an association that has not answered by then counts as failed (default 20 s) */
  associateTimeoutMs?: number;
  /** wait after every configured network failed once: capped exponential (default 2 s .. 5 min) */
  backoffBaseMs?: number;
  backoffCapMs?: number;
}

export class WifiManager {
  private st: WifiStatus = { state: 'idle', ssid: null, lastFailure: null, attempts: 0, connects: 0, losses: 0 };
  private networks: WifiNetwork[];
  private index = 0;
  private cancelTimer: () => void = () => {};
  private readonly backoff: Backoff;
  private readonly listeners: ((s: WifiStatus) => void)[] = [];

  constructor(private readonly o: WifiOptions) {
    this.networks = [...o.networks];
    this.backoff = new Backoff({ baseMs: o.backoffBaseMs ?? 2000, capMs: o.backoffCapMs ?? 300_000, random: o.random });
    o.radio.onEvent = (e) => this.radioEvent(e);
  }

  get status(): WifiStatus {
    return { ...this.st };
  }

  get connected(): boolean {
    return this.st.state === 'connected';
  }

  onChange(fn: (s: WifiStatus) => void): void {
    this.listeners.push(fn);
  }

  /** Configured networks, in priority order. Changing them while idle or waiting takes effect at the next try. */
  setNetworks(networks: WifiNetwork[]): void {
    this.networks = [...networks];
    if (this.st.state === 'idle' && this.networks.length > 0 && this.started) this.tryNetwork(0);
  }

  private started = false;

  start(): void {
    this.started = true;
    if (this.st.state === 'idle' && this.networks.length > 0) this.tryNetwork(0);
  }

  stop(): void {
    this.started = false;
    this.cancelTimer();
    if (this.st.state === 'connected' || this.st.state === 'connecting') this.o.radio.disconnect();
    this.set({ state: 'idle', ssid: null });
  }

  private set(p: Partial<WifiStatus>): void {
    const before = this.st.state;
    this.st = { ...this.st, ...p };
    if (before !== this.st.state || p.ssid !== undefined) for (const l of this.listeners) l(this.status);
  }

  private tryNetwork(i: number): void {
    this.cancelTimer();
    if (this.networks.length === 0) {
      this.set({ state: 'idle', ssid: null });
      return;
    }
    this.index = i % this.networks.length;
    const n = this.networks[this.index];
    this.st.attempts++;
    this.set({ state: 'connecting', ssid: n.ssid });
    const deadline = this.o.clock.now() + (this.o.associateTimeoutMs ?? 20_000);
    this.cancelTimer = this.o.clock.at(deadline, () => {
      this.o.radio.disconnect();
      this.failed(n.ssid, 'association timed out');
    });
    this.o.radio.connect(n);
  }

  private failed(ssid: string, reason: string): void {
    this.cancelTimer();
    this.st.lastFailure = `${ssid}: ${reason}`;
    const nextIndex = this.index + 1;
    if (nextIndex < this.networks.length) {
      this.tryNetwork(nextIndex);
      return;
    }
    // Every configured network failed once: wait, then start again from the most preferred.
    const delay = this.backoff.next();
    this.set({ state: 'waiting', ssid: null });
    this.cancelTimer = this.o.clock.at(this.o.clock.now() + delay, () => this.tryNetwork(0));
  }

  private radioEvent(e: WifiRadioEvent): void {
    if (!this.started) return;
    const current = this.st.ssid;
    if (e.type === 'connected') {
      if (this.st.state !== 'connecting' || e.ssid !== current) return; // stale answer to an abandoned attempt
      this.cancelTimer();
      this.backoff.reset();
      this.st.connects++;
      this.set({ state: 'connected', ssid: e.ssid });
    } else if (e.type === 'failed') {
      if (this.st.state !== 'connecting' || e.ssid !== current) return;
      this.failed(e.ssid, e.reason);
    } else {
      if (this.st.state !== 'connected' || e.ssid !== current) return;
      this.st.losses++;
      this.st.lastFailure = `${e.ssid}: link lost (${e.reason})`;
      // Reconnect at once, to the network we just had first: a short drop is the common case.
      this.tryNetwork(this.index);
    }
  }

  /** Delay bounds of the round-robin backoff (for diagnostics and tests). */
  get backoffPolicy(): { baseMs: number; capMs: number } {
    return { baseMs: this.backoff.baseMs, capMs: this.backoff.capMs };
  }
}
