// The emulator's own TLS identity: a server CA and a server certificate for 127.0.0.1 / localhost,
// so that unmodified clients (the Azure IoT SDK for Node, MQTT.js, hlcore) verify the server the way
// they verify the real IoT Hub / DPS (azure-iot-protocols.md: "MQTT 3.1.1, TLS 1.2, port 8883").
// Clients trust it through `ca` or NODE_EXTRA_CA_CERTS=<caPath>.
//
// Files in <dir> (created once, reused after):
//   server-ca.pem      the CA certificate clients trust (public)
//   server.pem         server certificate followed by the CA (the chain the server presents)
//   server-ca.key, server.key   PKCS#8 PEM, mode 0600
//
// Dates: clients check the server certificate against the REAL clock, not the simulated one, so its
// validity cannot come from the simulated Clock. It is fixed (2000-01-01 .. 2099-12-31): no clock is read.
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EC_P256, exportPkcs8Pem, generateP256, px, toPem } from './x509.ts';

const NOT_BEFORE = Date.UTC(2000, 0, 1);
const NOT_AFTER = Date.UTC(2099, 11, 31, 23, 59, 59);

export interface ServerTls {
  /** path of the PEM CA certificate a client must trust */
  caPath: string;
  caPem: string;
  /** server certificate + CA, PEM */
  certPem: string;
  keyPem: string;
}

function writeFile(path: string, data: string, mode: number): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}

/** Loads the server TLS material from dir, creating it on first use. */
export async function ensureServerTls(dir: string): Promise<ServerTls> {
  const caPath = join(dir, 'server-ca.pem');
  const certPath = join(dir, 'server.pem');
  const keyPath = join(dir, 'server.key');
  if (!existsSync(caPath) || !existsSync(certPath) || !existsSync(keyPath)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const caKeys = await generateP256();
    const ca = await px.X509CertificateGenerator.createSelfSigned({
      serialNumber: '01',
      name: 'CN=Rover Cloud Emulator Server CA, O=Rover Cloud Emulator',
      notBefore: new Date(NOT_BEFORE),
      notAfter: new Date(NOT_AFTER),
      keys: caKeys,
      signingAlgorithm: EC_P256,
      extensions: [
        new px.BasicConstraintsExtension(true, 0, true),
        new px.KeyUsagesExtension(px.KeyUsageFlags.keyCertSign | px.KeyUsageFlags.cRLSign, true),
        await px.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
      ],
    });
    const keys = await generateP256();
    const cert = await px.X509CertificateGenerator.create({
      serialNumber: '02',
      subject: 'CN=localhost, O=Rover Cloud Emulator',
      issuer: ca.subject,
      notBefore: new Date(NOT_BEFORE),
      notAfter: new Date(NOT_AFTER),
      publicKey: keys.publicKey,
      signingKey: caKeys.privateKey,
      signingAlgorithm: EC_P256,
      extensions: [
        new px.BasicConstraintsExtension(false, undefined, true),
        new px.KeyUsagesExtension(px.KeyUsageFlags.digitalSignature, true),
        new px.ExtendedKeyUsageExtension([px.ExtendedKeyUsage.serverAuth]),
        // Loopback only: the emulator listens on 127.0.0.1 (clients may name it either way).
        new px.SubjectAlternativeNameExtension([
          { type: 'ip', value: '127.0.0.1' },
          { type: 'dns', value: 'localhost' },
        ]),
        await px.SubjectKeyIdentifierExtension.create(keys.publicKey),
        await px.AuthorityKeyIdentifierExtension.create(ca),
      ],
    });
    const caPem = toPem(new Uint8Array(ca.rawData));
    writeFile(join(dir, 'server-ca.key'), await exportPkcs8Pem(caKeys.privateKey), 0o600);
    writeFile(keyPath, await exportPkcs8Pem(keys.privateKey), 0o600);
    writeFile(certPath, toPem(new Uint8Array(cert.rawData)) + caPem, 0o644);
    writeFile(caPath, caPem, 0o644); // last: its presence means the set is complete
  }
  return { caPath, caPem: readFileSync(caPath, 'utf8'), certPem: readFileSync(certPath, 'utf8'), keyPem: readFileSync(keyPath, 'utf8') };
}
