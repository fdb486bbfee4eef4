// The runtime every product runs on. A host makes one Device per device it runs, over its
// Platform (sockets, timer, clock, storage, log); the product gets the Device and nothing
// else: it never holds an MQTT client. What every product does on the wire lives here once:
// the connection and its session choice, a retained status whose will is computed at each
// connect, command routes (parse, schema check, one answer per command, run one at a time
// in a bounded queue), plain subscriptions, publish-and-report, and a bounded goodbye.

import type { ClientOptions, Message, MqttClient } from "../mqtt/client.js";
import { Emitter } from "../mqtt/emitter.js";
import type { MqttError } from "../mqtt/errors.js";
import type { TimerLike } from "../mqtt/io.js";
import type { QoS } from "../mqtt/packets.js";
import { encodeUtf8 } from "../mqtt/utf8.js";
import type { CommandDispatcher, CommandOutcome, Json } from "./commands.js";
import { SerialQueue } from "./queue.js";
import type { SettingsStore } from "./settings.js";
import { within } from "./wait.js";

// What a product may know of the MQTT layer's types comes through here.
export type { Message } from "../mqtt/client.js";
export type { OutboxOptions } from "../mqtt/session.js";

export interface Publication {
  topic: string;
  payload: Json;
  qos: QoS;
  retain: boolean;
}

/** What a product chooses about its connection; the host adds broker, socket, timer, outbox store, credentials. */
export type ClientChoices = Pick<ClientOptions,
  "clientId" | "clean" | "keepalive" | "will" | "outbox" | "reconnect" | "inflightWindow" | "connectTimeoutMs">;

/** What a host provides. Only the Device calls createClient. */
export interface Platform {
  /** The device's identity from the host's configuration (meter number, MAC, device id...). */
  readonly deviceId: string;
  /** Product options from the host's configuration, as text; the product parses them once (settings.ts). */
  readonly config: Readonly<Record<string, string>>;
  readonly timer: TimerLike;
  /** Wall-clock milliseconds since the Unix epoch. */
  now(): number;
  /** Persistent key/value storage private to this device; survives restarts and deep sleep. */
  readonly settings: SettingsStore;
  /** Uniform [0, 1), seeded by the host so runs can be repeated. */
  random(): number;
  /** Human-readable diagnostics (console, trace). */
  log(line: string): void;
  createClient(options: ClientChoices): MqttClient;
}

export interface StatusOptions {
  topic: string;
  qos: QoS;
  /** Default true: the status is the device's retained state. */
  retain?: boolean;
  /** Published on every connect. */
  online(): Json;
  /** The will's payload, asked at every connect: what the broker publishes when the link dies. */
  offline(): Json;
}

export interface ConnectionOptions {
  clientId: string;
  /** Clean session, or a persistent one (commands sent while offline wait at the broker). */
  clean: boolean;
  keepalive?: number;
  outbox?: ClientOptions["outbox"];
  inflightWindow?: number;
  connectTimeoutMs?: number;
  reconnect?: ClientOptions["reconnect"];
  /** Retained status with its will. */
  status?: StatusOptions;
  /** A will, asked at every connect, for a product whose status is not retained. */
  will?: () => Publication;
}

export interface CommandRoute {
  /** The topic, or a filter with `+` when the topic names the action (bess/system/reset). */
  topic: string;
  qos: QoS;
  dispatcher: CommandDispatcher;
  /** For a topic per action: the command the topic names; undefined runs the payload's name field. */
  commandOf?(topic: string): string | undefined;
  /** The product's answer to an outcome, or undefined where it has none. */
  respond(outcome: CommandOutcome, topic: string): Publication | undefined;
}

export interface DeviceEvent {
  /** client_error: what the MQTT client reported with the link up (an oversize message skipped, a full outbox...). */
  kind: "command_rejected" | "publish_failed" | "subscribe_refused" | "subscribe_restored" | "queue_failed" | "client_error";
  detail: string;
  /** The topic (or filter) concerned, for publish and subscribe reports. */
  topic?: string;
  /** The client's error, for client_error. */
  error?: MqttError;
}

export type DeviceEvents = {
  connected: [{ sessionPresent: boolean }];
  disconnected: [{ error?: MqttError; reconnectInMs?: number }];
  /** Bad input, failed publishes, refused subscriptions: the product turns these into its error status or alert. */
  report: [DeviceEvent];
};

export interface DeviceOptions {
  /** Most jobs waiting in the serial queue (commands, configuration). Default 32; beyond it a command is answered "busy". */
  maxPending?: number;
}

export function toText(payload: Json): string {
  return typeof payload === "string" ? payload : JSON.stringify(payload);
}

export class Device extends Emitter<DeviceEvents> {
  readonly deviceId: string;
  readonly config: Readonly<Record<string, string>>;
  readonly timer: TimerLike;
  readonly settings: SettingsStore;
  /** Jobs run one at a time in arrival order: commands, and whatever the product adds. */
  readonly queue: SerialQueue;
  readonly #platform: Platform;
  #client: MqttClient | undefined;
  // Grown by copying: a push onto an empty array reserves 17 slots (about 150 bytes) in V8,
  // and a fleet has thousands of devices with a route or two each.
  #routes: readonly CommandRoute[] = [];
  #listens: readonly { filter: string; qos: QoS; handler: (m: Message) => void }[] = [];
  readonly #refused = new Set<string>();

  constructor(platform: Platform, options: DeviceOptions = {}) {
    super();
    this.#platform = platform;
    this.deviceId = platform.deviceId;
    this.config = platform.config;
    this.timer = platform.timer;
    this.settings = platform.settings;
    this.queue = new SerialQueue(options.maxPending ?? 32, (e) => this.report("queue_failed", describe(e)));
    this.onListenerError = (e) => platform.log(`device listener threw: ${describe(e)}`);
  }

  now(): number {
    return this.#platform.now();
  }

  random(): number {
    return this.#platform.random();
  }

  log(line: string): void {
    try {
      this.#platform.log(line);
    } catch {
      // a failing console must not stop the device
    }
  }

  get connected(): boolean {
    return this.#client?.connected ?? false;
  }

  /** Filters the broker currently refuses: the device hears nothing on them. */
  get refusedFilters(): ReadonlySet<string> {
    return this.#refused;
  }

  /**
   * Connects and keeps reconnecting until disconnect(). Routes and listens registered before
   * or after are subscribed once; the client subscribes again after a lost session.
   * After disconnect() it may be called again (a node waking from deep sleep): a new session.
   */
  connect(connection: ConnectionOptions): void {
    if (this.#client) throw new Error("already connected; disconnect() first");
    const status = connection.status;
    const will = status
      ? () => ({ topic: status.topic, payload: toText(status.offline()), qos: status.qos, retain: status.retain ?? true })
      : connection.will ? () => { const w = connection.will!(); return { topic: w.topic, payload: toText(w.payload), qos: w.qos, retain: w.retain }; } : undefined;
    const choices: ClientChoices = { clientId: connection.clientId, clean: connection.clean };
    // Only what the product chose: an undefined key would override the platform's defaults.
    if (connection.keepalive !== undefined) choices.keepalive = connection.keepalive;
    if (connection.outbox !== undefined) choices.outbox = connection.outbox;
    if (connection.inflightWindow !== undefined) choices.inflightWindow = connection.inflightWindow;
    if (connection.connectTimeoutMs !== undefined) choices.connectTimeoutMs = connection.connectTimeoutMs;
    if (connection.reconnect !== undefined) choices.reconnect = connection.reconnect;
    if (will) choices.will = will;
    const client = this.#platform.createClient(choices);
    this.#client = client;
    // A lost link is the "disconnected" event's to tell; what comes with the link up is reported.
    client.on("error", (error) => {
      if (client.connected) this.emit("report", { kind: "client_error", detail: `${error.code}: ${error.message}`, error });
    });
    client.on("connected", (e) => {
      if (status) void this.publish({ topic: status.topic, payload: status.online(), qos: status.qos, retain: status.retain ?? true });
      this.emit("connected", e);
    });
    client.on("disconnected", (e) => this.emit("disconnected", e));
    // The client keeps asking for a refused filter; the product learns it is deaf, and when it hears again.
    client.on("suback", ({ filter, code, retryInMs }) => {
      if (code === 0x80) {
        this.#refused.add(filter);
        this.report("subscribe_refused", `${filter}: refused by the broker; retrying in ${retryInMs} ms`, filter);
      } else if (this.#refused.delete(filter)) {
        this.report("subscribe_restored", `${filter}: granted QoS ${code}`, filter);
      }
    });
    for (const r of this.#routes) this.#subscribeRoute(client, r);
    for (const l of this.#listens) this.#subscribe(client, l.filter, l.qos, l.handler);
    client.connect().catch((e) => this.log(`connect: ${describe(e)}`));
  }

  /** Takes commands on a route for as long as the device lives. */
  route(route: CommandRoute): void {
    this.#routes = [...this.#routes, route];
    if (this.#client) this.#subscribeRoute(this.#client, route);
  }

  /**
   * Messages on `filter` go to `handler` (configuration, data the product reads). Returns a
   * function that stops listening (and unsubscribes).
   */
  listen(filter: string, qos: QoS, handler: (message: Message) => void): () => void {
    const entry = { filter, qos, handler };
    this.#listens = [...this.#listens, entry];
    if (this.#client) this.#subscribe(this.#client, filter, qos, handler);
    return () => {
      const i = this.#listens.indexOf(entry);
      if (i < 0) return;
      this.#listens = this.#listens.filter((l) => l !== entry);
      // CLOSED: a disconnect overtook it; a clean next session starts without the filter anyway.
      this.#client?.unsubscribe(filter, handler).catch((e) => { if ((e as MqttError).code !== "CLOSED") this.log(`unsubscribe ${filter}: ${describe(e)}`); });
    };
  }

  /** Publishes JSON (or text); resolves false instead of throwing, after reporting why. */
  async publish(p: Publication): Promise<boolean> {
    const client = this.#client;
    if (!client) {
      this.report("publish_failed", `${p.topic}: not connected (connect() was not called)`, p.topic);
      return false;
    }
    try {
      await client.publish(p.topic, encodeUtf8(toText(p.payload)), { qos: p.qos, retain: p.retain });
      return true;
    } catch (e) {
      this.report("publish_failed", `${p.topic}: ${describe(e)}`, p.topic);
      return false;
    }
  }

  /**
   * Says goodbye the product's way (within `timeoutMs`, only while connected), then sends
   * DISCONNECT, bounded too: a dead link cannot hold a shutdown.
   */
  async disconnect(goodbye?: () => Promise<unknown>, timeoutMs = 5_000): Promise<void> {
    const client = this.#client;
    if (!client) return;
    if (goodbye && client.connected) await within(this.timer, Promise.resolve().then(goodbye), timeoutMs);
    await within(this.timer, client.disconnect(), timeoutMs);
    if (this.#client === client) this.#client = undefined;
  }

  /** Cuts the link without DISCONNECT, as a power loss would: the broker publishes the will. */
  abort(): void {
    this.#client?.abort();
    this.#client = undefined;
  }

  /** Reports bad input and failures to the product (its error status, alert or log). */
  report(kind: DeviceEvent["kind"], detail: string, topic?: string): void {
    this.emit("report", topic === undefined ? { kind, detail } : { kind, detail, topic });
  }

  #subscribeRoute(client: MqttClient, route: CommandRoute): void {
    this.#subscribe(client, route.topic, route.qos, (m) => {
      const queued = this.queue.add(async () => this.#answer(route, m.topic, await this.#dispatch(route, m)));
      if (!queued) this.#answer(route, m.topic, route.dispatcher.refuse(m.payload, `device busy: ${this.queue.pending} commands pending`));
    });
  }

  #dispatch(route: CommandRoute, m: Message): Promise<CommandOutcome> {
    const name = route.commandOf?.(m.topic);
    return name === undefined ? route.dispatcher.dispatch(m.payload) : route.dispatcher.dispatchAs(name, m.payload);
  }

  #subscribe(client: MqttClient, filter: string, qos: QoS, handler: (m: Message) => void): void {
    // A refusal is reported by the "suback" listener, and the client keeps asking.
    client.subscribe(filter, { qos }, handler).catch((e) => this.log(`subscribe ${filter}: ${describe(e)}`));
  }

  #answer(route: CommandRoute, topic: string, outcome: CommandOutcome): void {
    if (!outcome.ok) this.report("command_rejected", `${outcome.error?.code}: ${outcome.error?.message}`);
    let response: Publication | undefined;
    try {
      response = route.respond(outcome, topic);
    } catch (e) {
      // A broken formatter must not stall the queue.
      this.report("command_rejected", `response formatting failed: ${describe(e)}`);
      return;
    }
    // Not awaited: the client sends publishes in call order, so answers keep the commands'
    // order without the next command waiting for this one's PUBACK.
    if (response) void this.publish(response);
  }
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
