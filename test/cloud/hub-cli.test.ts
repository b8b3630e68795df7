// `rover cloud` as an operator or a script runs it: starts, creates the tenant, prints its endpoints as
// a JSON line, serves a device (a DPS registration over MQTT.js), and stops cleanly with exit 0 on SIGTERM.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import mqtt from 'mqtt';
import { ManualClock } from '../../sim/cloud/clock.ts';
import { SecurityService } from '../../sim/cloud/security-service.ts';
import { EC_P256, exportPkcs8Pem, generateP256, px, toPem } from '../../sim/cloud/x509.ts';
import { guard } from './hub-fixture.ts';
import { repoRoot, tempDir } from './_util.ts';

const s = suite('cloud/hub-cli');
const AT = '2026-05-01T10:00:00Z';

s('rover cloud --json: endpoints, a DPS registration, SIGTERM -> exit 0', async () => {
  const tmp = tempDir('hubcli');
  const state = join(tmp.dir, 'state');
  const child = spawn(process.execPath, ['--import', 'tsx', 'tools/rover.ts', 'cloud', '--state', state, '--port', '0', '--at', AT, '--enroll', 'rovers', '--json'], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const lines: any[] = [];
  const waiting: { pred: (o: any) => boolean; resolve: (o: any) => void }[] = [];
  createInterface({ input: child.stdout! }).on('line', (l) => {
    const o = JSON.parse(l);
    lines.push(o);
    for (const w of [...waiting]) if (w.pred(o)) (waiting.splice(waiting.indexOf(w), 1), w.resolve(o));
  });
  const line = (pred: (o: any) => boolean, what: string) => {
    const seen = lines.find(pred);
    return seen ? Promise.resolve(seen) : guard(new Promise<any>((resolve) => waiting.push({ pred, resolve })), 30_000, `${what} (stderr: ${stderr})`);
  };
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  try {
    const info = await line((o) => o.event === 'listening', 'listening line');
    assert.ok(info.port > 0);
    assert.is(info.host, '127.0.0.1');
    assert.is(info.dpsHost, `127.0.0.1:${info.port}`);
    assert.is(info.hubHost, `127.0.0.1:${info.port}`);
    assert.match(info.idScope, /^0ne[0-9A-F]{8}$/);
    assert.ok(info.tenantCreated);
    assert.is(info.enrolled.group, 'rovers');
    assert.is(info.enrolled.thumbprint, info.activeCa);
    assert.ok(existsSync(info.serverCaPath));
    assert.is(statSync(join(state, 'cloud', 'server.key')).mode & 0o777, 0o600);

    // A device identity from the same tenant, then a DPS registration against the running emulator.
    const ss = await SecurityService.open(join(state, 'security-service'), { clock: new ManualClock(Date.parse(AT)) });
    const keys = await generateP256();
    const csr = await px.Pkcs10CertificateRequestGenerator.create({ name: 'CN=rover-cli-1', keys, signingAlgorithm: EC_P256 });
    const cert = await ss.issueDeviceCertificate(new Uint8Array(csr.rawData), 'rover-cli-1');
    const c = await mqtt.connectAsync(`mqtts://${info.dpsHost}`, {
      clientId: 'rover-cli-1',
      username: `${info.idScope}/registrations/rover-cli-1/api-version=2019-03-31`,
      protocolVersion: 4,
      clean: true,
      reconnectPeriod: 0,
      cert: toPem(cert.certificate) + toPem(cert.chain[0]),
      key: await exportPkcs8Pem(keys.privateKey),
      ca: readFileSync(info.serverCaPath, 'utf8'),
    });
    await c.subscribeAsync('$dps/registrations/res/#', { qos: 1 });
    const reply = new Promise<string>((r) => c.once('message', (t) => r(t)));
    await c.publishAsync('$dps/registrations/PUT/iotdps-register/?$rid=1', JSON.stringify({ registrationId: 'rover-cli-1' }), { qos: 1 });
    assert.match(await guard(reply, 10_000, 'DPS reply'), /^\$dps\/registrations\/res\/202\/\?\$rid=1&retry-after=3$/);
    const reg = await line((o) => o.event === 'registered', 'registered line');
    assert.is(reg.registrationId, 'rover-cli-1');
    assert.is(reg.group, 'rovers');
    await c.endAsync();

    child.kill('SIGTERM');
    assert.is(await guard(exited, 20_000, 'exit'), 0, stderr);
    assert.ok(lines.some((o) => o.event === 'stopped'));
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    tmp.remove();
  }
});

s('rover cloud: a bad --port is a usage error (exit 2, one line)', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'tools/rover.ts', 'cloud', '--port', '99999'], { cwd: repoRoot, encoding: 'utf8' });
  assert.is(r.status, 2);
  assert.is(r.stderr.trim().split('\n').length, 1);
  assert.match(r.stderr, /--port: expected a TCP port/);
});

s.run();
