// What every product test uses: a Device on a Node platform against a loopback broker, and the
// schema check that sees every message a device publishes. On aedes the check taps the broker,
// so it sees each PUBLISH exactly as the device sent it (QoS and retain flag included; a
// subscriber would see retain cleared on live delivery [MQTT-3.3.1-9]) and validates it
// against the product's index.json entry for that topic and the entry's schema.

import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import AjvModule from "ajv";
import type { ValidateFunction } from "ajv";
import { createNodeClient } from "../../hosts/node/client.js";
import { nodeTimer } from "../../hosts/node/timer.js";
import type { MqttClient } from "../../modules/mqtt/client.js";
import type { TimerLike } from "../../modules/mqtt/io.js";
import { Device } from "../../modules/device/device.js";
import { MemorySettingsStore } from "../../modules/device/settings.js";
import type { SettingsStore } from "../../modules/device/settings.js";
import { prng } from "../../modules/device/prng.js";
import type { AedesHandle } from "../harness/aedes.js";

const Ajv = AjvModule.default;
const here = path.dirname(fileURLToPath(import.meta.url));
export const PRODUCTS_DIR = path.resolve(here, "../../../modules/products");

export interface HostOptions {
  port: number;
  deviceId: string;
  config?: Record<string, string>;
  settings?: SettingsStore;
  timer?: TimerLike;
  now?: () => number;
  seed?: number;
  /** Collects the product's log lines. */
  logs?: string[];
}

const clients: MqttClient[] = [];

/** A Device on loopback with quick reconnects. Every client it makes is closed by closeHostClients(). */
export function productDevice(options: HostOptions): Device {
  const random = prng(options.seed ?? 1);
  return new Device({
    deviceId: options.deviceId,
    config: options.config ?? {},
    timer: options.timer ?? nodeTimer,
    now: options.now ?? Date.now,
    settings: options.settings ?? new MemorySettingsStore(),
    random,
    log: (line) => options.logs?.push(line),
    createClient(clientOptions) {
      const c = createNodeClient({
        host: "127.0.0.1",
        port: options.port,
        reconnect: { initialMs: 20, maxMs: 200 },
        ...clientOptions,
        ...(options.timer ? { timer: options.timer } : {}),
      });
      c.on("error", () => {});
      clients.push(c);
      return c;
    },
  });
}

export async function closeHostClients(): Promise<void> {
  await Promise.all(clients.splice(0).map((c) => c.disconnect().catch(() => {})));
}

interface IndexEntry {
  message: string;
  schema: string;
  topic: string;
  direction: "publish" | "subscribe";
  qos: 0 | 1 | 2;
  retain: boolean;
  match?: Record<string, string>;
}

export interface Seen {
  clientId: string;
  topic: string;
  payload: Buffer;
  qos: number;
  retain: boolean;
  /** The index entry the message matched, once checked. */
  message?: string;
}

/** A product's topic table and schemas (modules/products/<name>/schemas), compiled with ajv. */
export class ProductSchemas {
  readonly product: string;
  readonly entries: IndexEntry[];
  readonly #validators = new Map<string, ValidateFunction>();
  readonly #patterns = new Map<IndexEntry, RegExp>();

  constructor(product: string) {
    // A name under modules/products, or a product's folder (the worked example in tests/).
    this.product = path.basename(product);
    const dir = path.join(product.includes("/") ? product : path.join(PRODUCTS_DIR, product), "schemas");
    const index = JSON.parse(fs.readFileSync(path.join(dir, "index.json"), "utf8")) as
      { messages: IndexEntry[]; placeholders?: Record<string, { pattern: string }> };
    this.entries = index.messages;
    const ajv = new Ajv({ strict: true, allErrors: true });
    for (const entry of this.entries) {
      this.#validators.set(entry.message, ajv.compile(JSON.parse(fs.readFileSync(path.join(dir, entry.schema), "utf8"))));
      // A placeholder matches what index.json allows for it (a prefix may span several levels).
      const pattern = entry.topic.split(/(\{[^}]+\})/).map((part) => {
        const name = /^\{([^}]+)\}$/.exec(part)?.[1];
        if (name === undefined) return part.replace(/[.*+?^$()|[\]\\]/g, "\\$&");
        const allowed = index.placeholders?.[name]?.pattern.replace(/^\^/, "").replace(/\$$/, "");
        return allowed ? `(?:${allowed})` : "[^/+#]+";
      }).join("");
      this.#patterns.set(entry, new RegExp(`^${pattern}$`));
    }
  }

  /** The entry for a topic (and payload, where several messages share a topic), or undefined. */
  entryFor(topic: string, payload: unknown): IndexEntry | undefined {
    return this.entries.find((e) => this.#patterns.get(e)!.test(topic) &&
      (!e.match || Object.entries(e.match).every(([k, v]) => (payload as Record<string, unknown> | null)?.[k] === v)));
  }

  /** Why a message a device published breaks the contract, or undefined when it keeps it. */
  check(m: { topic: string; payload: Uint8Array; qos: number; retain: boolean }): string | undefined {
    const text = Buffer.from(m.payload).toString("utf8");
    let payload: unknown;
    try {
      payload = JSON.parse(text);
    } catch {
      return `${m.topic}: payload is not JSON: ${text.slice(0, 200)}`;
    }
    const entry = this.entryFor(m.topic, payload);
    if (!entry) return `${m.topic}: no message of ${this.product} has this topic`;
    if (entry.direction !== "publish") return `${m.topic}: the device must not publish ${entry.message}`;
    if (m.qos !== entry.qos) return `${m.topic}: ${entry.message} at QoS ${m.qos}, specified ${entry.qos}`;
    if (m.retain !== entry.retain) return `${m.topic}: ${entry.message} retain ${m.retain}, specified ${entry.retain}`;
    const validate = this.#validators.get(entry.message)!;
    if (!validate(payload)) return `${m.topic}: ${entry.message} invalid: ${JSON.stringify(validate.errors)} in ${text.slice(0, 500)}`;
    return undefined;
  }

  /** Validates a payload against one message's schema; throws with ajv's errors. */
  assertValid(message: string, payload: unknown): void {
    const validate = this.#validators.get(message);
    assert.ok(validate, `${this.product} has no message ${message}`);
    assert.ok(validate(payload), `${message} invalid: ${JSON.stringify(validate.errors)} in ${JSON.stringify(payload)}`);
  }
}

/**
 * Taps an aedes broker: records every PUBLISH from the device clients (client ids accepted by
 * `isDevice`) and checks each against the product's table and schemas. Call `assertAllValid()`
 * in afterEach; `count(message)` tells a test how many of a message went by.
 */
export class SchemaTap {
  readonly schemas: ProductSchemas;
  readonly seen: Seen[] = [];
  readonly #isDevice: (clientId: string) => boolean;
  #checked = 0;
  #waiters: { test: (m: Seen) => boolean; resolve: () => void }[] = [];

  constructor(broker: AedesHandle, product: string | ProductSchemas, isDevice: (clientId: string) => boolean) {
    this.schemas = typeof product === "string" ? new ProductSchemas(product) : product;
    this.#isDevice = isDevice;
    broker.broker.on("publish", (packet, client) => {
      if (!client || !this.#isDevice(client.id)) return;
      const m: Seen = { clientId: client.id, topic: packet.topic, payload: Buffer.from(packet.payload as Uint8Array), qos: packet.qos, retain: packet.retain };
      this.seen.push(m);
      this.#waiters = this.#waiters.filter((w) => {
        if (!w.test(m)) return true;
        w.resolve();
        return false;
      });
    });
  }

  /** Resolves once a device message for which `test` holds has been seen (already, or later). */
  waitFor(test: (m: Seen) => boolean = () => true, ms = 10_000): Promise<void> {
    if (this.seen.some(test)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching ${this.schemas.product} message within ${ms} ms; saw ${this.seen.map((m) => m.topic).join(", ")}`)), ms);
      this.#waiters.push({ test, resolve: () => { clearTimeout(timer); resolve(); } });
    });
  }

  /** Checks everything recorded since the last call; fails listing every broken message. */
  assertAllValid(): void {
    const problems: string[] = [];
    for (; this.#checked < this.seen.length; this.#checked++) {
      const m = this.seen[this.#checked];
      const problem = this.schemas.check(m);
      if (problem) problems.push(problem);
      else m.message = this.schemas.entryFor(m.topic, JSON.parse(m.payload.toString("utf8")))?.message;
    }
    assert.deepEqual(problems, [], `${problems.length} published message(s) break the ${this.schemas.product} contract`);
  }

  /** Messages recorded so far whose topic matched the named index entry (checks first). */
  of(message: string): Seen[] {
    this.assertAllValid();
    return this.seen.filter((m) => m.message === message);
  }
}
