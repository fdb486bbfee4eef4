// One command sent as the companion sends it, and the device's answer awaited: shared by
// `npm run cmd` and the dashboard's console.

import type { MqttClient, Message } from "../../modules/mqtt/client.js";
import { topicMatches } from "../../modules/mqtt/topic.js";
import type { Json } from "../../modules/device/commands.js";
import type { CommandRequest } from "../../modules/device/product.js";

/** Publishes `request` on a connected client; resolves with the answer, or undefined after `timeoutMs`. */
export async function sendRequest(client: MqttClient, request: CommandRequest, timeoutMs: number): Promise<Json | undefined> {
  let listener!: (m: Message) => void;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const answer = new Promise<Json | undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), timeoutMs);
    listener = (m) => {
      if (!topicMatches(request.responseTopic, m.topic)) return;
      let payload: Json;
      try {
        payload = JSON.parse(new TextDecoder().decode(m.payload)) as Json;
      } catch {
        return;
      }
      if (request.isResponse(payload)) resolve(payload);
    };
    client.on("message", listener);
  });
  try {
    await client.subscribe(request.responseTopic, { qos: 1 });
    await client.publish(request.topic, requestBody(request), { qos: request.qos, retain: request.retain ?? false });
    return await answer;
  } finally {
    clearTimeout(timer);
    client.off("message", listener);
  }
}

export function requestBody(request: CommandRequest): string {
  return typeof request.payload === "string" ? request.payload : JSON.stringify(request.payload);
}
