// The contract between a product and the host that runs it. A product (modules/products/<name>)
// is free of I/O: the host gives it a client factory bound to its sockets, timer and persistent
// outbox, a clock, a settings store and a log. The same product then runs on the ESP32, in the
// Moddable simulator, on Node for `npm start`, and in the tests.

import type { ClientOptions, MqttClient } from "../mqtt/client.js";
import type { QoS } from "../mqtt/packets.js";
import type { TimerLike } from "../mqtt/io.js";
import type { Json, JsonObject } from "./commands.js";
import type { SettingsStore } from "./settings.js";

/** What a product chooses about its connection; the host adds broker, socket, timer, outbox store, credentials. */
export type ProductClientOptions = Pick<ClientOptions,
  "clientId" | "clean" | "keepalive" | "will" | "outbox" | "reconnect" | "inflightWindow" | "connectTimeoutMs">;

export interface ProductHost {
  /** The device's identity from the host's configuration (meter number, MAC, device id...). */
  readonly deviceId: string;
  /** Product options from the host's configuration (organisation, topic prefix...), as text. */
  readonly config: Readonly<Record<string, string>>;
  /** A client for this host's broker. A product may create a new one per wake (deep sleep). */
  createClient(options: ProductClientOptions): MqttClient;
  readonly timer: TimerLike;
  /** Wall-clock milliseconds since the Unix epoch, for message timestamps and simulation. */
  now(): number;
  /** Persistent key/value storage private to this device; survives restarts and deep sleep. */
  readonly settings: SettingsStore;
  /** Uniform [0, 1), for simulated hardware. Seeded by the host, so runs can be repeated. */
  random(): number;
  /** Human-readable diagnostics (console, trace). */
  log(line: string): void;
}

export interface Product {
  /** The client currently in use. */
  readonly client: MqttClient;
  /** Connects and starts the product's schedules. */
  start(): void;
  /** Stops its schedules, says goodbye the way the product specifies, and disconnects. */
  stop(): Promise<void>;
}

/** A command as the companion (`npm run cmd`) sends it, and how to recognise the device's answer. */
export interface CommandRequest {
  topic: string;
  payload: Json;
  qos: QoS;
  retain?: boolean;
  /** Where the device answers. */
  responseTopic: string;
  /** True for the message on responseTopic that answers this request. */
  isResponse(payload: Json): boolean;
}

export interface ProductDefinition {
  /** Folder name under modules/products. */
  readonly name: string;
  /** Default configuration (org id, prefix...) the host may override. */
  readonly defaults: Readonly<Record<string, string>>;
  /** An example device id for the i-th simulated device (0-based), valid for the product's topics. */
  deviceId(index: number): string;
  /** Creates the product on simulated, physically plausible hardware. */
  simulate(host: ProductHost): Product;
  /** One filter covering all of a device's traffic, for the live view. */
  topicFilter(deviceId: string, config: Readonly<Record<string, string>>): string;
  /** Commands the companion knows, with a one-line usage each. */
  readonly commands: Readonly<Record<string, string>>;
  /** A command that the device answers, for the README and the `npm start` test: `npm run cmd -- <name> <device> <command> key=value...`. */
  readonly example: { command: string; params: JsonObject };
  /** Builds a command; throws a RangeError with the usage for bad arguments. */
  command(deviceId: string, config: Readonly<Record<string, string>>, name: string, params: JsonObject): CommandRequest;
}
