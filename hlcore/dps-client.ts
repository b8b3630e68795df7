// Device Provisioning Service registration over MQTT with X.509 (azure-iot-protocols.md, "Device
// Provisioning Service (DPS) over MQTT"). The payload carries the model ID so IoT Central links the
// device to its template ("IoT Central links a device to its template with DPS payload {modelId}").
import type { MqttClient } from 'mqtt';
import type { Clock } from './clock.ts';
import type { ClientCredentials, NetworkLink, TlsEndpoint } from './network.ts';
import { ConnectFailure, openMqtt, parseBag } from './mqtt-connection.ts';

export interface DpsOptions {
  link: NetworkLink;
  clock: Clock;
  endpoint: TlsEndpoint;
  creds: ClientCredentials;
  idScope: string;
  /** with X.509, the leaf certificate CN (= device ID) */
  registrationId: string;
  modelId: string;
  /** whole registration on the Clock (default 5 min) */
  timeoutMs?: number;
  /** wait when a reply has no retry-after (default 3 s) */
  defaultRetryAfterS?: number;
}

export interface Assignment {
  assignedHub: string;
  deviceId: string;
}

export const DPS_API = '2019-03-31';
export const dpsUsername = (idScope: string, registrationId: string) => `${idScope}/registrations/${registrationId}/api-version=${DPS_API}`;
export const DPS_RES_FILTER = '$dps/registrations/res/#';
export const dpsRegisterTopic = (rid: number) => `$dps/registrations/PUT/iotdps-register/?$rid=${rid}`;
export const dpsPollTopic = (rid: number, operationId: string) => `$dps/registrations/GET/iotdps-get-operationstatus/?$rid=${rid}&operationId=${operationId}`;
const RES = /^\$dps\/registrations\/res\/(\d{3})\/\?(.*)$/;

export async function provision(o: DpsOptions): Promise<Assignment> {
  const client = await openMqtt({
    link: o.link,
    clock: o.clock,
    endpoint: o.endpoint,
    creds: o.creds,
    clientId: o.registrationId, // "Client id = registrationId"
    username: dpsUsername(o.idScope, o.registrationId),
    clean: true, // "clean session"
  });
  try {
    return await register(client, o);
  } finally {
    client.end(true);
  }
}

function register(client: MqttClient, o: DpsOptions): Promise<Assignment> {
  return new Promise((resolve, reject) => {
    let rid = 1;
    let timer: () => void = () => {};
    let settled = false;
    const finish = (err: Error | null, a?: Assignment) => {
      if (settled) return;
      settled = true;
      timer();
      overall();
      client.removeAllListeners('message');
      if (err) reject(err);
      else resolve(a!);
    };
    const overall = o.clock.at(o.clock.now() + (o.timeoutMs ?? 300_000), () => finish(new ConnectFailure('broker-unreachable', 'DPS registration did not finish in time')));
    client.on('close', () => finish(new ConnectFailure('broker-unreachable', 'DPS connection closed during registration')));
    client.on('message', (topic, payload) => {
      const m = RES.exec(topic);
      if (!m) return;
      const status = Number(m[1]);
      const bag = parseBag(m[2]);
      if (Number(bag['$rid']) !== rid) return; // an answer to an older request
      let body: any;
      try {
        body = payload.length ? JSON.parse(payload.toString('utf8')) : {};
      } catch {
        return finish(new ConnectFailure('protocol', `DPS reply ${status} is not JSON`));
      }
      const wait = Number(bag['retry-after'] ?? o.defaultRetryAfterS ?? 3) * 1000;
      if (status === 200 && body.status === 'assigned') {
        const st = body.registrationState ?? {};
        if (!st.assignedHub || !st.deviceId) return finish(new ConnectFailure('protocol', 'DPS said assigned without assignedHub / deviceId'));
        return finish(null, { assignedHub: st.assignedHub, deviceId: st.deviceId });
      }
      if (status < 300 && (body.status === 'assigning' || body.status === 'unassigned') && body.operationId) {
        // 202 (or 200 while assigning): poll after retry-after seconds, on the Clock.
        timer = o.clock.at(o.clock.now() + wait, () => {
          rid++;
          client.publish(dpsPollTopic(rid, body.operationId), ' ', { qos: 0 }); // Node SDK: one-space body
        });
        return;
      }
      if (status < 300) return finish(new ConnectFailure('protocol', `DPS registration ${body.status ?? 'unknown'}: ${JSON.stringify(body.registrationState?.errorMessage ?? body.errorMessage ?? '')}`));
      if (status === 401 || status === 403) return finish(new ConnectFailure('auth-refused', `DPS refused the registration (${status}): ${body.message ?? body.errorMessage ?? ''}`));
      if (status >= 429) {
        // azure-iot-protocols.md: ">=429 retry"
        timer = o.clock.at(o.clock.now() + wait, () => {
          rid++;
          sendRegister();
        });
        return;
      }
      finish(new ConnectFailure('protocol', `DPS answered ${status}: ${body.message ?? body.errorMessage ?? JSON.stringify(body).slice(0, 200)}`));
    });
    const sendRegister = () =>
      client.publish(dpsRegisterTopic(rid), JSON.stringify({ registrationId: o.registrationId, payload: { modelId: o.modelId } }), { qos: 1 });
    client.subscribe(DPS_RES_FILTER, { qos: 1 }, (err) => {
      if (err) return finish(new ConnectFailure('protocol', `DPS subscribe failed: ${err.message}`));
      sendRegister();
    });
  });
}
