// Device identity: an ECDSA P-256 key pair made on first boot and kept in the SecureStore (it never
// leaves the device and is never logged), a PKCS#10 CSR (@peculiar/x509), and a 24-hour device
// certificate with its chain from the Security Service (tenant-ca.md, "Chain"), renewed well before
// it expires: at 2/3 of its life (16 h of 24 h), at boot when past that point, and after an auth
// refusal (a tenant CA rollover: the new certificate may come from a CA the relying party knows).
import 'reflect-metadata';
import * as px from '@peculiar/x509';
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, webcrypto, X509Certificate } from 'node:crypto';
import type { Clock } from './clock.ts';
import type { SecureStore } from './secure-store.ts';

px.cryptoProvider.set(webcrypto as unknown as Crypto);

/** What the Security Service hands back: the leaf and its chain (issuing tenant CA first), DER. */
export interface IssuedCertificate {
  certificate: Uint8Array;
  chain: Uint8Array[];
}

/** The Security Service as the device sees it (the simulator: sim/cloud/security-service.ts). */
export interface CertificateAuthorityClient {
  issue(csrDer: Uint8Array, deviceId: string): Promise<IssuedCertificate>;
}

export interface CertificateInfo {
  subjectCn: string;
  /** issuing CA common name and SHA-1 thumbprint (upper-case hex, as tenant-ca.md "list" prints it) */
  issuer: string;
  issuerThumbprint: string;
  notBefore: number;
  notAfter: number;
  renewAt: number;
}

export interface IdentityOptions {
  store: SecureStore;
  ca: CertificateAuthorityClient;
  clock: Clock;
  deviceId: string;
  /** renew at this fraction of the certificate's life (default 2/3) */
  renewFraction?: number;
  /** after an auth refusal, renew at most this often (default 10 min): a refusal storm must not flood the CA */
  refusalRenewIntervalMs?: number;
}

const KEY = 'device-key.p8';
const CERT = 'device-cert.der';
const CHAIN = 'device-chain.der';

export class DeviceIdentity {
  private keyPem: string | null = null;
  private cert: { der: Uint8Array; chain: Uint8Array[]; info: CertificateInfo } | null = null;
  private lastIssueAt = -Infinity;
  private inflight: Promise<CertificateInfo> | null = null;
  renewals = 0;
  lastError: string | null = null;

  constructor(private readonly o: IdentityOptions) {
    if (!/^[a-z0-9-]{1,128}$/i.test(o.deviceId)) throw new Error(`device ID must be 1-128 of a-z 0-9 -, got '${o.deviceId.slice(0, 80)}'`);
  }

  /** True while a certificate request is in flight. */
  get busy(): boolean {
    return this.inflight !== null;
  }

  get deviceId(): string {
    return this.o.deviceId;
  }

  /** Loads the key (making it on first boot) and any stored certificate. */
  async init(): Promise<void> {
    let p8 = await this.o.store.get(KEY);
    if (!p8) {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      p8 = new Uint8Array(privateKey.export({ format: 'der', type: 'pkcs8' }));
      await this.o.store.put(KEY, p8);
    }
    this.keyPem = createPrivateKey({ key: Buffer.from(p8), format: 'der', type: 'pkcs8' }).export({ format: 'pem', type: 'pkcs8' }) as string;
    const der = await this.o.store.get(CERT);
    const chain = await this.o.store.get(CHAIN);
    if (der) {
      try {
        this.cert = { der, chain: chain ? splitDer(chain) : [], info: this.describe(der, chain ? splitDer(chain) : []) };
      } catch {
        this.cert = null; // unreadable: issue a new one
      }
    }
  }

  info(): CertificateInfo | null {
    return this.cert ? { ...this.cert.info } : null;
  }

  /** A CSR for CN = device ID, signed with the device key (PKCS#10, DER). */
  async csr(): Promise<Uint8Array> {
    const p8 = await this.o.store.get(KEY);
    if (!p8) throw new Error('identity not initialised: call init() first');
    const alg = { name: 'ECDSA', namedCurve: 'P-256' };
    const privateKey = await webcrypto.subtle.importKey('pkcs8', p8, alg, false, ['sign']);
    const spki = createPublicKey(createPrivateKey({ key: Buffer.from(p8), format: 'der', type: 'pkcs8' })).export({ format: 'der', type: 'spki' });
    const publicKey = await webcrypto.subtle.importKey('spki', spki, alg, true, ['verify']);
    const req = await px.Pkcs10CertificateRequestGenerator.create({
      name: `CN=${this.o.deviceId}`,
      keys: { privateKey, publicKey } as CryptoKeyPair,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } as EcdsaParams,
    });
    return new Uint8Array(req.rawData);
  }

  /** True when there is no usable certificate, or it is past its renewal point. */
  needsRenewal(at = this.o.clock.now()): boolean {
    return !this.cert || at >= this.cert.info.renewAt;
  }

  /** A valid certificate: the stored one, or a new one when it is missing or due. */
  async ensureCertificate(): Promise<CertificateInfo> {
    if (!this.needsRenewal()) return this.cert!.info;
    return this.renew();
  }

  /** Asks the Security Service for a new certificate now (one request at a time). */
  renew(): Promise<CertificateInfo> {
    this.inflight ??= this.issue().finally(() => {
      this.inflight = null;
    });
    return this.inflight;
  }

  /**
   * After the relying party refused the certificate: renew, unless one was issued within the last
   * refusalRenewIntervalMs. Resolves true when a new certificate was obtained.
   */
  async renewAfterRefusal(): Promise<boolean> {
    const gap = this.o.refusalRenewIntervalMs ?? 600_000;
    if (this.o.clock.now() - this.lastIssueAt < gap) return false;
    await this.renew();
    return true;
  }

  private async issue(): Promise<CertificateInfo> {
    this.lastIssueAt = this.o.clock.now();
    try {
      const got = await this.o.ca.issue(await this.csr(), this.o.deviceId);
      const info = this.describe(got.certificate, got.chain);
      if (info.subjectCn !== this.o.deviceId) throw new Error(`issued certificate names CN '${info.subjectCn}', not the device ID`);
      await this.o.store.put(CERT, got.certificate);
      await this.o.store.put(CHAIN, concat(got.chain));
      this.cert = { der: got.certificate, chain: got.chain, info };
      this.renewals++;
      this.lastError = null;
      return info;
    } catch (e) {
      this.lastError = (e as Error).message;
      throw e;
    }
  }

  private describe(der: Uint8Array, chain: Uint8Array[]): CertificateInfo {
    const leaf = new X509Certificate(der);
    const notBefore = Date.parse(leaf.validFrom);
    const notAfter = Date.parse(leaf.validTo);
    const frac = this.o.renewFraction ?? 2 / 3;
    const issuerDer = chain.find((c) => new X509Certificate(c).subject === leaf.issuer);
    return {
      subjectCn: cn(leaf.subject),
      issuer: cn(leaf.issuer),
      // The issuer's thumbprint from the chain the Security Service handed us (SHA-1 of its DER).
      issuerThumbprint: issuerDer ? createHash('sha1').update(issuerDer).digest('hex').toUpperCase() : '',
      notBefore,
      notAfter,
      renewAt: Math.round(notBefore + frac * (notAfter - notBefore)),
    };
  }

  /**
   * TLS client credentials: the key and the chain to present (leaf + intermediates, without the
   * self-signed root: azure-iot-protocols.md, "Device admission"). PEM, in memory only.
   */
  tlsCredentials(): { key: string; cert: string } {
    if (!this.keyPem || !this.cert) throw new Error('no device certificate yet: ensureCertificate() first');
    const intermediates = this.cert.chain.filter((c) => {
      const x = new X509Certificate(c);
      return x.subject !== x.issuer;
    });
    return { key: this.keyPem, cert: [this.cert.der, ...intermediates].map((d) => pem(d)).join('') };
  }

  /** The chain as DER (leaf first, as presented), for diagnostics and tests. */
  presentedChain(): Uint8Array[] {
    if (!this.cert) return [];
    return [this.cert.der, ...this.cert.chain];
  }
}

function cn(dn: string): string {
  return /(?:^|\n|,\s*)CN=([^\n,]+)/.exec(dn)?.[1] ?? dn;
}

export function pem(der: Uint8Array, label = 'CERTIFICATE'): string {
  return `-----BEGIN ${label}-----\n${Buffer.from(der).toString('base64').replace(/.{1,64}/g, '$&\n')}-----END ${label}-----\n`;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Concatenated DER objects -> one array each (top-level SEQUENCE lengths). */
export function splitDer(b: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let off = 0; off < b.length; ) {
    let len = b[off + 1];
    let hdr = 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + b[off + 2 + i];
      hdr += n;
    }
    out.push(b.subarray(off, off + hdr + len));
    off += hdr + len;
  }
  return out;
}
