// The network as hlcore sees it: a link that is up or down and opens TLS connections. A device or a
// host uses hlcore/host/tls-link.ts (node:tls); the simulator wraps it in sim/network.ts to take
// the link down (Wi-Fi lost, cable pulled) and cut every open connection at that moment.
import type { Duplex } from 'node:stream';

export interface TlsEndpoint {
  host: string;
  port: number;
  /** SNI and the name checked in the server certificate (default: host) */
  servername?: string;
  /** trust anchors for the server certificate (PEM); default the platform's */
  ca?: string | string[];
}

export interface ClientCredentials {
  /** PEM private key (never logged) */
  key: string;
  /** PEM chain to present: leaf first */
  cert: string;
}

export interface NetworkLink {
  /** False while there is no IP connectivity (Wi-Fi down): connections are not even tried. */
  readonly up: boolean;
  /**
   * A TLS 1.2+ connection with client-certificate authentication. Returned at once; failures arrive
   * as the stream's 'error' (with the system / OpenSSL error code) and 'close'.
   */
  connectTls(ep: TlsEndpoint, creds: ClientCredentials): Duplex;
}
