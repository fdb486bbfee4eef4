// The contract between a product and the host that runs it. A product (modules/products/<name>)
// is free of I/O and never holds an MQTT client: the host makes a Device over its Platform
// (sockets, timer, persistent outbox, clock, settings store, log) and the product is created
// with that Device and its hardware: drivers over buses. On a board the buses are the real
// ECMA-419 IO classes; elsewhere they are bus-level emulators of the same parts, and nothing
// in the product or its drivers knows which. The same product then runs on the ESP32, in the
// Moddable simulator, on Node for `npm start`, and in the tests.

import type { QoS } from "../mqtt/packets.js";
import type { Json, JsonObject } from "./commands.js";
import type { Device } from "./device.js";
import type { BoardSpec, Buses } from "../drivers/io.js";

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

/**
 * What a firmware image holds of a product (its `firmware.ts`): the product, its board and
 * its drivers, and nothing for the companion or the simulator. A board's host opens the
 * real buses from `board` and runs `create(device, hardware(buses, device))`.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export interface ProductFirmware<Hardware = any> {
  /** Folder name under modules/products. */
  readonly name: string;
  /** Default configuration (org id, prefix...) the host may override. */
  readonly defaults: Readonly<Record<string, string>>;
  /** An example device id for the i-th simulated device (0-based), valid for the product's topics. */
  deviceId(index: number): string;
  /** The product's buses: kind, default options for a common dev board, and a wiring line each. */
  readonly board: BoardSpec;
  /** The product's hardware: its drivers on these buses (the same code on real and emulated buses). */
  hardware(buses: Buses, device: Device): Hardware;
  /** The product on its Device and hardware. */
  create(device: Device, hardware: Hardware): Product;
}

/** The firmware part with emulated buses (its `emulated.ts`): what the lin images, `npm start`, the tests and the XS tier run. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export interface EmulatedProduct<Hardware = any> extends ProductFirmware<Hardware> {
  /** Emulated buses: bus-level models of the parts, with the physics behind them, and the faults a person may set off on them. */
  emulate(device: Device): Emulation;
}

/** The whole definition (its `index.ts`): the emulated product and the companion's part, for the Node host, the companion and the tests. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export interface ProductDefinition<Hardware = any> extends EmulatedProduct<Hardware> {
  /** One filter covering all of a device's traffic, for the live view. */
  topicFilter(deviceId: string, config: Readonly<Record<string, string>>): string;
  /** Commands the companion knows, with a one-line usage each. */
  readonly commands: Readonly<Record<string, string>>;
  /** A command that the device answers, for the README and the `npm start` test: `npm run cmd -- <name> <device> <command> key=value...`. */
  readonly example: { command: string; params: JsonObject };
  /** Builds a command; throws a RangeError with the usage for bad arguments. */
  command(deviceId: string, config: Readonly<Record<string, string>>, name: string, params: JsonObject): CommandRequest;
}

/** A fault set off on emulated hardware (the dashboard's buttons): a probe pulled, a module overheated. */
export interface HardwareFault {
  label: string;
  apply(): void;
}

export interface Emulation {
  buses: Buses;
  /** By kind; a kind is a short word the dashboard posts back. */
  faults?: Record<string, HardwareFault>;
}

/** The product on emulated buses: what `npm start`, the tests and the lin images run. */
export function simulate(definition: EmulatedProduct, device: Device): { product: Product; faults: Record<string, HardwareFault> } {
  const emulation = definition.emulate(device);
  return { product: definition.create(device, definition.hardware(emulation.buses, device)), faults: emulation.faults ?? {} };
}
