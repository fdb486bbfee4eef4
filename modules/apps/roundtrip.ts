// The platform round trip, for proving a build on a device or the simulator: status with a
// will, periodic QoS 1 telemetry, commands answered on a response topic, 16 KB messages both
// ways, and reconnects reported. Topics live under rt/<device>/.

import type { MqttClient, Message } from "../mqtt/client.js";
import { decodeUtf8 } from "../mqtt/utf8.js";

export interface RoundTripOptions {
  device: string;
  intervalMs: number;
  log(line: string): void;
  setInterval(callback: () => void, ms: number): void;
  now(): number;
}

export function roundTripTopics(device: string) {
  const base = `rt/${device}`;
  return {
    status: `${base}/status`,
    telemetry: `${base}/telemetry`,
    command: `${base}/cmd`,
    response: `${base}/response`,
    blob: `${base}/blob`,
    blobIn: `${base}/blobin`,
  };
}

/** The will to configure on the client, so the status turns "offline" on an abrupt loss. */
export function roundTripWill(device: string) {
  return { topic: roundTripTopics(device).status, payload: "offline", qos: 1 as const, retain: true };
}

export function runRoundTrip(client: MqttClient, options: RoundTripOptions): void {
  const topics = roundTripTopics(options.device);
  const started = options.now();
  let seq = 0;
  const respond = (body: Record<string, unknown>): void => {
    client.publish(topics.response, JSON.stringify(body), { qos: 1 }).catch((e) => options.log(`response failed: ${String(e)}`));
  };

  client.on("connected", ({ sessionPresent }) => {
    options.log(`connected sessionPresent=${sessionPresent}`);
    client.publish(topics.status, "online", { qos: 1, retain: true }).catch(() => {});
  });
  client.on("disconnected", ({ error, reconnectInMs }) => options.log(`disconnected ${error?.code ?? ""} retry in ${reconnectInMs ?? "-"} ms`));
  client.on("error", (e) => options.log(`error ${e.code}: ${e.message}`));

  client.subscribe(topics.command, { qos: 1 }, (m: Message) => {
    let command: { id?: unknown; op?: unknown; size?: unknown };
    try {
      command = JSON.parse(decodeUtf8(m.payload, 0, m.payload.length));
    } catch {
      respond({ id: null, ok: false, error: "malformed JSON" });
      return;
    }
    const id = command.id ?? null;
    if (command.op === "ping") {
      respond({ id, ok: true });
    } else if (command.op === "blob") {
      const size = Number(command.size);
      if (!Number.isInteger(size) || size < 0 || size > 65_536) {
        respond({ id, ok: false, error: "size must be an integer 0..65536" });
        return;
      }
      const blob = new Uint8Array(size);
      for (let i = 0; i < size; i++) blob[i] = i & 255;
      client.publish(topics.blob, blob, { qos: 1 })
        .then(() => respond({ id, ok: true, size }))
        .catch((e) => respond({ id, ok: false, error: String(e) }));
    } else {
      respond({ id, ok: false, error: `unknown op ${String(command.op)}` });
    }
  }).catch((e) => options.log(`subscribe failed: ${String(e)}`));

  client.subscribe(topics.blobIn, { qos: 1 }, (m: Message) => {
    let sum = 0;
    for (let i = 0; i < m.payload.length; i++) sum = (sum + m.payload[i] * (i + 1)) >>> 0;
    options.log(`blob in ${m.payload.length} bytes`);
    respond({ id: "blobin", ok: true, size: m.payload.length, sum });
  }).catch((e) => options.log(`subscribe failed: ${String(e)}`));

  options.setInterval(() => {
    if (!client.connected) return; // the outbox would keep them, but a demo should not pile up
    const body = JSON.stringify({ seq: ++seq, uptimeMs: options.now() - started });
    client.publish(topics.telemetry, body, { qos: 1 }).catch(() => {});
  }, options.intervalMs);
}
