// Certificate helpers shared by the Security Service emulator and the relying party:
// encodings (PEM / DER / base64 detection), SHA-1 thumbprints, P-256 key handling, and the
// two hot paths that run thousands of times a second — reading a CSR / certificate and writing a
// device certificate — as a small DER reader/writer on node:crypto's synchronous primitives.
// Everything else (CA certificates, proofs, PKCS#7) goes through @peculiar/x509; on this machine
// its generic ASN.1 layer costs ~2 ms per certificate, which would cap issuance near 500/s.
import 'reflect-metadata';
import * as px from '@peculiar/x509';
import { createHash, createPrivateKey, createPublicKey, sign, verify, webcrypto, type KeyObject } from 'node:crypto';

px.cryptoProvider.set(webcrypto as unknown as Crypto);
export { px };

/** @peculiar/x509 view of DER bytes (copied: its types want a plain ArrayBuffer). */
export function pxCertificate(der: Uint8Array): px.X509Certificate {
  return new px.X509Certificate(new Uint8Array(der));
}

export const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/** Input that is not a well-formed certificate / CSR: the message is one line naming the problem. */
export class CertificateFormatError extends Error {}

// ---------------------------------------------------------------- encodings

const PEM_RE = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

/** Every PEM block of a given label in a text, as DER. */
export function pemBlocks(text: string, label = 'CERTIFICATE'): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const m of text.matchAll(PEM_RE)) {
    if (m[1] !== label) continue;
    const body = m[2].replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body)) throw new CertificateFormatError(`PEM ${label} block is not valid base64`);
    out.push(new Uint8Array(Buffer.from(body, 'base64')));
  }
  return out;
}

export function toPem(der: Uint8Array, label = 'CERTIFICATE'): string {
  const b64 = Buffer.from(der).toString('base64');
  return `-----BEGIN ${label}-----\n${b64.replace(/.{1,64}/g, '$&\n')}-----END ${label}-----\n`;
}

/**
 * One DER object from what an operator may hand us: raw DER bytes, PEM text (as bytes or a string),
 * or bare base64 DER (azure-iot-protocols.md: "Upload a CA certificate (PEM or base64 DER)").
 * Structure is checked later by the parser; here only the envelope.
 */
export function toDer(input: Uint8Array | string, label = 'CERTIFICATE'): Uint8Array {
  let text: string | null = typeof input === 'string' ? input : null;
  if (text === null) {
    const bytes = input as Uint8Array;
    if (bytes.length === 0) throw new CertificateFormatError('empty input');
    if (bytes[0] === 0x30) return bytes; // DER SEQUENCE
    text = Buffer.from(bytes).toString('latin1');
  }
  if (text.includes('-----BEGIN')) {
    const blocks = pemBlocks(text, label);
    if (blocks.length === 0) throw new CertificateFormatError(`no PEM ${label} block found`);
    return blocks[0];
  }
  const compact = text.replace(/\s+/g, '');
  if (compact.length === 0) throw new CertificateFormatError('empty input');
  if (/^[A-Za-z0-9+/]+={0,2}$/.test(compact)) {
    const der = new Uint8Array(Buffer.from(compact, 'base64'));
    if (der[0] === 0x30) return der;
  }
  throw new CertificateFormatError(`not a ${label.toLowerCase()}: neither DER, PEM nor base64 DER`);
}

/** Thumbprint as the operator tools print it: SHA-1 of the DER, upper-case hex (tenant-ca.md, "list"). */
export function thumbprint(der: Uint8Array): string {
  return createHash('sha1').update(der).digest('hex').toUpperCase();
}

export function normalizeThumbprint(t: string): string {
  return t.replace(/[:\s]/g, '').toUpperCase();
}

// ---------------------------------------------------------------- keys

export async function generateP256(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify'])) as CryptoKeyPair;
}

export async function exportPkcs8Pem(key: CryptoKey): Promise<string> {
  return toPem(new Uint8Array(await webcrypto.subtle.exportKey('pkcs8', key)), 'PRIVATE KEY');
}

export async function importPkcs8Pem(pem: string): Promise<{ crypto: CryptoKey; node: KeyObject }> {
  const der = pemBlocks(pem, 'PRIVATE KEY')[0];
  if (!der) throw new CertificateFormatError('no PRIVATE KEY block');
  const crypto = (await webcrypto.subtle.importKey('pkcs8', der, EC_P256, false, ['sign'])) as CryptoKey;
  return { crypto, node: createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' }) };
}

// ---------------------------------------------------------------- DER reader

interface Tlv {
  tag: number;
  start: number; // offset of the tag byte
  body: number; // offset of the contents
  end: number; // offset after the contents
}

function truncated(what: string): never {
  throw new CertificateFormatError(`truncated or malformed DER (${what})`);
}

function readTlv(b: Uint8Array, off: number, limit: number, what: string): Tlv {
  if (off + 2 > limit) truncated(what);
  const tag = b[off];
  if ((tag & 0x1f) === 0x1f) truncated(`${what}: multi-byte tag`);
  let len = b[off + 1];
  let body = off + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || body + n > limit) truncated(what);
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[body + i];
    body += n;
  }
  const end = body + len;
  if (end > limit) truncated(what);
  return { tag, start: off, body, end };
}

function children(b: Uint8Array, t: Tlv, what: string): Tlv[] {
  const out: Tlv[] = [];
  for (let off = t.body; off < t.end; ) {
    const c = readTlv(b, off, t.end, what);
    out.push(c);
    off = c.end;
  }
  return out;
}

function expectTag(t: Tlv | undefined, tag: number, what: string): Tlv {
  if (!t || t.tag !== tag) truncated(what);
  return t;
}

// DER-encoded OID bodies we look for (RFC 5280 / RFC 5758 numbers).
const OID = {
  commonName: '550403', // 2.5.4.3
  basicConstraints: '551d13', // 2.5.29.19
  extKeyUsage: '551d25', // 2.5.29.37
  subjectKeyId: '551d0e', // 2.5.29.14
  authorityKeyId: '551d23', // 2.5.29.35
  clientAuth: '2b06010505070302', // 1.3.6.1.5.5.7.3.2
  ecdsaSha256: '2a8648ce3d040302', // 1.2.840.10045.4.3.2
  ecdsaSha384: '2a8648ce3d040303',
  ecdsaSha512: '2a8648ce3d040304',
  rsaSha256: '2a864886f70d01010b', // 1.2.840.113549.1.1.11
  rsaSha384: '2a864886f70d01010c',
  rsaSha512: '2a864886f70d01010d',
} as const;

const SIG_HASH: Record<string, string> = {
  [OID.ecdsaSha256]: 'sha256',
  [OID.ecdsaSha384]: 'sha384',
  [OID.ecdsaSha512]: 'sha512',
  [OID.rsaSha256]: 'sha256',
  [OID.rsaSha384]: 'sha384',
  [OID.rsaSha512]: 'sha512',
};

const hex = (b: Uint8Array, t: Tlv) => Buffer.from(b.buffer, b.byteOffset + t.body, t.end - t.body).toString('hex');
const slice = (b: Uint8Array, t: Tlv) => b.subarray(t.start, t.end);

function sigAlgHash(b: Uint8Array, algSeq: Tlv, what: string): string {
  const oid = expectTag(children(b, algSeq, what)[0], 0x06, what);
  const h = SIG_HASH[hex(b, oid)];
  if (!h) throw new CertificateFormatError(`${what}: unsupported signature algorithm`);
  return h;
}

function bitStringBytes(b: Uint8Array, t: Tlv, what: string): Uint8Array {
  if (t.tag !== 0x03 || t.end - t.body < 1 || b[t.body] !== 0) truncated(what);
  return b.subarray(t.body + 1, t.end);
}

/** The common name of a DER Name (as found in CertFields.issuer / .subject), or null. */
export function commonNameOf(name: Uint8Array): string | null {
  return commonName(name, readTlv(name, 0, name.length, 'name'));
}

function commonName(b: Uint8Array, name: Tlv): string | null {
  for (const rdn of children(b, name, 'name')) {
    for (const atv of children(b, rdn, 'name')) {
      const [oid, value] = children(b, atv, 'name');
      if (oid?.tag === 0x06 && hex(b, oid) === OID.commonName && value) {
        const raw = Buffer.from(b.buffer, b.byteOffset + value.body, value.end - value.body);
        return value.tag === 0x1e ? raw.swap16().toString('utf16le') : raw.toString(value.tag === 0x0c ? 'utf8' : 'latin1');
      }
    }
  }
  return null;
}

function parseTime(b: Uint8Array, t: Tlv): number {
  const s = Buffer.from(b.buffer, b.byteOffset + t.body, t.end - t.body).toString('latin1');
  // RFC 5280 4.1.2.5: UTCTime YYMMDDHHMMSSZ (YY >= 50 means 19YY), GeneralizedTime YYYYMMDDHHMMSSZ.
  const m = t.tag === 0x17 ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s) : t.tag === 0x18 ? /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s) : null;
  if (!m) truncated('validity');
  let y = Number(m[1]);
  if (t.tag === 0x17) y += y >= 50 ? 1900 : 2000;
  return Date.UTC(y, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
}

/** The fields admission and issuance need, read straight from DER. */
export interface CertFields {
  der: Uint8Array;
  tbs: Uint8Array;
  hash: string; // digest of the signature algorithm, for crypto.verify
  signature: Uint8Array;
  issuer: Uint8Array; // DER Name
  subject: Uint8Array; // DER Name
  commonName: string | null;
  notBefore: number;
  notAfter: number;
  spki: Uint8Array;
  isCA: boolean;
  clientAuth: boolean;
  subjectKeyId: string | null; // hex
  authorityKeyId: string | null; // hex
}

export function readCertificate(der: Uint8Array): CertFields {
  const top = readTlv(der, 0, der.length, 'certificate');
  if (top.tag !== 0x30 || top.end !== der.length) truncated('certificate');
  const [tbsT, algT, sigT] = children(der, top, 'certificate');
  expectTag(tbsT, 0x30, 'tbsCertificate');
  expectTag(algT, 0x30, 'signatureAlgorithm');
  const f = children(der, tbsT, 'tbsCertificate');
  let i = f[0]?.tag === 0xa0 ? 1 : 0; // [0] EXPLICIT version
  i++; // serialNumber
  i++; // signature (inner AlgorithmIdentifier)
  const issuer = expectTag(f[i++], 0x30, 'issuer');
  const validity = children(der, expectTag(f[i++], 0x30, 'validity'), 'validity');
  const subject = expectTag(f[i++], 0x30, 'subject');
  const spki = expectTag(f[i++], 0x30, 'subjectPublicKeyInfo');
  let isCA = false;
  let clientAuth = false;
  let subjectKeyId: string | null = null;
  let authorityKeyId: string | null = null;
  for (; i < f.length; i++) {
    if (f[i].tag !== 0xa3) continue;
    const exts = children(der, expectTag(children(der, f[i], 'extensions')[0], 0x30, 'extensions'), 'extensions');
    for (const e of exts) {
      const parts = children(der, e, 'extension');
      const oid = hex(der, expectTag(parts[0], 0x06, 'extension'));
      const value = expectTag(parts[parts.length - 1], 0x04, 'extension');
      const inner = readTlv(der, value.body, value.end, 'extension value');
      if (oid === OID.basicConstraints) {
        const bc = children(der, inner, 'basicConstraints');
        isCA = bc[0]?.tag === 0x01 && der[bc[0].body] !== 0;
      } else if (oid === OID.extKeyUsage) {
        clientAuth = children(der, inner, 'extKeyUsage').some((o) => o.tag === 0x06 && hex(der, o) === OID.clientAuth);
      } else if (oid === OID.subjectKeyId && inner.tag === 0x04) {
        subjectKeyId = hex(der, inner);
      } else if (oid === OID.authorityKeyId) {
        const k = children(der, inner, 'authorityKeyId').find((c) => c.tag === 0x80);
        if (k) authorityKeyId = hex(der, k);
      }
    }
  }
  return {
    der,
    tbs: slice(der, tbsT),
    hash: sigAlgHash(der, algT, 'certificate'),
    signature: bitStringBytes(der, expectTag(sigT, 0x03, 'signature'), 'signature'),
    issuer: slice(der, issuer),
    subject: slice(der, subject),
    commonName: commonName(der, subject),
    notBefore: parseTime(der, validity[0] ?? truncated('validity')),
    notAfter: parseTime(der, validity[1] ?? truncated('validity')),
    spki: slice(der, spki),
    isCA,
    clientAuth,
    subjectKeyId,
    authorityKeyId,
  };
}

/** A PKCS#10 request (RFC 2986), read far enough to check it and to issue from it. */
export interface CsrFields {
  commonName: string | null;
  spki: Uint8Array;
  /** true when the request's signature verifies with its own public key: the requester holds the key. */
  signatureValid: boolean;
}

export function readCsr(input: Uint8Array | string): CsrFields {
  const der = toDer(input, 'CERTIFICATE REQUEST');
  const top = readTlv(der, 0, der.length, 'certificate request');
  if (top.tag !== 0x30 || top.end !== der.length) truncated('certificate request');
  const [criT, algT, sigT] = children(der, top, 'certificate request');
  const cri = children(der, expectTag(criT, 0x30, 'certificationRequestInfo'), 'certificationRequestInfo');
  const subject = expectTag(cri[1], 0x30, 'subject');
  const spki = slice(der, expectTag(cri[2], 0x30, 'subjectPKInfo'));
  const hash = sigAlgHash(der, expectTag(algT, 0x30, 'signatureAlgorithm'), 'certificate request');
  const signature = bitStringBytes(der, expectTag(sigT, 0x03, 'signature'), 'signature');
  let key: KeyObject;
  try {
    key = publicKeyFromSpki(spki);
  } catch {
    throw new CertificateFormatError('certificate request: unreadable public key');
  }
  return { commonName: commonName(der, subject), spki, signatureValid: verify(hash, slice(der, criT), key, signature) };
}

// id-ecPublicKey with prime256v1 (RFC 5480), as the fixed 26-byte SPKI prefix of an uncompressed point.
const P256_SPKI_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex');

/**
 * A public key object from a DER SubjectPublicKeyInfo. P-256 keys (every device key here) go through
 * JWK coordinates: OpenSSL 3's generic DER decoder costs ~2x as much, and issuance pays it per CSR.
 */
export function publicKeyFromSpki(spki: Uint8Array): KeyObject {
  if (spki.length === 91 && spki[26] === 0x04 && Buffer.compare(spki.subarray(0, 26), P256_SPKI_PREFIX) === 0) {
    const x = Buffer.from(spki.buffer, spki.byteOffset + 27, 32).toString('base64url');
    const y = Buffer.from(spki.buffer, spki.byteOffset + 59, 32).toString('base64url');
    return createPublicKey({ key: { kty: 'EC', crv: 'P-256', x, y }, format: 'jwk' });
  }
  return createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
}

// ---------------------------------------------------------------- DER writer (device certificates)

function derLen(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  if (n < 0x100) return Buffer.from([0x81, n]);
  if (n < 0x10000) return Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.from([0x83, n >> 16, (n >> 8) & 0xff, n & 0xff]);
}

function tlv(tag: number, ...parts: Uint8Array[]): Buffer {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([tag]), derLen(body.length), body]);
}

const seq = (...p: Uint8Array[]) => tlv(0x30, ...p);
const h = (s: string) => Buffer.from(s, 'hex');

function derTime(ms: number): Buffer {
  // RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050.
  const iso = new Date(ms).toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const s = iso.slice(0, 4) + iso.slice(5, 7) + iso.slice(8, 10) + iso.slice(11, 13) + iso.slice(14, 16) + iso.slice(17, 19) + 'Z';
  const y = new Date(ms).getUTCFullYear();
  return y < 2050 ? tlv(0x17, Buffer.from(s.slice(2), 'latin1')) : tlv(0x18, Buffer.from(s, 'latin1'));
}

const ALG_ECDSA_SHA256 = seq(tlv(0x06, h(OID.ecdsaSha256)));
const EXT_DEVICE_FIXED = Buffer.concat([
  // basicConstraints, critical, cA FALSE (empty SEQUENCE)
  seq(tlv(0x06, h(OID.basicConstraints)), h('0101ff'), tlv(0x04, seq())),
  // keyUsage, critical, digitalSignature (bit 0)
  seq(tlv(0x06, h('551d0f')), h('0101ff'), tlv(0x04, h('03020780'))),
  // extKeyUsage clientAuth (tenant-ca.md: "client-authentication EKU")
  seq(tlv(0x06, h(OID.extKeyUsage)), tlv(0x04, seq(tlv(0x06, h(OID.clientAuth))))),
]);

export interface DeviceCertParams {
  serial: Uint8Array; // positive, minimal (first byte 0x01..0x7f)
  issuer: Uint8Array; // DER Name of the issuing CA
  issuerKeyId: string; // hex SKI of the issuing CA
  commonName: string;
  notBefore: number;
  notAfter: number;
  spki: Uint8Array;
  signingKey: KeyObject; // P-256 private key of the issuing CA
}

/** An end-entity client certificate (X.509 v3, ecdsa-with-SHA256), DER. */
export function writeDeviceCertificate(p: DeviceCertParams): Uint8Array {
  const keyBits = readTlv(p.spki, 0, p.spki.length, 'spki');
  const bits = children(p.spki, keyBits, 'spki')[1];
  const ski = createHash('sha1').update(p.spki.subarray(bits.body + 1, bits.end)).digest(); // RFC 5280 4.2.1.2 method (1)
  const tbs = seq(
    h('a003020102'), // version v3
    tlv(0x02, p.serial),
    ALG_ECDSA_SHA256,
    p.issuer,
    seq(derTime(p.notBefore), derTime(p.notAfter)),
    seq(tlv(0x31, seq(tlv(0x06, h(OID.commonName)), tlv(0x0c, Buffer.from(p.commonName, 'utf8'))))),
    p.spki,
    tlv(
      0xa3,
      seq(
        EXT_DEVICE_FIXED,
        seq(tlv(0x06, h(OID.subjectKeyId)), tlv(0x04, tlv(0x04, ski))),
        seq(tlv(0x06, h(OID.authorityKeyId)), tlv(0x04, seq(tlv(0x80, h(p.issuerKeyId))))),
      ),
    ),
  );
  const sig = sign('sha256', tbs, p.signingKey);
  return new Uint8Array(seq(tbs, ALG_ECDSA_SHA256, tlv(0x03, Buffer.from([0]), sig)));
}
