// The tenant CA Security Service emulator: one tenant, its Security Service root, the chain of
// tenant CAs the rotation policy creates, and device certificates issued from CSRs.
// Rules: /work/shared/reference/tenant-ca.md. Time comes only from the injected Clock; rotation is
// evaluated lazily, so asking about any date creates every CA the policy would have created before it,
// each with the dates the policy gives (not the date somebody happened to look).
//
// State lives in a directory the caller chooses:
//   tenant.json        public state (certificates, schedule, revocations), written atomically
//   keys/root.key      PKCS#8 PEM, mode 0600 (directory 0700); never printed or logged
//   keys/ca-<n>.key    one per tenant CA
import { createHash, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock } from './clock.ts';
import { DAY_MS } from './clock.ts';
import {
  EC_P256,
  exportPkcs8Pem,
  generateP256,
  importPkcs8Pem,
  normalizeThumbprint,
  pemBlocks,
  px,
  pxCertificate,
  readCertificate,
  readCsr,
  thumbprint as sha1Thumbprint,
  toPem,
  writeDeviceCertificate,
  CertificateFormatError,
} from './x509.ts';

// ---------------------------------------------------------------- policy

/** When the next CA is made and when it takes over (tenant-ca.md, "Rotation policy"). */
export interface RotationPolicy {
  name: string;
  /** the new CA is generated this many days before the active one expires */
  leadDays: number;
  /** the new CA becomes Active this many days after its creation */
  delayDays: number;
}

export const POLICIES: Record<string, RotationPolicy> = {
  // tenant-ca.md rotation table, "announced in the 2020 rollout (the project's default)": ~60 / ~30 days.
  '2020': { name: '2020', leadDays: 60, delayDays: 30 },
  // tenant-ca.md rotation table, "later documentation": ~90 / ~45 days.
  later: { name: 'later', leadDays: 90, delayDays: 45 },
};

export function policyByName(name: string): RotationPolicy {
  const p = POLICIES[name];
  if (!p) throw new SecurityServiceError('bad-policy', `unknown rotation policy '${name}' (known: ${Object.keys(POLICIES).join(', ')})`);
  return p;
}

/** tenant-ca.md, "Chain": a tenant CA lives two years from its creation. Calendar years, UTC. */
export function addYears(ms: number, years: number): number {
  const d = new Date(ms);
  d.setUTCFullYear(d.getUTCFullYear() + years);
  return d.getTime();
}
const CA_LIFETIME_YEARS = 2;
/** tenant-ca.md, "Chain": device certificates are valid 24 hours. */
export const DEVICE_CERT_VALIDITY_MS = 24 * 3_600_000;
/** How long a proof-of-possession certificate stays usable (not in the reference; long enough to finish a verify). */
const PROOF_VALIDITY_MS = 30 * DAY_MS;
/** The emulated root outlives every tenant CA a simulation will reach; root rotation is out of scope. */
const ROOT_LIFETIME_YEARS = 25;

// ---------------------------------------------------------------- errors and views

export type RefusalCode =
  | 'no-tenant'
  | 'tenant-exists'
  | 'tenant-revoked'
  | 'not-found'
  | 'expired'
  | 'revoked'
  | 'bad-csr'
  | 'cn-mismatch'
  | 'bad-request'
  | 'bad-policy'
  | 'time';

/** A request the Security Service refuses; `message` is one line saying why. */
export class SecurityServiceError extends Error {
  constructor(readonly code: RefusalCode, message: string) {
    super(message);
  }
}

export type CaStatus = 'Active' | 'Inactive' | 'Revoked';
/** tenant-ca.md, "Status": the three kinds of Inactive CA. */
export type InactiveLabel = 'new' | 'retired' | 'expired';

export interface TenantCa {
  index: number;
  thumbprint: string;
  status: CaStatus;
  label: InactiveLabel | null; // set when status is Inactive
  subject: string;
  notBefore: number;
  notAfter: number;
  createdAt: number;
  activeFrom: number;
  revokedAt: number | null;
  der: Uint8Array;
}

export interface CaSelector {
  index?: number;
  thumbprint?: string;
}

export interface DeviceCertificate {
  certificate: Uint8Array; // DER
  /** issuing tenant CA then the Security Service root, DER */
  chain: Uint8Array[];
  issuerIndex: number;
  issuerThumbprint: string;
  notBefore: number;
  notAfter: number;
}

// ---------------------------------------------------------------- persisted state

interface CaRecord {
  index: number;
  createdAt: number;
  activeFrom: number;
  notAfter: number;
  revokedAt: number | null;
  thumbprint: string;
  subject: string;
  certPem: string;
}

interface TenantState {
  version: 1;
  tenantId: string;
  policy: RotationPolicy;
  createdAt: number;
  revokedAt: number | null;
  rootPem: string;
  cas: CaRecord[];
}

const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');
const seconds = (ms: number) => Math.floor(ms / 1000) * 1000;

function writeAtomic(path: string, data: string | Uint8Array, mode: number): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data, { mode });
  chmodSync(tmp, mode); // the umask may have narrowed or the file may have existed
  renameSync(tmp, path);
}

interface LoadedCa {
  rec: CaRecord;
  der: Uint8Array;
  subjectDer: Uint8Array;
  keyId: string;
  key?: { crypto: CryptoKey; node: KeyObject };
}

// ---------------------------------------------------------------- the service

export class SecurityService {
  private cas: LoadedCa[] = [];
  private rootDer: Uint8Array;
  private rootKey?: { crypto: CryptoKey; node: KeyObject };
  private lock: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly dir: string,
    private readonly clock: Clock,
    private state: TenantState,
  ) {
    this.rootDer = pemBlocks(state.rootPem)[0];
    this.cas = state.cas.map((rec) => SecurityService.load(rec));
  }

  private static load(rec: CaRecord): LoadedCa {
    const der = pemBlocks(rec.certPem)[0];
    const f = readCertificate(der);
    return { rec, der, subjectDer: f.subject, keyId: f.subjectKeyId ?? '' };
  }

  static exists(dir: string): boolean {
    return existsSync(join(dir, 'tenant.json'));
  }

  /** Creates the tenant at clock.now(): the root and the first tenant CA, Active at once. */
  static async createTenant(dir: string, opts: { clock: Clock; policy?: RotationPolicy | string; tenantId?: string }): Promise<SecurityService> {
    if (SecurityService.exists(dir)) throw new SecurityServiceError('tenant-exists', `a tenant already exists in ${dir}`);
    const policy = typeof opts.policy === 'string' ? policyByName(opts.policy) : (opts.policy ?? POLICIES['2020']);
    if (!(policy.leadDays > policy.delayDays && policy.delayDays >= 0)) {
      // Exactly one CA must be Active at every instant: the new one must take over before the old one expires.
      throw new SecurityServiceError('bad-policy', `policy ${policy.name}: lead time (${policy.leadDays} d) must exceed activation delay (${policy.delayDays} d)`);
    }
    const t = seconds(opts.clock.now());
    const rootKeys = await generateP256();
    const spki = new Uint8Array(await webcryptoExportSpki(rootKeys.publicKey));
    const tenantId = opts.tenantId ?? uuidFrom(spki);
    const root = await px.X509CertificateGenerator.createSelfSigned({
      serialNumber: '01',
      name: `CN=Rover Security Service Root ${tenantId}, O=Rover Security Service Emulator`,
      notBefore: new Date(t),
      notAfter: new Date(addYears(t, ROOT_LIFETIME_YEARS)),
      keys: rootKeys,
      signingAlgorithm: EC_P256,
      extensions: [
        new px.BasicConstraintsExtension(true, undefined, true),
        new px.KeyUsagesExtension(px.KeyUsageFlags.keyCertSign | px.KeyUsageFlags.cRLSign, true),
        await px.SubjectKeyIdentifierExtension.create(rootKeys.publicKey),
      ],
    });
    mkdirSync(join(dir, 'keys'), { recursive: true, mode: 0o700 });
    chmodSync(join(dir, 'keys'), 0o700);
    writeAtomic(join(dir, 'keys', 'root.key'), await exportPkcs8Pem(rootKeys.privateKey), 0o600);
    const state: TenantState = { version: 1, tenantId, policy, createdAt: t, revokedAt: null, rootPem: toPem(new Uint8Array(root.rawData)), cas: [] };
    const svc = new SecurityService(dir, opts.clock, state);
    svc.rootKey = await importPkcs8Pem(readFileSync(join(dir, 'keys', 'root.key'), 'utf8'));
    // tenant-ca.md, "Chain": the first tenant CA lives two years from tenant creation.
    await svc.createCa(t, t);
    return svc;
  }

  static async open(dir: string, opts: { clock: Clock }): Promise<SecurityService> {
    const p = join(dir, 'tenant.json');
    if (!existsSync(p)) throw new SecurityServiceError('no-tenant', `no tenant in ${dir} (create one: rover ca tenant create)`);
    const state = JSON.parse(readFileSync(p, 'utf8')) as TenantState;
    if (state.version !== 1) throw new SecurityServiceError('no-tenant', `${p}: unknown state version ${state.version}`);
    return new SecurityService(dir, opts.clock, state);
  }

  get tenantId(): string {
    return this.state.tenantId;
  }
  get policy(): RotationPolicy {
    return { ...this.state.policy };
  }
  get tenantCreatedAt(): number {
    return this.state.createdAt;
  }
  get tenantRevokedAt(): number | null {
    return this.state.revokedAt;
  }
  get rootCertificate(): Uint8Array {
    return this.rootDer;
  }
  /** The latest instant at which a CA exists: changes dated before it would rewrite history. */
  get horizon(): number {
    return Math.max(this.state.createdAt, ...this.cas.map((c) => c.rec.createdAt));
  }

  // ------------------------------------------------ rotation (lazy)

  private serialized<T>(f: () => Promise<T>): Promise<T> {
    const run = this.lock.then(f, f);
    this.lock = run.catch(() => undefined);
    return run;
  }

  /** When the policy creates the successor of the newest unrevoked CA. */
  private nextCreation(): number | null {
    if (this.state.revokedAt !== null) return null; // a revoked tenant gets no new CA
    const head = [...this.cas].reverse().find((c) => c.rec.revokedAt === null);
    if (!head) return null;
    // tenant-ca.md: the new CA is generated leadDays before the active one expires.
    return head.rec.notAfter - this.state.policy.leadDays * DAY_MS;
  }

  /** Creates every CA the policy would have created up to t, each at its own scheduled date. */
  private async materialize(t: number): Promise<void> {
    const due = this.nextCreation();
    if (due === null || due > t) return; // the common case: no lock, no await on crypto
    await this.serialized(async () => {
      for (let next = this.nextCreation(); next !== null && next <= t; next = this.nextCreation()) {
        // tenant-ca.md: the new CA becomes Active delayDays after its creation.
        await this.createCa(next, next + this.state.policy.delayDays * DAY_MS);
      }
    });
  }

  private async createCa(createdAt: number, activeFrom: number): Promise<LoadedCa> {
    const index = this.cas.length;
    const rootKey = await this.getRootKey();
    const root = pxCertificate(this.rootDer);
    const keys = await generateP256();
    const notAfter = addYears(createdAt, CA_LIFETIME_YEARS);
    const cert = await px.X509CertificateGenerator.create({
      serialNumber: (index + 2).toString(16).padStart(2, '0'), // the root is 01; deterministic, no counter to persist
      subject: `CN=Rover Tenant CA ${index} ${this.state.tenantId}, O=Rover Security Service Emulator`,
      issuer: root.subjectName,
      notBefore: new Date(createdAt),
      notAfter: new Date(notAfter),
      publicKey: keys.publicKey,
      signingKey: rootKey.crypto,
      signingAlgorithm: EC_P256,
      extensions: [
        // pathLen 0: a tenant CA signs device certificates only.
        new px.BasicConstraintsExtension(true, 0, true),
        new px.KeyUsagesExtension(px.KeyUsageFlags.keyCertSign | px.KeyUsageFlags.cRLSign | px.KeyUsageFlags.digitalSignature, true),
        await px.SubjectKeyIdentifierExtension.create(keys.publicKey),
        await px.AuthorityKeyIdentifierExtension.create(root),
      ],
    });
    const der = new Uint8Array(cert.rawData);
    writeAtomic(join(this.dir, 'keys', `ca-${index}.key`), await exportPkcs8Pem(keys.privateKey), 0o600);
    const rec: CaRecord = {
      index,
      createdAt,
      activeFrom,
      notAfter,
      revokedAt: null,
      thumbprint: sha1Thumbprint(der),
      subject: cert.subject,
      certPem: toPem(der),
    };
    const loaded = SecurityService.load(rec);
    this.cas.push(loaded);
    this.state.cas.push(rec);
    this.save();
    return loaded;
  }

  private save(): void {
    writeAtomic(join(this.dir, 'tenant.json'), JSON.stringify(this.state, null, 1) + '\n', 0o600);
  }

  private async getRootKey() {
    return (this.rootKey ??= await importPkcs8Pem(readFileSync(join(this.dir, 'keys', 'root.key'), 'utf8')));
  }

  private async getKey(ca: LoadedCa) {
    return (ca.key ??= await importPkcs8Pem(readFileSync(join(this.dir, 'keys', `ca-${ca.rec.index}.key`), 'utf8')));
  }

  // ------------------------------------------------ status (a pure function of the records and t)

  private revokedAt(ca: LoadedCa, t: number): boolean {
    return (ca.rec.revokedAt !== null && ca.rec.revokedAt <= t) || (this.state.revokedAt !== null && this.state.revokedAt <= t);
  }

  private activeAt(t: number): LoadedCa | null {
    let best: LoadedCa | null = null;
    for (const c of this.cas) {
      if (c.rec.createdAt > t || c.rec.activeFrom > t || c.rec.notAfter <= t || this.revokedAt(c, t)) continue;
      if (!best || c.rec.activeFrom >= best.rec.activeFrom) best = c;
    }
    return best;
  }

  private view(c: LoadedCa, t: number, active: LoadedCa | null): TenantCa {
    let status: CaStatus;
    let label: InactiveLabel | null = null;
    if (this.revokedAt(c, t)) status = 'Revoked';
    else if (c === active) status = 'Active';
    else {
      status = 'Inactive';
      // tenant-ca.md, "Status": new (not yet Active, notAfter ~2 years ahead), retired (superseded,
      // notAfter within the lead time), expired (notAfter past).
      label = c.rec.notAfter <= t ? 'expired' : c.rec.activeFrom > t ? 'new' : 'retired';
    }
    const r = c.rec;
    return {
      index: r.index,
      thumbprint: r.thumbprint,
      status,
      label,
      subject: r.subject,
      notBefore: r.createdAt,
      notAfter: r.notAfter,
      createdAt: r.createdAt,
      activeFrom: r.activeFrom,
      revokedAt: r.revokedAt ?? (this.state.revokedAt !== null && this.state.revokedAt <= t ? this.state.revokedAt : null),
      der: c.der,
    };
  }

  /** Every tenant CA that exists at clock.now(), oldest first (tenant-ca.md, "list"). */
  async list(): Promise<TenantCa[]> {
    const t = this.clock.now();
    await this.materialize(t);
    return this.listAt(t);
  }

  private listAt(t: number): TenantCa[] {
    const active = this.activeAt(t);
    return this.cas.filter((c) => c.rec.createdAt <= t).map((c) => this.view(c, t, active));
  }

  private pick(t: number, sel: CaSelector = {}): LoadedCa {
    const visible = this.cas.filter((c) => c.rec.createdAt <= t);
    if (sel.index !== undefined) {
      const c = visible.find((x) => x.rec.index === sel.index);
      if (!c) throw new SecurityServiceError('not-found', `no tenant CA with index ${sel.index} at ${iso(t)} (indexes 0-${visible.length - 1})`);
      return c;
    }
    if (sel.thumbprint !== undefined) {
      const want = normalizeThumbprint(sel.thumbprint);
      const c = visible.find((x) => x.rec.thumbprint === want);
      if (!c) throw new SecurityServiceError('not-found', `no tenant CA with thumbprint ${want} at ${iso(t)}`);
      return c;
    }
    const a = this.activeAt(t);
    if (!a) throw new SecurityServiceError(this.state.revokedAt !== null ? 'tenant-revoked' : 'not-found', `no Active tenant CA at ${iso(t)}`);
    return a;
  }

  /** One CA, chosen by index or thumbprint, default the Active one. */
  async find(sel?: CaSelector): Promise<TenantCa> {
    const t = this.clock.now();
    await this.materialize(t);
    return this.view(this.pick(t, sel), t, this.activeAt(t));
  }

  private refuseExpired(c: LoadedCa, t: number, what: string): void {
    // tenant-ca.md, "Status": expired certificates still appear in lists, but their body cannot be downloaded.
    if (c.rec.notAfter <= t)
      throw new SecurityServiceError('expired', `tenant CA ${c.rec.index} (${c.rec.thumbprint}) expired on ${iso(c.rec.notAfter)}: ${what}`);
  }

  /** The CA certificate as DER (.cer). */
  async download(sel?: CaSelector): Promise<Uint8Array> {
    const t = this.clock.now();
    await this.materialize(t);
    const c = this.pick(t, sel);
    this.refuseExpired(c, t, 'an expired certificate cannot be downloaded');
    return c.der;
  }

  /** The CA and its chain up to the Security Service root as PKCS#7 DER (.p7b). */
  async downloadChain(sel?: CaSelector): Promise<Uint8Array> {
    const t = this.clock.now();
    await this.materialize(t);
    const c = this.pick(t, sel);
    this.refuseExpired(c, t, 'an expired certificate cannot be downloaded');
    const certs = new px.X509Certificates([pxCertificate(c.der), pxCertificate(this.rootDer)]);
    return new Uint8Array(certs.export('raw'));
  }

  /**
   * Proof of possession (tenant-ca.md, "download-proof"): a certificate whose subject CN is the
   * relying party's verification code, signed by the chosen tenant CA's private key.
   */
  async downloadProof(code: string, sel?: CaSelector): Promise<Uint8Array> {
    if (!/^[A-Za-z0-9-]{1,64}$/.test(code)) throw new SecurityServiceError('bad-request', `verification code must be 1-64 letters, digits or '-', got '${code.slice(0, 80)}'`);
    const t = seconds(this.clock.now());
    await this.materialize(t);
    const c = this.pick(t, sel);
    this.refuseExpired(c, t, 'it cannot sign a proof');
    if (this.revokedAt(c, t)) throw new SecurityServiceError('revoked', `tenant CA ${c.rec.index} (${c.rec.thumbprint}) is revoked: it cannot sign a proof`);
    const key = await this.getKey(c);
    const subjectKeys = await generateP256(); // the proof's own key is never used: only the CA's signature matters
    const cert = await px.X509CertificateGenerator.create({
      serialNumber: createHash('sha256').update(`${c.rec.thumbprint}|${code}|${t}`).digest('hex').slice(0, 30).replace(/^./, '4'),
      subject: `CN=${code}`,
      issuer: pxCertificate(c.der).subjectName,
      notBefore: new Date(t),
      notAfter: new Date(Math.min(t + PROOF_VALIDITY_MS, c.rec.notAfter)),
      publicKey: subjectKeys.publicKey,
      signingKey: key.crypto,
      signingAlgorithm: EC_P256,
      extensions: [new px.BasicConstraintsExtension(false, undefined, true), await px.AuthorityKeyIdentifierExtension.create(pxCertificate(c.der))],
    });
    return new Uint8Array(cert.rawData);
  }

  /**
   * A device certificate from the device's CSR (tenant-ca.md, "Chain"): CN = device ID, clientAuth
   * EKU, 24-hour validity, issued by the CA Active now. The device keeps its private key; the CSR's
   * signature proves it holds the key.
   */
  async issueDeviceCertificate(csr: Uint8Array | string, deviceId: string): Promise<DeviceCertificate> {
    const now = this.clock.now();
    await this.materialize(now);
    if (this.state.revokedAt !== null && this.state.revokedAt <= now)
      throw new SecurityServiceError('tenant-revoked', `tenant ${this.state.tenantId} was revoked on ${iso(this.state.revokedAt)}: no certificates are issued`);
    if (now < this.state.createdAt) throw new SecurityServiceError('time', `tenant ${this.state.tenantId} does not exist before ${iso(this.state.createdAt)}`);
    let req;
    try {
      req = readCsr(csr);
    } catch (e) {
      if (e instanceof CertificateFormatError) throw new SecurityServiceError('bad-csr', `bad CSR: ${e.message}`);
      throw e;
    }
    if (!req.signatureValid) throw new SecurityServiceError('bad-csr', 'bad CSR: its signature does not verify with its public key');
    if (req.commonName !== deviceId)
      throw new SecurityServiceError('cn-mismatch', `CSR subject CN '${req.commonName ?? ''}' is not the device ID '${deviceId}'`);
    const ca = this.pick(now);
    const key = await this.getKey(ca);
    const notBefore = seconds(now);
    // The Active CA still has at least (leadDays - delayDays) days to live, far more than 24 hours,
    // so the device certificate never outlives its issuer.
    const notAfter = notBefore + DEVICE_CERT_VALIDITY_MS;
    const serial = createHash('sha256').update(ca.rec.thumbprint).update(deviceId).update(String(notBefore)).update(req.spki).digest().subarray(0, 16);
    serial[0] = (serial[0] & 0x7f) || 0x01; // positive and minimally encoded (RFC 5280 4.1.2.2)
    const certificate = writeDeviceCertificate({
      serial,
      issuer: ca.subjectDer,
      issuerKeyId: ca.keyId,
      commonName: deviceId,
      notBefore,
      notAfter,
      spki: req.spki,
      signingKey: key.node,
    });
    return { certificate, chain: [ca.der, this.rootDer], issuerIndex: ca.rec.index, issuerThumbprint: ca.rec.thumbprint, notBefore, notAfter };
  }

  // ------------------------------------------------ revocation

  private refuseRewrite(t: number, what: string): void {
    if (t < this.horizon) throw new SecurityServiceError('time', `cannot ${what} at ${iso(t)}: the state already reaches ${iso(this.horizon)} (changes only move forward in time)`);
  }

  /**
   * Revokes one tenant CA at clock.now(). Exactly one CA stays Active: revoking the Active CA promotes
   * the pending new CA at once, or creates a replacement Active at once; revoking the pending new CA
   * creates a replacement that keeps the original activation date. Relying parties must register it.
   */
  async revokeCa(sel: CaSelector): Promise<TenantCa> {
    const t = seconds(this.clock.now());
    await this.materialize(t);
    return this.serialized(async () => {
      if (this.state.revokedAt !== null) throw new SecurityServiceError('tenant-revoked', `tenant ${this.state.tenantId} is revoked`);
      const c = this.pick(t, sel);
      if (c.rec.revokedAt !== null) throw new SecurityServiceError('revoked', `tenant CA ${c.rec.index} (${c.rec.thumbprint}) is already revoked`);
      this.refuseRewrite(t, 'revoke');
      const before = this.view(c, t, this.activeAt(t));
      c.rec.revokedAt = t;
      const pending = this.cas.find((x) => x !== c && x.rec.revokedAt === null && x.rec.activeFrom > t && x.rec.createdAt <= t);
      if (before.status === 'Active') {
        if (pending) pending.rec.activeFrom = t;
        else await this.createCa(t, t);
      } else if (before.label === 'new') {
        await this.createCa(t, Math.max(t, c.rec.activeFrom));
      }
      this.save();
      return this.view(c, t, this.activeAt(t));
    });
  }

  /** Revokes the tenant at clock.now(): every CA becomes Revoked, nothing is issued or rotated any more. */
  async revokeTenant(): Promise<void> {
    const t = seconds(this.clock.now());
    await this.materialize(t);
    await this.serialized(async () => {
      if (this.state.revokedAt !== null) throw new SecurityServiceError('tenant-revoked', `tenant ${this.state.tenantId} is already revoked`);
      this.refuseRewrite(t, 'revoke the tenant');
      this.state.revokedAt = t;
      this.save();
    });
  }
}

async function webcryptoExportSpki(key: CryptoKey): Promise<ArrayBuffer> {
  return globalThis.crypto.subtle.exportKey('spki', key);
}

/** A stable tenant ID derived from the root key (RFC 4122 layout, version 8 = custom). */
function uuidFrom(bytes: Uint8Array): string {
  const h = createHash('sha256').update(bytes).digest();
  h[6] = (h[6] & 0x0f) | 0x80;
  h[8] = (h[8] & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}
