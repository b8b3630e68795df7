// Shared rig for the hlcore end-to-end tests: a tenant (Security Service emulator), a relying party
// with the tenant CA registered, the test hub + DPS, simulated Wi-Fi / network / secure store, the
// fake RT core, and a driver that advances the simulated clock while real sockets do their work.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../hlcore/manual-clock.ts';
import { seededRandom } from '../../hlcore/random.ts';
import { Device, type DeviceOptions } from '../../hlcore/device.ts';
import type { CertificateAuthorityClient } from '../../hlcore/identity.ts';
import { SqliteStorage } from '../../hlcore/sqlite-storage.ts';
import { TlsNetworkLink } from '../../hlcore/host/tls-link.ts';
import { SecurityService, type CaSelector } from '../../sim/cloud/security-service.ts';
import { RelyingParty } from '../../sim/cloud/relying-party.ts';
import { MemorySecureStore } from '../../sim/secure-store.ts';
import { SimulatedNetwork } from '../../sim/network.ts';
import { SimulatedAccessPoint, SimulatedRadio } from '../../sim/wifi-ap.ts';
import { startCloud, type Cloud } from '../../sim/cloud/cloud.ts';
import type { CloudEndpoints } from '../../hlcore/device.ts';
import { FakeRt } from './_rt.ts';
import { serverTls, TestCloud, type ServerTls } from './_hub.ts';

export const realTick = () => new Promise<void>((r) => setImmediate(r));
export const realSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function registerCa(svc: SecurityService, rp: RelyingParty, sel?: CaSelector): Promise<string> {
  const reg = rp.upload(await svc.download(sel));
  const { code, etag } = rp.generateVerificationCode(reg.thumbprint, reg.etag);
  rp.verify(reg.thumbprint, etag, await svc.downloadProof(code, sel));
  rp.enroll('rovers', reg.thumbprint);
  return reg.thumbprint;
}

export interface RigOptions {
  t0?: number;
  /** create the tenant this long before t0 (for rollover tests) */
  tenantAgeMs?: number;
  rt?: { pollMs?: number; batchMs?: number };
  device?: Partial<DeviceOptions>;
  registerCa?: boolean;
}

export class Rig {
  readonly clock: ManualClock;
  dir: string;
  svc!: SecurityService;
  rp!: RelyingParty;
  tls!: ServerTls;
  cloud!: TestCloud;
  /** the project's IoT Hub + DPS emulator (sim/cloud/cloud.ts), when initEmulator() was used */
  emu: Cloud | null = null;
  endpoints!: CloudEndpoints;
  rt!: FakeRt;
  ap!: SimulatedAccessPoint;
  radio!: SimulatedRadio;
  net!: SimulatedNetwork;
  store = new MemorySecureStore();
  storage!: SqliteStorage;
  device!: Device;
  caCalls = 0;
  readonly log: string[] = [];

  constructor(readonly opts: RigOptions = {}) {
    this.clock = new ManualClock(opts.t0 ?? Date.UTC(2026, 0, 1));
    this.dir = mkdtempSync(join(tmpdir(), 'hl-e2e-'));
  }

  async init(): Promise<this> {
    const t0 = this.clock.now();
    // The tenant may be created in the past (rollover tests): its clock reads createAt while creating.
    const createAt = t0 - (this.opts.tenantAgeMs ?? 0);
    const svcClock = { now: () => (this.creating ? createAt : this.clock.now()) };
    this.creating = true;
    this.svc = await SecurityService.createTenant(join(this.dir, 'tenant'), { clock: svcClock });
    this.creating = false;
    this.rp = RelyingParty.open(join(this.dir, 'rp'), { clock: this.clock });
    if (this.opts.registerCa !== false) await registerCa(this.svc, this.rp, { index: 0 });
    this.tls = await serverTls();
    this.cloud = new TestCloud(this.tls, this.rp);
    await this.cloud.start();
    this.endpoints = {
      dps: { host: '127.0.0.1', port: this.cloud.port, ca: this.tls.caPem },
      idScope: '0ne00TEST',
      hub: () => ({ host: '127.0.0.1', port: this.cloud.port, ca: this.tls.caPem }),
    };
    return this.initDevice();
  }

  /** The same rig against the project's emulator: its Security Service, relying party, DPS and hub. */
  async initEmulator(): Promise<this> {
    this.emu = await startCloud({ stateDir: join(this.dir, 'state'), clock: this.clock, port: 0, dpsRetryAfterSeconds: 2 });
    await this.emu.enrollActiveCa();
    this.svc = this.emu.securityService;
    this.rp = this.emu.relyingParty;
    // DPS returns `127.0.0.1:<port>` as assignedHub: the Device's default endpoint mapping applies.
    this.endpoints = { dps: { host: this.emu.host, port: this.emu.port, ca: this.emu.serverCaPem }, idScope: this.emu.idScope };
    return this.initDevice();
  }

  private initDevice(): this {
    this.rt = new FakeRt(this.clock, this.opts.rt);
    this.ap = new SimulatedAccessPoint('rover-net', 'pa55word');
    this.radio = new SimulatedRadio(this.clock, [this.ap], 1500);
    this.net = new SimulatedNetwork(new TlsNetworkLink(), false);
    this.radio.onLink = (up) => this.net.setUp(up);
    this.storage = new SqliteStorage(join(this.dir, 'outbox.db'), { storeId: 'rv1' });
    this.device = this.makeDevice(this.rt.channel);
    return this;
  }
  private creating = false;

  readonly ca: CertificateAuthorityClient = {
    issue: async (csr, deviceId) => {
      this.caCalls++;
      const c = await this.svc.issueDeviceCertificate(csr, deviceId);
      return { certificate: c.certificate, chain: c.chain };
    },
  };

  makeDevice(channel: DeviceOptions['intercore']): Device {
    return new Device({
      clock: this.clock,
      random: seededRandom(1234),
      deviceId: 'rover-7',
      firmwareVersion: '1.0.0-test',
      intercore: channel,
      radio: this.radio,
      networks: [{ ssid: 'rover-net', psk: 'pa55word' }],
      link: this.net,
      secureStore: this.store,
      storage: this.storage,
      ca: this.ca,
      cloud: this.endpoints,
      backoff: { baseMs: 1000, capMs: 60_000 },
      log: (l) => this.log.push(l),
      ...this.opts.device,
    });
  }

  /**
   * Advances simulated time in steps until cond() holds. While the device does real I/O (a TLS
   * handshake, PUBACKs in flight) time stands still for up to `patienceMs` of real time, so a slow
   * machine cannot turn a loopback round trip into a simulated timeout.
   */
  async until(cond: () => boolean, what: string, o: { stepMs?: number; maxSimMs?: number; patienceMs?: number } = {}): Promise<void> {
    const step = o.stepMs ?? 250;
    const end = this.clock.now() + (o.maxSimMs ?? 600_000);
    while (!cond()) {
      if (this.clock.now() >= end) throw new Error(`simulated ${new Date(this.clock.now()).toISOString()}: gave up waiting for ${what}\n${this.log.slice(-15).join('\n')}`);
      await realTick();
      const start = Date.now();
      while (this.device.busy && Date.now() - start < (o.patienceMs ?? 100) && !cond()) await realSleep(1);
      await realTick();
      if (!cond()) this.clock.advance(step);
    }
  }

  async run(ms: number, stepMs = 250): Promise<void> {
    const end = this.clock.now() + ms;
    await this.until(() => this.clock.now() >= end, `${ms} ms to pass`, { stepMs, maxSimMs: ms + stepMs });
  }

  async close(): Promise<void> {
    this.device.stop();
    this.rt.stop();
    if (this.emu) await this.emu.close();
    else await this.cloud.stop();
    try {
      this.storage.close();
    } catch {}
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export { seededRandom };
