// A simulated IP link around a real one (hlcore/network.ts): while down, a connection attempt fails
// at once with ENETDOWN; taking it down destroys every connection opened through it, as a lost Wi-Fi
// association does. The simulator ties it to sim/wifi-ap.ts (SimulatedRadio.onLink).
import { Duplex, PassThrough } from 'node:stream';
import type { ClientCredentials, NetworkLink, TlsEndpoint } from '../hlcore/network.ts';

export class SimulatedNetwork implements NetworkLink {
  private isUp: boolean;
  private readonly open = new Set<Duplex>();
  readonly stats = { opened: 0, refusedDown: 0, cut: 0 };

  constructor(private readonly inner: NetworkLink, up = true) {
    this.isUp = up;
  }

  get up(): boolean {
    return this.isUp;
  }

  setUp(up: boolean): void {
    this.isUp = up;
    if (!up) {
      for (const s of [...this.open]) {
        this.stats.cut++;
        s.destroy(Object.assign(new Error('network link down'), { code: 'ENETDOWN' }));
      }
      this.open.clear();
    }
  }

  connectTls(ep: TlsEndpoint, creds: ClientCredentials): Duplex {
    if (!this.isUp) {
      this.stats.refusedDown++;
      const dead = new PassThrough();
      process.nextTick(() => dead.destroy(Object.assign(new Error('network link down'), { code: 'ENETDOWN' })));
      return dead;
    }
    const s = this.inner.connectTls(ep, creds);
    this.stats.opened++;
    this.open.add(s);
    s.once('close', () => this.open.delete(s));
    return s;
  }
}
