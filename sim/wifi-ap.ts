// Simulated access points and the radio that associates with them, for hlcore's WifiManager
// (hlcore/wifi.ts, interface WifiRadio). Everything happens on the simulated Clock: an association
// takes `associateMs`; an access point can be switched off (its stations get `lost`) and on again.
import type { Clock } from '../hlcore/clock.ts';
import type { WifiNetwork, WifiRadio, WifiRadioEvent } from '../hlcore/wifi.ts';

export class SimulatedAccessPoint {
  up = true;
  readonly stations = new Set<SimulatedRadio>();
  constructor(readonly ssid: string, readonly psk: string) {}

  /** Switch the access point off: every associated station loses its link. */
  down(reason = 'access point off'): void {
    this.up = false;
    for (const s of [...this.stations]) s.lose(this, reason);
  }

  restore(): void {
    this.up = true;
  }
}

export class SimulatedRadio implements WifiRadio {
  onEvent: ((e: WifiRadioEvent) => void) | null = null;
  private ap: SimulatedAccessPoint | null = null;
  private pending: (() => void) | null = null;
  readonly log: string[] = [];
  /** Called whenever the link goes up or down (sim/network.ts follows it). */
  onLink: ((up: boolean) => void) | null = null;

  constructor(
    private readonly clock: Clock,
    private readonly aps: SimulatedAccessPoint[],
    private readonly associateMs = 1500,
  ) {}

  get associated(): SimulatedAccessPoint | null {
    return this.ap;
  }

  connect(n: WifiNetwork): void {
    this.disconnect();
    this.log.push(`connect ${n.ssid}`);
    this.pending = this.clock.at(this.clock.now() + this.associateMs, () => {
      this.pending = null;
      const ap = this.aps.find((a) => a.ssid === n.ssid && a.up);
      if (!ap) return this.emit({ type: 'failed', ssid: n.ssid, reason: 'network not found' });
      if (ap.psk !== n.psk) return this.emit({ type: 'failed', ssid: n.ssid, reason: '4-way handshake failed (wrong key)' });
      this.ap = ap;
      ap.stations.add(this);
      this.onLink?.(true);
      this.emit({ type: 'connected', ssid: ap.ssid });
    });
  }

  disconnect(): void {
    this.pending?.();
    this.pending = null;
    if (this.ap) {
      this.ap.stations.delete(this);
      this.ap = null;
      this.onLink?.(false);
    }
  }

  /** Called by the access point. */
  lose(ap: SimulatedAccessPoint, reason: string): void {
    if (this.ap !== ap) return;
    ap.stations.delete(this);
    this.ap = null;
    this.onLink?.(false);
    this.emit({ type: 'lost', ssid: ap.ssid, reason });
  }

  private emit(e: WifiRadioEvent): void {
    this.log.push(`${e.type} ${e.ssid}`);
    this.onEvent?.(e);
  }
}
