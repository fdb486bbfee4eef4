// readTopic: the seed's read_topic(topic, wait_time) (line 68) on the client's promises.
// Subscribes, resolves with the first message (a retained one arrives right after SUBACK),
// or with undefined once waitMs have passed since the call, then unsubscribes. The wait
// bounds the whole call, subscribe round trip included: it is the node's time awake.

import type { Message, MessageHandler } from "../../mqtt/client.js";
import type { TimerLike } from "../../mqtt/io.js";
import type { QoS } from "../../mqtt/packets.js";

/** The part of MqttClient readTopic uses. */
export interface TopicReader {
  subscribe(filter: string, options: { qos?: QoS }, handler: MessageHandler): Promise<number[]>;
  unsubscribe(filter: string): Promise<void>;
}

export interface ReadTopicOptions {
  qos?: QoS;
  /** Told why the subscription failed or could not be undone (the read then resolves undefined). */
  report?(problem: string): void;
}

export function readTopic(client: TopicReader, timer: TimerLike, topic: string, waitMs: number, options: ReadTopicOptions = {}): Promise<Message | undefined> {
  return new Promise((resolve) => {
    let done = false;
    let handle: unknown;
    const finish = (message: Message | undefined): void => {
      if (done) return; // later messages, or the timer after a message, change nothing
      done = true;
      if (handle !== undefined) timer.clear(handle);
      resolve(message);
      // Also drops our handler at once, so nothing more is delivered to it.
      client.unsubscribe(topic).catch((e) => options.report?.(`unsubscribe ${topic}: ${describe(e)}`));
    };
    handle = timer.set(() => finish(undefined), Math.max(0, waitMs));
    client.subscribe(topic, { qos: options.qos ?? 0 }, (m) => finish(m)).catch((e) => {
      options.report?.(`subscribe ${topic}: ${describe(e)}`);
      finish(undefined);
    });
  });
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
