// The relying party's side of X.509 CA trust (IoT Hub / DPS / IoT Central): the CA registry with
// proof of possession, enrollment groups with primary and secondary slots, and admit(), the one
// decision taken on every device connection. Rules: /work/shared/reference/azure-iot-protocols.md,
// "X.509 CA registration and proof of possession".
//
// State: <dir>/registry.json (certificates, statuses, etags, groups), written atomically, mode 0600.
// admit() runs on every TLS connection of the MQTT emulator: registered CAs are parsed once with
// their public keys; presented certificates are parsed and their signatures checked once per distinct
// DER (a device presents the same 24-hour certificate on every reconnect), then only the cheap,
// time-dependent rules are re-evaluated.
import { randomBytes, verify, X509Certificate as NodeX509, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock } from './clock.ts';
import { CertificateFormatError, commonNameOf, pemBlocks, publicKeyFromSpki, readCertificate, thumbprint as sha1Thumbprint, normalizeThumbprint, toDer, toPem, type CertFields } from './x509.ts';

export type RegistrationStatus = 'Unverified' | 'Verified';
export type Slot = 'primary' | 'secondary';
export const SLOTS: readonly Slot[] = ['primary', 'secondary'];

/** A refused registry operation; `message` is one line saying why. Nothing was changed. */
export class RelyingPartyError extends Error {
  constructor(
    readonly code: 'bad-certificate' | 'not-ca' | 'expired' | 'exists' | 'not-found' | 'stale-etag' | 'no-code' | 'bad-proof' | 'unverified' | 'slot-taken' | 'bad-request',
    message: string,
  ) {
    super(message);
  }
}

export interface CaRegistration {
  thumbprint: string;
  subject: string;
  notBefore: number;
  notAfter: number;
  status: RegistrationStatus;
  etag: string;
  /** where this CA sits in enrollment groups */
  slots: { group: string; slot: Slot; enabled: boolean }[];
}

export interface EnrollmentGroup {
  name: string;
  enabled: boolean;
  primary: string | null;
  secondary: string | null;
}

export type AdmitResult = { ok: true; group: string; issuerThumbprint: string } | { ok: false; reason: string };

/** A presented chain: leaf first. DER bytes (one or several concatenated), PEM text, or certificate objects. */
export type ChainInput = string | Uint8Array | Array<Uint8Array | { rawData: ArrayBuffer } | { raw: Uint8Array }>;

interface RegRecord {
  thumbprint: string;
  certPem: string;
  status: RegistrationStatus;
  etag: string;
  verificationCode: string | null;
}

interface RegistryState {
  version: 1;
  etagCounter: number;
  cas: RegRecord[];
  groups: EnrollmentGroup[];
}

interface CachedCa {
  rec: RegRecord;
  f: CertFields;
  key: KeyObject;
  subject: string; // full subject, for listings
}

/** A certificate a device presented, parsed once; its signature checks are remembered per issuer key. */
class Presented {
  key?: KeyObject; // when it acts as an issuer further up the chain
  readonly verifiedBy = new Map<KeyObject, boolean>();
  private tp?: string;
  constructor(readonly f: CertFields) {}
  /** Only messages need it: computed on demand, off the hot path. */
  get thumbprint(): string {
    return (this.tp ??= sha1Thumbprint(this.f.der));
  }
}

const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');
const latin1 = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
const PRESENTED_CACHE_SIZE = 8192;

export class RelyingParty {
  private state: RegistryState;
  private byThumb = new Map<string, CachedCa>();
  private bySubject = new Map<string, CachedCa[]>();
  private presented = new Map<string, Presented>();
  private readonly file: string;
  private readonly random: (n: number) => Uint8Array;

  private constructor(
    readonly dir: string,
    private readonly clock: Clock,
    random?: (n: number) => Uint8Array,
  ) {
    this.file = join(dir, 'registry.json');
    this.random = random ?? ((n) => randomBytes(n));
    this.state = existsSync(this.file) ? (JSON.parse(readFileSync(this.file, 'utf8')) as RegistryState) : { version: 1, etagCounter: 0, cas: [], groups: [] };
    this.reindex();
  }

  /** Opens (or starts empty) the registry in dir; nothing is written until the first change. */
  static open(dir: string, opts: { clock: Clock; random?: (n: number) => Uint8Array }): RelyingParty {
    return new RelyingParty(dir, opts.clock, opts.random);
  }

  private reindex(): void {
    this.byThumb.clear();
    this.bySubject.clear();
    for (const rec of this.state.cas) {
      const der = pemBlocks(rec.certPem)[0];
      const f = readCertificate(der);
      const c: CachedCa = {
        rec,
        f,
        key: publicKeyFromSpki(f.spki),
        subject: new NodeX509(der).subject.replace(/\n/g, ', '),
      };
      this.byThumb.set(rec.thumbprint, c);
      const k = latin1(f.subject);
      this.bySubject.set(k, [...(this.bySubject.get(k) ?? []), c]);
    }
  }

  /** Applies a change to a copy of the state, persists it, then adopts it: a refused change leaves no trace. */
  private commit(change: (s: RegistryState) => void): void {
    const next = structuredClone(this.state);
    change(next);
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify(next, null, 1) + '\n', { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, this.file);
    this.state = next;
    this.reindex();
  }

  private nextEtag(s: RegistryState): string {
    s.etagCounter += 1;
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(s.etagCounter));
    return b.toString('base64');
  }

  private get(thumbprint: string): CachedCa {
    const t = normalizeThumbprint(thumbprint);
    const c = this.byThumb.get(t);
    if (!c) throw new RelyingPartyError('not-found', `no CA with thumbprint ${t} is registered`);
    return c;
  }

  private view(c: CachedCa): CaRegistration {
    const slots: CaRegistration['slots'] = [];
    for (const g of this.state.groups) for (const s of SLOTS) if (g[s] === c.rec.thumbprint) slots.push({ group: g.name, slot: s, enabled: g.enabled });
    return {
      thumbprint: c.rec.thumbprint,
      subject: c.subject,
      notBefore: c.f.notBefore,
      notAfter: c.f.notAfter,
      status: c.rec.status,
      etag: c.rec.etag,
      slots,
    };
  }

  // ------------------------------------------------ CA registry

  registrations(): CaRegistration[] {
    return [...this.byThumb.values()].map((c) => this.view(c));
  }

  registration(thumbprint: string): CaRegistration | null {
    const c = this.byThumb.get(normalizeThumbprint(thumbprint));
    return c ? this.view(c) : null;
  }

  /** Upload a CA certificate (PEM, DER or base64 DER) -> Unverified. */
  upload(input: Uint8Array | string, opts: { at?: number } = {}): CaRegistration {
    const at = opts.at ?? this.clock.now();
    let der: Uint8Array;
    let f: CertFields;
    let nx: NodeX509;
    try {
      der = toDer(input);
      nx = new NodeX509(Buffer.from(der)); // OpenSSL's full parse: rejects what our reader might tolerate
      f = readCertificate(der);
    } catch (e) {
      const why = e instanceof CertificateFormatError ? e.message : 'not a parsable X.509 certificate (truncated or corrupt DER)';
      throw new RelyingPartyError('bad-certificate', `bad certificate: ${why}`);
    }
    const name = nx.subject.replace(/\n/g, ', ');
    if (!nx.ca || !f.isCA) throw new RelyingPartyError('not-ca', `certificate '${name}' is not a CA (basicConstraints cA is not true)`);
    if (f.notAfter <= at) throw new RelyingPartyError('expired', `certificate '${name}' expired on ${iso(f.notAfter)}`);
    const thumb = sha1Thumbprint(der);
    const existing = this.byThumb.get(thumb);
    if (existing) throw new RelyingPartyError('exists', `CA ${thumb} is already registered (${existing.rec.status})`);
    this.commit((s) => {
      s.cas.push({ thumbprint: thumb, certPem: toPem(der), status: 'Unverified', etag: this.nextEtag(s), verificationCode: null });
    });
    return this.view(this.get(thumb));
  }

  private checkEtag(c: CachedCa, etag: string): void {
    if (etag !== c.rec.etag) throw new RelyingPartyError('stale-etag', `etag '${etag}' is stale for CA ${c.rec.thumbprint} (current '${c.rec.etag}'): read it again`);
  }

  /** A fresh verification code (40 hex digits) for an Unverified CA; the etag changes. */
  generateVerificationCode(thumbprint: string, etag: string): { code: string; etag: string } {
    const c = this.get(thumbprint);
    this.checkEtag(c, etag);
    if (c.rec.status === 'Verified') throw new RelyingPartyError('bad-request', `CA ${c.rec.thumbprint} is already verified`);
    const code = Buffer.from(this.random(20)).toString('hex').toUpperCase();
    let newEtag = '';
    this.commit((s) => {
      const r = s.cas.find((x) => x.thumbprint === c.rec.thumbprint)!;
      r.verificationCode = code;
      r.etag = newEtag = this.nextEtag(s);
    });
    return { code, etag: newEtag };
  }

  /**
   * Proof of possession: `proof` must have subject CN = the current verification code, be signed by
   * the CA's private key, and be valid at `at`. Then the CA is Verified.
   */
  verify(thumbprint: string, etag: string, proof: Uint8Array | string, opts: { at?: number } = {}): CaRegistration {
    const at = opts.at ?? this.clock.now();
    const c = this.get(thumbprint);
    this.checkEtag(c, etag);
    if (c.rec.status === 'Verified') throw new RelyingPartyError('bad-request', `CA ${c.rec.thumbprint} is already verified`);
    const code = c.rec.verificationCode;
    if (!code) throw new RelyingPartyError('no-code', `no verification code was generated for CA ${c.rec.thumbprint}`);
    let p: CertFields;
    try {
      p = readCertificate(toDer(proof));
    } catch (e) {
      throw new RelyingPartyError('bad-proof', `bad proof certificate: ${e instanceof CertificateFormatError ? e.message : (e as Error).message}`);
    }
    if (p.commonName !== code) throw new RelyingPartyError('bad-proof', `proof subject CN '${p.commonName ?? ''}' is not the verification code`);
    if (!verify(p.hash, p.tbs, c.key, p.signature)) throw new RelyingPartyError('bad-proof', `proof is not signed by the private key of CA ${c.rec.thumbprint}`);
    if (at < p.notBefore) throw new RelyingPartyError('bad-proof', `proof is not valid before ${iso(p.notBefore)}`);
    if (at > p.notAfter) throw new RelyingPartyError('bad-proof', `proof expired on ${iso(p.notAfter)}`);
    this.commit((s) => {
      const r = s.cas.find((x) => x.thumbprint === c.rec.thumbprint)!;
      r.status = 'Verified';
      r.verificationCode = null;
      r.etag = this.nextEtag(s);
    });
    return this.view(this.get(c.rec.thumbprint));
  }

  /** Deletes a registration and empties the slots that held it. */
  remove(thumbprint: string): void {
    const c = this.get(thumbprint);
    this.commit((s) => {
      s.cas = s.cas.filter((x) => x.thumbprint !== c.rec.thumbprint);
      for (const g of s.groups) for (const sl of SLOTS) if (g[sl] === c.rec.thumbprint) g[sl] = null;
    });
  }

  // ------------------------------------------------ enrollment groups

  groups(): EnrollmentGroup[] {
    return this.state.groups.map((g) => ({ ...g }));
  }

  group(name: string): EnrollmentGroup | null {
    const g = this.state.groups.find((x) => x.name === name);
    return g ? { ...g } : null;
  }

  createGroup(name: string, opts: { enabled?: boolean } = {}): EnrollmentGroup {
    if (!/^[A-Za-z0-9._-]{1,128}$/.test(name)) throw new RelyingPartyError('bad-request', `enrollment group name must be 1-128 of A-Z a-z 0-9 . _ -, got '${name.slice(0, 80)}'`);
    if (this.group(name)) throw new RelyingPartyError('exists', `enrollment group ${name} already exists`);
    this.commit((s) => s.groups.push({ name, enabled: opts.enabled ?? true, primary: null, secondary: null }));
    return this.group(name)!;
  }

  setGroupEnabled(name: string, enabled: boolean): EnrollmentGroup {
    if (!this.group(name)) throw new RelyingPartyError('not-found', `no enrollment group ${name}`);
    this.commit((s) => {
      s.groups.find((g) => g.name === name)!.enabled = enabled;
    });
    return this.group(name)!;
  }

  /** A slot is free when empty or when its CA has expired (remove nothing unexpired). */
  private slotFree(g: EnrollmentGroup, slot: Slot, at: number): boolean {
    const t = g[slot];
    if (!t) return true;
    const c = this.byThumb.get(t);
    return !c || c.f.notAfter <= at;
  }

  /** The slot a new CA should go into (azure-iot-protocols.md: "put the new one in the free slot"), or null. */
  freeSlot(groupName: string, at = this.clock.now()): Slot | null {
    const g = this.group(groupName);
    if (!g) return 'primary';
    return SLOTS.find((s) => this.slotFree(g, s, at)) ?? null;
  }

  /**
   * Puts a Verified CA into a slot of a group (created, enabled, if it does not exist). Without a slot,
   * the free one. A slot holding an unexpired CA is never overwritten.
   */
  enroll(groupName: string, thumbprint: string, opts: { slot?: Slot; at?: number } = {}): { group: string; slot: Slot } {
    const at = opts.at ?? this.clock.now();
    const c = this.get(thumbprint);
    if (c.rec.status !== 'Verified') throw new RelyingPartyError('unverified', `CA ${c.rec.thumbprint} is Unverified: prove possession first (code, download-proof, verify)`);
    if (c.f.notAfter <= at) throw new RelyingPartyError('expired', `CA ${c.rec.thumbprint} expired on ${iso(c.f.notAfter)}`);
    if (!/^[A-Za-z0-9._-]{1,128}$/.test(groupName)) throw new RelyingPartyError('bad-request', `enrollment group name must be 1-128 of A-Z a-z 0-9 . _ -, got '${groupName.slice(0, 80)}'`);
    const g = this.group(groupName) ?? { name: groupName, enabled: true, primary: null, secondary: null };
    for (const s of SLOTS) if (g[s] === c.rec.thumbprint) throw new RelyingPartyError('exists', `CA ${c.rec.thumbprint} is already in the ${s} slot of ${groupName}`);
    let slot = opts.slot;
    if (slot) {
      if (!this.slotFree(g, slot, at)) {
        const held = this.byThumb.get(g[slot]!)!;
        throw new RelyingPartyError('slot-taken', `the ${slot} slot of ${groupName} holds CA ${held.rec.thumbprint}, valid until ${iso(held.f.notAfter)}: remove nothing that has not expired`);
      }
    } else {
      slot = SLOTS.find((s) => this.slotFree(g, s, at));
      if (!slot) throw new RelyingPartyError('slot-taken', `both slots of ${groupName} hold unexpired CAs (${g.primary}, ${g.secondary})`);
    }
    const chosen = slot;
    this.commit((s) => {
      let sg = s.groups.find((x) => x.name === groupName);
      if (!sg) s.groups.push((sg = { name: groupName, enabled: true, primary: null, secondary: null }));
      sg[chosen] = c.rec.thumbprint;
    });
    return { group: groupName, slot: chosen };
  }

  unenroll(groupName: string, slot: Slot): void {
    if (!this.group(groupName)) throw new RelyingPartyError('not-found', `no enrollment group ${groupName}`);
    this.commit((s) => {
      s.groups.find((g) => g.name === groupName)![slot] = null;
    });
  }

  // ------------------------------------------------ trust and admission

  /** Why devices issued by this CA would or would not be admitted at `at` (null = they would be). */
  trustProblem(thumbprint: string, at: number): string | null {
    const c = this.byThumb.get(normalizeThumbprint(thumbprint));
    if (!c) return `issuer ${normalizeThumbprint(thumbprint)} is not registered`;
    return this.anchorProblem(c, at).reason;
  }

  private anchorProblem(c: CachedCa, at: number): { reason: string | null; group?: string } {
    const t = c.rec.thumbprint;
    if (c.rec.status !== 'Verified') return { reason: `issuer ${t} is registered but not verified (no proof of possession)` };
    if (at > c.f.notAfter) return { reason: `issuer ${t} expired on ${iso(c.f.notAfter)}` };
    if (at < c.f.notBefore) return { reason: `issuer ${t} is not valid before ${iso(c.f.notBefore)}` };
    let disabled: string | null = null;
    for (const g of this.state.groups) {
      if (g.primary !== t && g.secondary !== t) continue;
      if (g.enabled) return { reason: null, group: g.name };
      disabled = g.name;
    }
    if (disabled) return { reason: `issuer ${t} is only in enrollment group ${disabled}, which is disabled` };
    return { reason: `issuer ${t} is not registered in any enrollment group` };
  }

  private parsePresented(der: Uint8Array): Presented {
    const k = latin1(der);
    let p = this.presented.get(k);
    if (!p) {
      p = new Presented(readCertificate(der));
      if (this.presented.size >= PRESENTED_CACHE_SIZE) this.presented.delete(this.presented.keys().next().value!);
      this.presented.set(k, p);
    }
    return p;
  }

  private signedBy(p: Presented, key: KeyObject): boolean {
    let ok = p.verifiedBy.get(key);
    if (ok === undefined) {
      ok = verify(p.f.hash, p.f.tbs, key, p.f.signature);
      p.verifiedBy.set(key, ok);
    }
    return ok;
  }

  /**
   * The admission decision for one connection (azure-iot-protocols.md, "Device admission"): the chain
   * (leaf first) must end at a Verified, unexpired CA that sits in a slot of an enabled enrollment
   * group; every link's signature must verify; the leaf CN must be the registration / device ID, carry
   * the clientAuth EKU, and be valid at `at`. Proof of key possession is the TLS handshake's job.
   */
  admit(chain: ChainInput, opts: { registrationId: string; at?: number }): AdmitResult {
    const at = opts.at ?? this.clock.now();
    let ders: Uint8Array[];
    let certs: Presented[];
    try {
      ders = splitChain(chain);
      if (ders.length === 0) return { ok: false, reason: 'no client certificate presented' };
      certs = ders.map((d) => this.parsePresented(d));
    } catch (e) {
      return { ok: false, reason: `unreadable client certificate: ${(e as Error).message}` };
    }
    const leaf = certs[0].f;
    if (leaf.commonName !== opts.registrationId) return { ok: false, reason: `leaf CN '${leaf.commonName ?? ''}' is not the registration ID '${opts.registrationId}'` };
    if (!leaf.clientAuth) return { ok: false, reason: `leaf certificate of ${opts.registrationId} has no clientAuthentication EKU` };
    if (at < leaf.notBefore) return { ok: false, reason: `leaf certificate of ${opts.registrationId} is not valid before ${iso(leaf.notBefore)}` };
    if (at > leaf.notAfter) return { ok: false, reason: `leaf certificate of ${opts.registrationId} expired on ${iso(leaf.notAfter)}` };
    // Walk up from the leaf. A registered CA that signed a link but cannot anchor (unverified, expired,
    // not enrolled) does not end the walk: a trusted CA further up may. If none does, its problem is the
    // reason given.
    let problem: string | null = null;
    const fail = (reason: string): AdmitResult => ({ ok: false, reason: problem ?? reason });
    for (let i = 0; i < certs.length; i++) {
      const cur = certs[i];
      const candidates = this.bySubject.get(latin1(cur.f.issuer));
      if (candidates) {
        for (const ca of candidates) {
          if (!this.signedBy(cur, ca.key)) continue;
          const a = this.anchorProblem(ca, at);
          if (a.reason === null) return { ok: true, group: a.group!, issuerThumbprint: ca.rec.thumbprint };
          // The reason from a Verified CA (disabled group, expiry, no slot) says more than "unverified".
          if (ca.rec.status === 'Verified' || problem === null) problem = a.reason;
        }
      }
      // Otherwise the next presented certificate must be its issuer: a CA, valid at `at`, whose key signed it.
      const next = certs[i + 1];
      if (!next) break;
      if (Buffer.compare(next.f.subject, cur.f.issuer) !== 0) return fail(`chain broken: certificate ${i + 1} is not the issuer of certificate ${i}`);
      if (!next.f.isCA) return fail(`chain certificate ${i + 1} ${next.thumbprint} is not a CA`);
      next.key ??= publicKeyFromSpki(next.f.spki);
      if (!this.signedBy(cur, next.key)) return fail(`signature of chain certificate ${i} does not verify with the key of certificate ${i + 1}`);
      if (at < next.f.notBefore || at > next.f.notAfter) return fail(`chain certificate ${i + 1} ${next.thumbprint} is not valid at ${iso(at)}`);
    }
    // The chain never reached a trusted CA: name the leaf's issuer, by thumbprint when it was presented.
    const issuer = certs[1] ? `${certs[1].thumbprint} ('${commonNameOf(certs[1].f.subject) ?? '?'}')` : `'${commonNameOf(leaf.issuer) ?? '?'}'`;
    return fail(`issuer ${issuer} is not registered in any enrollment group`);
  }
}

/** DER certificates of a presented chain, leaf first. */
export function splitChain(chain: ChainInput): Uint8Array[] {
  if (Array.isArray(chain)) {
    return chain.map((c) => ('rawData' in c ? new Uint8Array(c.rawData) : 'raw' in c ? (c as { raw: Uint8Array }).raw : (c as Uint8Array)));
  }
  if (typeof chain === 'string' || chain[0] !== 0x30) {
    const text = typeof chain === 'string' ? chain : Buffer.from(chain).toString('latin1');
    if (text.includes('-----BEGIN')) return pemBlocks(text);
    return [toDer(text)];
  }
  // Concatenated DER: one certificate after another.
  const out: Uint8Array[] = [];
  for (let off = 0; off < chain.length; ) {
    const len = derObjectLength(chain, off);
    out.push(chain.subarray(off, off + len));
    off += len;
  }
  return out;
}

function derObjectLength(b: Uint8Array, off: number): number {
  if (off + 2 > b.length) throw new CertificateFormatError('truncated DER');
  let len = b[off + 1];
  let hdr = 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || off + 2 + n > b.length) throw new CertificateFormatError('truncated DER');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[off + 2 + i];
    hdr += n;
  }
  if (off + hdr + len > b.length) throw new CertificateFormatError('truncated DER');
  return hdr + len;
}
