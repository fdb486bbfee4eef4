// The contract between a product and the host that runs it. A product (modules/products/<name>)
// is free of I/O and never holds an MQTT client: the host makes a Device over its Platform
// (sockets, timer, persistent outbox, clock, settings store, log) and the product is created
// with that Device. The same product then runs on the ESP32, in the Moddable simulator, on
// Node for `npm start`, and in the tests.

import type { QoS } from "../mqtt/packets.js";
import type { Json, JsonObject } from "./commands.js";
import type { Device } from "./device.js";

export interface Product {
  /** Connects and starts the product's schedules. */
  start(): void;
  /** Stops its schedules, says goodbye the way the product specifies, and disconnects (bounded). */
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
  /** Creates the product on its Device, with simulated, physically plausible hardware. */
  simulate(device: Device): Product;
  /** One filter covering all of a device's traffic, for the live view. */
  topicFilter(deviceId: string, config: Readonly<Record<string, string>>): string;
  /** Commands the companion knows, with a one-line usage each. */
  readonly commands: Readonly<Record<string, string>>;
  /** A command that the device answers, for the README and the `npm start` test: `npm run cmd -- <name> <device> <command> key=value...`. */
  readonly example: { command: string; params: JsonObject };
  /** Builds a command; throws a RangeError with the usage for bad arguments. */
  command(deviceId: string, config: Readonly<Record<string, string>>, name: string, params: JsonObject): CommandRequest;
}
