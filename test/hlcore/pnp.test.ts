// Names, topics and shapes against their independent sources: the DTDL file read as plain JSON,
// and the strings of azure-iot-protocols.md. Also: a batch is acknowledged to the RT core only once
// its outbox insert committed (PROTOCOL.md, 0x81 ACK "received and stored").
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { COMMANDS, MODEL_ID, REPORTED, TELEMETRY, WRITABLE, writableAck } from '../../hlcore/pnp.ts';
import { hubUsername, TOPIC } from '../../hlcore/hub-client.ts';
import { dpsPollTopic, dpsRegisterTopic, dpsUsername, DPS_RES_FILTER } from '../../hlcore/dps-client.ts';
import { classify, propertyBag } from '../../hlcore/mqtt-connection.ts';
import { hubEndpoint } from '../../hlcore/device.ts';
import { ManualClock } from '../../hlcore/manual-clock.ts';
import { IntercoreClient } from '../../hlcore/intercore/client.ts';
import { Outbox } from '../../hlcore/outbox.ts';
import { SqliteStorage } from '../../hlcore/sqlite-storage.ts';
import { FakeRt } from './_rt.ts';

const root = new URL('../..', import.meta.url).pathname;
const p = suite('hlcore PnP names, topics and shapes');

p('every name hlcore uses is in rover.dtdl.json with the right kind; the interface is DTDL v2', () => {
  const dtdl = JSON.parse(readFileSync(join(root, 'hlcore/rover.dtdl.json'), 'utf8'));
  assert.is(dtdl['@context'], 'dtmi:dtdl:context;2');
  assert.is(dtdl['@type'], 'Interface');
  assert.match(dtdl['@id'], /^dtmi:[A-Za-z][A-Za-z0-9_]*(:[A-Za-z][A-Za-z0-9_]*)*;[1-9][0-9]*$/);
  assert.is(MODEL_ID, dtdl['@id']);
  const kinds = (e: any) => (Array.isArray(e['@type']) ? e['@type'] : [e['@type']]);
  const has = (kind: string, name: string, writable?: boolean) =>
    dtdl.contents.some((e: any) => e.name === name && kinds(e).includes(kind) && (writable === undefined || Boolean(e.writable) === writable));
  for (const n of Object.values(TELEMETRY)) assert.ok(has('Telemetry', n), `telemetry ${n}`);
  for (const n of Object.values(REPORTED)) assert.ok(has('Property', n, false), `reported property ${n}`);
  for (const n of Object.values(WRITABLE)) assert.ok(has('Property', n, true), `writable property ${n}`);
  for (const n of Object.values(COMMANDS)) assert.ok(has('Command', n), `command ${n}`);
  assert.equal(Object.values(WRITABLE).sort(), ['airTemperatureC', 'alertDistanceCm', 'batchPeriodMs', 'pollPeriodMs']);
  assert.equal(Object.values(COMMANDS).sort(), ['rtStatus', 'sensorPowerCycle']);
  const names = dtdl.contents.map((e: any) => e.name);
  assert.is(new Set(names).size, names.length, 'names unique within the interface');
});

p('hlcore sources use no payload name outside the DTDL: every PnP name goes through pnp.ts', () => {
  // Quoted identifiers in hlcore that equal a DTDL name may appear only in pnp.ts (the one list).
  const dtdl = JSON.parse(readFileSync(join(root, 'hlcore/rover.dtdl.json'), 'utf8'));
  const names = new Set<string>(dtdl.contents.map((e: any) => e.name));
  const offenders: string[] = [];
  for (const f of readdirSync(join(root, 'hlcore')).filter((f) => f.endsWith('.ts') && f !== 'pnp.ts')) {
    const text = readFileSync(join(root, 'hlcore', f), 'utf8');
    for (const m of text.matchAll(/\[?'([A-Za-z][A-Za-z0-9]*)'\]?\s*:/g)) if (names.has(m[1])) offenders.push(`${f}: '${m[1]}'`);
  }
  assert.equal(offenders, []);
});

p('writable-property acknowledgement shapes (azure-iot-protocols.md)', () => {
  assert.equal(writableAck(200, 200, 7, 'applied'), { value: 200, ac: 200, av: 7, ad: 'applied' });
  assert.equal(Object.keys(writableAck(1, 400, 3, 'no')), ['value', 'ac', 'av', 'ad']);
  assert.equal(writableAck(5, 203, 9, 'device default'), { value: 5, ac: 203, av: 0, ad: 'device default' }, '203 device-set: av 0');
});

p('usernames and topics exactly as azure-iot-protocols.md', () => {
  assert.is(hubUsername('h.azure-devices.net', 'dev1', 'dtmi:com:example:X;1'), 'h.azure-devices.net/dev1/?api-version=2021-04-12&model-id=dtmi:com:example:X;1');
  assert.is(dpsUsername('0ne0001', 'dev1'), '0ne0001/registrations/dev1/api-version=2019-03-31');
  assert.is(DPS_RES_FILTER, '$dps/registrations/res/#');
  assert.is(dpsRegisterTopic(1), '$dps/registrations/PUT/iotdps-register/?$rid=1');
  assert.is(dpsPollTopic(2, 'op'), '$dps/registrations/GET/iotdps-get-operationstatus/?$rid=2&operationId=op');
  assert.is(TOPIC.twinRes, '$iothub/twin/res/#');
  assert.is(TOPIC.twinGet(4), '$iothub/twin/GET/?$rid=4');
  assert.is(TOPIC.twinPatch(5), '$iothub/twin/PATCH/properties/reported/?$rid=5');
  assert.is(TOPIC.desired, '$iothub/twin/PATCH/properties/desired/#');
  assert.is(TOPIC.methods, '$iothub/methods/POST/#');
  assert.is(TOPIC.methodRes(200, '9'), '$iothub/methods/res/200/?$rid=9');
  assert.is(TOPIC.devicebound('dev1'), 'devices/dev1/messages/devicebound/#');
  assert.is(TOPIC.telemetry('dev1', propertyBag({ '$.ct': 'application/json', '$.ce': 'utf-8' })), 'devices/dev1/messages/events/$.ct=application%2Fjson&$.ce=utf-8');
  assert.equal(hubEndpoint('127.0.0.1:4567'), { host: '127.0.0.1', port: 4567, ca: undefined });
  assert.equal(hubEndpoint('x.azure-devices.net'), { host: 'x.azure-devices.net', port: 8883, ca: undefined });
});

p('failure classification: network down, broker unreachable, TLS refused, auth refused', () => {
  const err = (code: string | number, message = 'x') => Object.assign(new Error(message), { code });
  assert.is(classify(err('ENETDOWN')).kind, 'network-down');
  assert.is(classify(err('ENETUNREACH')).kind, 'network-down');
  assert.is(classify(err('ECONNREFUSED')).kind, 'broker-unreachable');
  assert.is(classify(err('ENOTFOUND')).kind, 'broker-unreachable');
  assert.is(classify(err('UNABLE_TO_VERIFY_LEAF_SIGNATURE')).kind, 'tls-refused');
  assert.is(classify(err('ERR_TLS_CERT_ALTNAME_INVALID')).kind, 'tls-refused');
  assert.is(classify(err('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA')).kind, 'auth-refused');
  assert.is(classify(err('ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE')).kind, 'auth-refused');
  // MQTT 3.1.1, 3.2.2.3 CONNACK return codes.
  assert.is(classify(err(5, 'Connection refused: Not authorized')).kind, 'auth-refused');
  assert.is(classify(err(4)).kind, 'auth-refused');
  assert.is(classify(err(2)).kind, 'auth-refused');
  assert.is(classify(err(3)).kind, 'broker-unreachable');
  assert.is(classify(err('ECONNRESET'), true).kind, 'auth-refused', 'reset after the handshake, before CONNACK');
  assert.is(classify(err('ECONNRESET'), false).kind, 'broker-unreachable');
});

p('a batch is acknowledged to the RT core only after the outbox insert committed', () => {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const rt = new FakeRt(clock);
  const storage = new SqliteStorage(':memory:', { storeId: 't' });
  const box = new Outbox(storage, { maxRows: 100, maxBytes: 1 << 20 });
  let failing = true;
  new IntercoreClient(rt.channel, clock, {
    batch: (b) => {
      if (failing) return Promise.reject(new Error('disk full')); // how hlcore/device.ts reports a failed insert
      box.append({ kind: 'batch', createdMs: clock.now(), source: { seq: b.seq, digest: String(b.seq) }, body: () => '{}' });
    },
  });
  clock.advance(5000);
  assert.is(rt.unacked.size, 1, 'not stored, not acknowledged');
  failing = false;
  clock.advance(1000); // PROTOCOL.md: resent after 1 s
  assert.is(rt.unacked.size, 0, 'stored, then acknowledged');
  assert.is(storage.counters().rows, 1);
  rt.stop();
  storage.close();
});

p.run();
