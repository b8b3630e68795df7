// Tenant CA rotation against the rules of reference/tenant-ca.md, computed here independently:
// lifetime two years from creation; the new CA is created `lead` days before the active one expires and
// becomes Active `delay` days after its creation; exactly one CA is Active; labels new / retired / expired.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { X509Certificate } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ManualClock } from '../../sim/cloud/clock.ts';
import { SecurityService, SecurityServiceError } from '../../sim/cloud/security-service.ts';
import { DAY, addYearsUtc, tempDir, utc } from './_util.ts';

interface Expected {
  createdAt: number;
  activeFrom: number;
  notAfter: number;
}

/** The schedule tenant-ca.md gives, up to `until`. */
function schedule(t0: number, lead: number, delay: number, until: number): Expected[] {
  const out: Expected[] = [{ createdAt: t0, activeFrom: t0, notAfter: addYearsUtc(t0, 2) }];
  for (;;) {
    const last = out[out.length - 1];
    const createdAt = last.notAfter - lead * DAY;
    if (createdAt > until) return out;
    out.push({ createdAt, activeFrom: createdAt + delay * DAY, notAfter: addYearsUtc(createdAt, 2) });
  }
}

const T0 = utc('2026-01-01T00:00:00Z');
const FIVE_YEARS = 5 * 365 * DAY + DAY;

const s = suite('cloud/rotation');

for (const [policy, lead, delay] of [
  ['2020', 60, 30],
  ['later', 90, 45],
] as const) {
  s(`five-year walk, day by day, policy ${policy} (${lead}/${delay} days)`, async () => {
    const tmp = tempDir('walk');
    try {
      const clock = new ManualClock(T0);
      const ss = await SecurityService.createTenant(tmp.dir, { clock, policy });
      const want = schedule(T0, lead, delay, T0 + FIVE_YEARS);
      assert.is(want.length, 3, 'a five-year walk crosses two rotations');
      const seen = new Set<number>();
      for (let d = 0; d <= FIVE_YEARS / DAY; d++) {
        const t = T0 + d * DAY + 12 * 3_600_000; // noon: away from the midnight boundaries checked below
        clock.set(t);
        const list = await ss.list();
        const visible = want.filter((w) => w.createdAt <= t);
        assert.is(list.length, visible.length, `day ${d}: CAs that exist`);
        const active = list.filter((c) => c.status === 'Active');
        assert.is(active.length, 1, `day ${d}: exactly one Active CA`);
        const expectActive = visible.reduce((a, w, i) => (w.activeFrom <= t ? i : a), 0);
        assert.is(active[0].index, expectActive, `day ${d}: the Active CA`);
        for (const ca of list) {
          const w = want[ca.index];
          assert.equal([ca.createdAt, ca.activeFrom, ca.notAfter], [w.createdAt, w.activeFrom, w.notAfter], `day ${d}: CA ${ca.index} dates`);
          if (ca.status === 'Active') continue;
          assert.is(ca.status, 'Inactive');
          const ahead = ca.notAfter - t;
          if (t < w.activeFrom) {
            assert.is(ca.label, 'new', `day ${d}: CA ${ca.index} not yet Active`);
            assert.ok(ahead > (730 - delay - 1) * DAY, 'a new CA has notAfter about two years ahead');
          } else if (ahead > 0) {
            assert.is(ca.label, 'retired', `day ${d}: CA ${ca.index} superseded`);
            assert.ok(ahead <= lead * DAY, `a retired CA expires within the ${lead}-day lead time`);
          } else {
            assert.is(ca.label, 'expired', `day ${d}: CA ${ca.index} past notAfter`);
          }
          seen.add(ca.index * 10 + ['new', 'retired', 'expired'].indexOf(ca.label!));
        }
      }
      // Seen over five years (key = index * 10 + [new, retired, expired]): CA 0 retired and expired,
      // CA 1 new, retired and expired, CA 2 new.
      assert.equal([...seen].sort((a, b) => a - b), [1, 2, 10, 11, 12, 20]);
      // The certificates carry the schedule's dates (read by OpenSSL through node:crypto, not by our code).
      for (const ca of await ss.list()) {
        const x = new X509Certificate(ca.der);
        assert.is(Date.parse(x.validFrom), want[ca.index].createdAt);
        assert.is(Date.parse(x.validTo), want[ca.index].notAfter);
        assert.ok(x.ca, 'a tenant CA is a CA');
        assert.ok(x.checkIssued(new X509Certificate(ss.rootCertificate)), 'issued by the Security Service root');
      }
      // Exact boundaries: one second before and at each activation.
      for (const w of want.slice(1)) {
        const idx = want.indexOf(w);
        clock.set(w.activeFrom - 1000);
        assert.is((await ss.find()).index, idx - 1, 'old CA Active up to the activation instant');
        clock.set(w.activeFrom);
        assert.is((await ss.find()).index, idx, 'new CA Active from its activation instant');
      }
    } finally {
      tmp.remove();
    }
  });
}

s('a jump of years creates every intermediate CA at its scheduled date, and survives a restart', async () => {
  const tmp = tempDir('jump');
  try {
    const clock = new ManualClock(T0);
    await SecurityService.createTenant(tmp.dir, { clock });
    const far = T0 + 7 * 365 * DAY;
    clock.set(far);
    const ss = await SecurityService.open(tmp.dir, { clock });
    const list = await ss.list();
    const want = schedule(T0, 60, 30, far);
    assert.equal(
      list.map((c) => [c.createdAt, c.activeFrom, c.notAfter]),
      want.map((w) => [w.createdAt, w.activeFrom, w.notAfter]),
    );
    // Restart: same CAs, same thumbprints; looking back shows the past as it was.
    const again = await SecurityService.open(tmp.dir, { clock: new ManualClock(far) });
    assert.equal((await again.list()).map((c) => c.thumbprint), list.map((c) => c.thumbprint));
    const past = await SecurityService.open(tmp.dir, { clock: new ManualClock(T0 + 400 * DAY) });
    const pastList = await past.list();
    assert.is(pastList.length, 1);
    assert.is(pastList[0].status, 'Active');
  } finally {
    tmp.remove();
  }
});

s('revoking the Active CA: the pending new CA, or a replacement, is Active at once; history is not rewritten', async () => {
  const tmp = tempDir('revoke');
  try {
    const clock = new ManualClock(T0 + 100 * DAY);
    const ss = await SecurityService.createTenant(tmp.dir, { clock });
    clock.advance(100 * DAY);
    const r = await ss.revokeCa({ index: 0 });
    assert.is(r.status, 'Revoked');
    let list = await ss.list();
    assert.equal(list.map((c) => [c.index, c.status]), [[0, 'Revoked'], [1, 'Active']]);
    assert.is(list[1].createdAt, clock.now());
    assert.is(list[1].notAfter, addYearsUtc(clock.now(), 2));
    // The schedule continues from the replacement: its successor appears lead days before it expires.
    clock.set(list[1].notAfter - 60 * DAY);
    list = await ss.list();
    assert.is(list.length, 3);
    assert.is(list[2].createdAt, list[1].notAfter - 60 * DAY);
    // Revoke the Active CA while the new one is pending: the pending one takes over now.
    clock.advance(3 * DAY);
    await ss.revokeCa({ index: 1 });
    list = await ss.list();
    assert.equal(list.map((c) => c.status), ['Revoked', 'Revoked', 'Active']);
    assert.is(list.length, 3, 'no extra CA when one is pending');
    // Before the revocation, the past is unchanged.
    clock.set(T0 + 150 * DAY);
    assert.equal((await ss.list()).map((c) => c.status), ['Active']);
  } finally {
    tmp.remove();
  }
});

s('a change dated before the newest CA would rewrite history: refused with a one-line reason', async () => {
  const tmp = tempDir('rewrite');
  try {
    const clock = new ManualClock(T0);
    const ss = await SecurityService.createTenant(tmp.dir, { clock });
    clock.set(T0 + 700 * DAY);
    assert.is((await ss.list()).length, 2);
    clock.set(T0 + 600 * DAY);
    try {
      await ss.revokeCa({ index: 0 });
      assert.unreachable('revocation before the newest CA');
    } catch (e) {
      assert.instance(e, SecurityServiceError);
      assert.is((e as SecurityServiceError).code, 'time');
      assert.not.match((e as Error).message, /\n/);
    }
    clock.set(T0 + 700 * DAY);
    assert.equal((await ss.list()).map((c) => `${c.status} ${c.label}`), ['Inactive retired', 'Active null'], 'nothing changed');
  } finally {
    tmp.remove();
  }
});

s('key files are mode 0600 in a 0700 directory; no private key in the public state', async () => {
  const tmp = tempDir('modes');
  try {
    const clock = new ManualClock(T0);
    const ss = await SecurityService.createTenant(tmp.dir, { clock });
    clock.set(T0 + 700 * DAY); // one rotation: a second CA key
    await ss.list();
    const keys = readdirSync(join(tmp.dir, 'keys')).sort();
    assert.equal(keys, ['ca-0.key', 'ca-1.key', 'root.key']);
    for (const k of keys) assert.is(statSync(join(tmp.dir, 'keys', k)).mode & 0o777, 0o600, k);
    assert.is(statSync(join(tmp.dir, 'keys')).mode & 0o777, 0o700);
    assert.is(statSync(join(tmp.dir, 'tenant.json')).mode & 0o777, 0o600);
    const pub = readFileSync(join(tmp.dir, 'tenant.json'), 'utf8');
    assert.not.match(pub, /PRIVATE KEY/);
    assert.equal(readdirSync(tmp.dir).sort(), ['keys', 'tenant.json'], 'no temp files left behind');
  } finally {
    tmp.remove();
  }
});

s.run();
