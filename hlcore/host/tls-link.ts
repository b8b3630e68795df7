// The real network link on a host or device: node:tls. `up` is true: the OS reports reachability by
// failing connections (ENETUNREACH, ENETDOWN), which hlcore classifies as network-down.
import { connect, type ConnectionOptions } from 'node:tls';
import type { Duplex } from 'node:stream';
import { isIP } from 'node:net';
import type { ClientCredentials, NetworkLink, TlsEndpoint } from '../network.ts';

export class TlsNetworkLink implements NetworkLink {
  readonly up = true;

  connectTls(ep: TlsEndpoint, creds: ClientCredentials): Duplex {
    const name = ep.servername ?? ep.host;
    const o: ConnectionOptions = {
      host: ep.host,
      port: ep.port,
      key: creds.key,
      cert: creds.cert,
      ca: ep.ca,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2', // azure-iot-protocols.md: "TLS 1.2"
    };
    if (!isIP(name)) o.servername = name; // SNI may not carry an IP address (RFC 6066, 3)
    return connect(o);
  }
}
