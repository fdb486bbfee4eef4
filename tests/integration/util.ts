// Helpers for integration tests: await events instead of sleeping.

import type { MqttClient, ClientEvents, Message } from "../../modules/mqtt/client.js";
import { createNodeClient } from "../../hosts/node/client.js";
import type { NodeClientOptions } from "../../hosts/node/client.js";

let clientCount = 0;

/** A Node client on loopback with fast reconnects; closed by closeAll(). */
const open: MqttClient[] = [];
export function client(port: number, options: Partial<NodeClientOptions> = {}): MqttClient {
  const c = createNodeClient({
    host: "127.0.0.1",
    port,
    clientId: `it-${process.pid}-${++clientCount}`,
    reconnect: { initialMs: 20, maxMs: 100 },
    ...options,
  });
  c.on("error", () => {}); // tests that care listen themselves
  open.push(c);
  return c;
}

export async function closeAll(): Promise<void> {
  await Promise.all(open.splice(0).map((c) => c.disconnect().catch(() => {})));
}

/** Resolves with the first event's argument that satisfies `test`; rejects after `ms`. */
export function next<K extends keyof ClientEvents>(
  c: MqttClient, event: K, test: (...args: ClientEvents[K]) => boolean = () => true, ms = 10_000,
): Promise<ClientEvents[K][0]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      c.off(event, listener);
      reject(new Error(`no '${String(event)}' event within ${ms} ms`));
    }, ms);
    const listener = (...args: ClientEvents[K]) => {
      if (!test(...args)) return;
      clearTimeout(timer);
      c.off(event, listener);
      resolve(args[0]);
    };
    c.on(event, listener);
  });
}

/** Collects messages on a client and resolves waiters when a count is reached. */
export class Inbox {
  readonly messages: Message[] = [];
  #waiters: { n: number; resolve: () => void }[] = [];

  constructor(c: MqttClient, filter?: (m: Message) => boolean) {
    c.on("message", (m) => {
      if (filter && !filter(m)) return;
      this.messages.push({ ...m, payload: m.payload.slice() });
      this.#waiters = this.#waiters.filter((w) => {
        if (this.messages.length < w.n) return true;
        w.resolve();
        return false;
      });
    });
  }

  /** Resolves once at least n messages arrived; rejects after ms with what did arrive. */
  waitFor(n: number, ms = 10_000): Promise<void> {
    if (this.messages.length >= n) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(
        `got ${this.messages.length} of ${n} messages in ${ms} ms: ${this.texts().join(" ").slice(0, 2000)}`)), ms);
      this.#waiters.push({ n, resolve: () => { clearTimeout(timer); resolve(); } });
    });
  }

  texts(): string[] {
    return this.messages.map((m) => text(m.payload));
  }
}

export function text(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes);
}
