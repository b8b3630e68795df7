// A device built from the official Azure IoT SDK for Node, unchanged, driven over stdin/stdout JSON
// lines by the hub tests. It runs in its own process because the DPS MQTT transport has no `ca` option:
// the emulator's server CA is trusted through NODE_EXTRA_CA_CERTS, which Node reads only at start-up
// (azure-iot-protocols.md, "DPS").
//   in:  {"id":1,"op":"register"|"open"|"send"|"getTwin"|"report"|"onMethod"|"close", ...}
//   out: {"id":1,"ok":true,...} | {"id":1,"ok":false,"error":"..."} | {"event":"desired"|"method"|"c2d"|"error",...}
import { createInterface } from 'node:readline';
import deviceSdk from 'azure-iot-device';
import deviceMqtt from 'azure-iot-device-mqtt';
import provisioningSdk from 'azure-iot-provisioning-device';
import provisioningMqtt from 'azure-iot-provisioning-device-mqtt';
import securityX509 from 'azure-iot-security-x509';

const { Client, Message } = deviceSdk as any;
const { Mqtt } = deviceMqtt as any;
const { ProvisioningDeviceClient } = provisioningSdk as any;
const ProvisioningMqtt = (provisioningMqtt as any).Mqtt;
const { X509Security } = securityX509 as any;

const out = (o: unknown) => process.stdout.write(JSON.stringify(o) + '\n');
const cb = <T>(f: (done: (err: Error | null | undefined, r?: T) => void) => void) =>
  new Promise<T>((resolve, reject) => f((err, r) => (err ? reject(err) : resolve(r as T))));

let client: any = null;
let twin: any = null;

const ops: Record<string, (c: any) => Promise<Record<string, unknown>>> = {
  async register(c) {
    const security = new X509Security(c.registrationId, { cert: c.certPem, key: c.keyPem });
    const prov = ProvisioningDeviceClient.create(c.provisioningHost, c.idScope, new ProvisioningMqtt(), security);
    if (c.modelId) prov.setProvisioningPayload({ modelId: c.modelId });
    const r: any = await cb((done) => prov.register(done));
    return { assignedHub: r.assignedHub, deviceId: r.deviceId, status: r.status, substatus: r.substatus, payload: r.payload ?? null };
  },
  async open(c) {
    client = Client.fromConnectionString(`HostName=${c.hubHost};DeviceId=${c.deviceId};x509=true`, Mqtt);
    // The device transport passes `ca` on to MQTT.js (azure-iot-mqtt-base: options.ca).
    await cb((done) => client.setOptions({ cert: c.certPem, key: c.keyPem, ca: c.ca, ...(c.modelId ? { modelId: c.modelId } : {}) }, done));
    client.on('error', (e: Error) => out({ event: 'error', message: e.message }));
    client.on('disconnect', () => out({ event: 'disconnect' }));
    client.on('message', (m: any) => {
      const props: Record<string, string> = {};
      for (let i = 0; i < m.properties.count(); i++) {
        const p = m.properties.getItem(i);
        props[p.key] = p.value;
      }
      out({ event: 'c2d', messageId: m.messageId ?? null, body: m.data.toString('utf8'), props });
      client.complete(m, () => undefined);
    });
    await cb((done) => client.open(done));
    return {};
  },
  async send(c) {
    const m = new Message(c.body);
    if (c.messageId) m.messageId = c.messageId;
    if (c.contentType) m.contentType = c.contentType;
    if (c.contentEncoding) m.contentEncoding = c.contentEncoding;
    for (const [k, v] of Object.entries((c.props ?? {}) as Record<string, string>)) m.properties.add(k, v);
    await cb((done) => client.sendEvent(m, done));
    return {};
  },
  async getTwin() {
    twin = await cb((done) => client.getTwin(done));
    if (!twin.__roverListening) {
      twin.__roverListening = true;
      twin.on('properties.desired', (d: unknown) => out({ event: 'desired', desired: d }));
    }
    return { desired: twin.properties.desired, reported: twin.properties.reported };
  },
  async report(c) {
    await cb((done) => twin.properties.reported.update(c.patch, done));
    return {};
  },
  async onMethod(c) {
    client.onDeviceMethod(c.name, (req: any, res: any) => {
      out({ event: 'method', name: req.methodName, payload: req.payload ?? null, requestId: req.requestId });
      res.send(c.status, c.response, (err: Error | null) => err && out({ event: 'error', message: err.message }));
    });
    return {};
  },
  async close() {
    if (client) await cb((done) => client.close(done));
    client = null;
    setImmediate(() => process.exit(0));
    return {};
  },
};

const rl = createInterface({ input: process.stdin });
rl.on('line', async (line) => {
  let c: any;
  try {
    c = JSON.parse(line);
  } catch {
    return out({ ok: false, error: `not JSON: ${line.slice(0, 80)}` });
  }
  const f = ops[c.op];
  if (!f) return out({ id: c.id, ok: false, error: `unknown op ${c.op}` });
  try {
    out({ id: c.id, ok: true, ...(await f(c)) });
  } catch (e) {
    const err = e as Error & { transportError?: Error };
    out({ id: c.id, ok: false, error: `${err.name}: ${err.message}${err.transportError ? ` (${err.transportError.message})` : ''}` });
  }
});
rl.on('close', () => process.exit(0));
