// readTopic: the specification's read_topic(topic, wait_time) on a Device. Listens, resolves
// with the first message (a retained one arrives right after SUBACK), or with undefined once
// waitMs have passed since the call, then stops listening (unsubscribes). The wait bounds the
// whole call, subscribe round trip included: it is the node's time awake. A lost link, a
// refused subscription or `until` ends it early: nothing more can arrive.

import type { QoS } from "../../mqtt/packets.js";
import type { Device, DeviceEvent } from "../../device/device.js";
import { within } from "../../device/wait.js";

/** A message as device.listen hands it over. */
export type Message = Parameters<Parameters<Device["listen"]>[2]>[0];

export type TopicSource = Pick<Device, "timer" | "listen" | "on" | "off" | "refusedFilters">;

export interface ReadTopicOptions {
  qos?: QoS;
  /** Ends the wait when it settles (the wake is over). */
  until?: Promise<unknown>;
  /** Told why the read ended without a message before the wait was over. */
  report?(problem: string): void;
}

export async function readTopic(device: TopicSource, topic: string, waitMs: number, options: ReadTopicOptions = {}): Promise<Message | undefined> {
  let message: Message | undefined;
  let end = (): void => {};
  const ended = new Promise<void>((resolve) => { end = resolve; });
  const onMessage = (m: Message): void => {
    message ??= m; // later messages change nothing
    end();
  };
  const onLost = (): void => end();
  const onReport = (e: DeviceEvent): void => {
    if (e.kind !== "subscribe_refused" || !device.refusedFilters.has(topic)) return;
    options.report?.(`subscribe ${topic}: refused by the broker`);
    end();
  };
  device.on("disconnected", onLost);
  device.on("report", onReport);
  options.until?.then(end, end);
  const stop = device.listen(topic, options.qos ?? 0, onMessage);
  await within(device.timer, ended, Math.max(0, waitMs));
  stop();
  device.off("disconnected", onLost);
  device.off("report", onReport);
  return message;
}
