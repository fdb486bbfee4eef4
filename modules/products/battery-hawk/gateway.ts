// Battery Hawk gateway: scans for BLE battery monitors, reads them on a schedule and on
// command, and publishes event-driven (seed lines 309-319): a reading per successful read,
// a device status when a monitor's status or connection changes, a vehicle summary when
// it changes, a discovery per newly seen monitor, an association event per assignment.
// The retained system status (QoS 2) is the gateway's availability: published on every
// connect and as a heartbeat, with a Last Will that turns it to core.running false.

import type { JsonObject } from "../../device/commands.js";
import { CommandDispatcher } from "../../device/commands.js";
import { Device, willFor } from "../../device/device.js";
import type { Publication, StatusOptions } from "../../device/device.js";
import type { Product, ProductHost } from "../../device/product.js";
import { Periodic } from "../../device/scheduler.js";
import { schemaValidator } from "../../device/schema.js";
import { Settings } from "../../device/settings.js";
import type { MqttClient } from "../../mqtt/client.js";
import { parseConfig } from "./config.js";
import type { HawkConfig } from "./config.js";
import { ERROR_INVALID_READING, ERROR_RADIO_FAILED } from "./hardware.js";
import type { BatteryMonitorRadio, MonitorAdvert, ReadOutcome } from "./hardware.js";
import { vehicleSummary } from "./health.js";
import { isVehicleId, normalizeMac } from "./ids.js";
import {
  associatedMessage, discoveryMessage, isoTime, readingMessage, responseMessage, rssiOf, sanitizeReading,
  shutdownMessage, statusKey, statusMessage, systemStatusMessage,
} from "./messages.js";
import { MonitorRegistry } from "./registry.js";
import type { MonitorState } from "./registry.js";
import { HawkTopics } from "./topics.js";
import { commandAssociate, commandReadData } from "./validators.js";

/** Persisted associations made by the associate command (they override the configured ones). */
type StoredAssociations = { associations: Record<string, string> };
const SETTINGS_KEY = "battery-hawk.associations";
/** How long stop() waits for the goodbye messages to be acknowledged. */
const GOODBYE_TIMEOUT_MS = 5000;
/** Adverts looked at per scan; a flood beyond that is ignored (bounded work per scan). */
const MAX_ADVERTS_PER_SCAN = 64;

/** `config`, when given, is used instead of host.config (over DEFAULTS either way). */
export function createBatteryHawk(host: ProductHost, radio: BatteryMonitorRadio, config?: Readonly<Record<string, string>>): Product {
  return new BatteryHawkGateway(host, radio, config);
}

export class BatteryHawkGateway implements Product {
  readonly client: MqttClient;
  readonly config: HawkConfig;
  readonly topics: HawkTopics;
  readonly registry: MonitorRegistry;
  readonly #host: ProductHost;
  readonly #radio: BatteryMonitorRadio;
  readonly #device: Device;
  readonly #associations: Settings<StoredAssociations>;
  readonly #poll: Periodic;
  readonly #scan: Periodic;
  readonly #heartbeat: Periodic;
  /** Last published summary per vehicle (without timestamp); at most one per associated vehicle. */
  readonly #summaries = new Map<string, string>();
  /** Radio operations run one at a time; at most a scan, a poll cycle and a command wait here. */
  #radioChain: Promise<unknown> = Promise.resolve();
  #polling = false;
  #scanning = false;
  #bluetooth = "active";
  #startedAt = 0;
  #started = false;
  #stopped = false;

  constructor(host: ProductHost, radio: BatteryMonitorRadio, config: Readonly<Record<string, string>> = host.config) {
    this.#host = host;
    this.#radio = radio;
    this.config = parseConfig(config, (problem) => this.#log(problem));
    this.topics = new HawkTopics(this.config.prefix);
    this.registry = new MonitorRegistry(this.config.maxMonitors);
    this.#associations = new Settings<StoredAssociations>(host.settings, SETTINGS_KEY, { associations: {} },
      (value) => associationsError(value, this.config.maxMonitors));
    this.#loadAssociations();

    const status: StatusOptions = {
      topic: this.topics.systemStatus,
      qos: 2,
      online: () => this.#systemStatus(),
      // Fixed at CONNECT, so its timestamp is when the gateway booted and it has no uptime.
      offline: systemStatusMessage({ running: false, version: this.config.version, components: { mqtt: "disconnected" } }, host.now()),
    };
    this.client = host.createClient({
      clientId: host.deviceId,
      clean: false,
      keepalive: this.config.keepaliveS,
      connectTimeoutMs: this.config.timeoutMs,
      will: willFor(status),
      // Offline, the newest data wins: the oldest waiting message is dropped when full.
      outbox: { maxMessages: this.config.outboxMaxMessages, maxBytes: this.config.outboxMaxBytes, overflow: "drop-oldest" },
    });
    const dispatcher = new CommandDispatcher({ idField: "request_id", nameField: "command" })
      .register("read_data", { validate: schemaValidator(commandReadData), run: (r) => this.#readDataCommand(r) })
      .register("associate", { validate: schemaValidator(commandAssociate), run: (r) => this.#associateCommand(r) });
    this.#device = new Device(this.client, {
      status,
      commands: {
        topic: this.topics.command,
        qos: 1,
        dispatcher,
        respond: (outcome) => ({ topic: this.topics.commandResponse, qos: 1, retain: false, payload: responseMessage(outcome, host.now()) }),
      },
      report: (e) => this.#log(`${e.kind}: ${e.detail}`),
    });
    this.#poll = new Periodic(host.timer, this.config.pollIntervalMs, () => this.#background(this.pollCycle()));
    this.#scan = new Periodic(host.timer, this.config.scanIntervalMs, () => this.#background(this.scanOnce()));
    this.#heartbeat = new Periodic(host.timer, this.config.statusIntervalMs, () => {
      // Offline it would only queue a stale copy: every connect publishes a fresh one anyway.
      if (this.client.connected) this.#publish(this.topics.systemStatus, this.#systemStatus(), 2, true);
    });
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#startedAt = this.#host.now();
    this.client.connect().catch((e) => this.#log(`connect: ${e instanceof Error ? e.message : String(e)}`));
    this.#poll.start();
    this.#scan.start();
    this.#heartbeat.start();
    // A first scan and reading right away rather than one interval later.
    this.#background(this.scanOnce().then(() => this.pollCycle()));
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#poll.stop();
    this.#scan.stop();
    this.#heartbeat.stop();
    const at = this.#host.now();
    const goodbye = Promise.all([
      this.#device.publish({ topic: this.topics.shutdown, payload: shutdownMessage("normal_shutdown", at), qos: 1, retain: false }),
      this.#device.publish({ topic: this.topics.systemStatus, qos: 2, retain: true, payload: systemStatusMessage({
        running: false, uptimeSeconds: this.#uptime(at), version: this.config.version, components: { mqtt: "disconnected", bluetooth: "inactive" },
      }, at) }),
    ]);
    if (this.client.connected) await this.#within(goodbye, GOODBYE_TIMEOUT_MS);
    await this.client.disconnect();
  }

  /** Reads every tracked monitor once. A cycle still running when the next is due is not doubled. */
  async pollCycle(): Promise<void> {
    if (this.#polling || this.#stopped) return;
    this.#polling = true;
    try {
      for (const m of this.registry.all()) {
        if (this.#stopped) break;
        await this.#read(m);
      }
    } finally {
      this.#polling = false;
    }
  }

  /** One BLE scan: tracks new monitors and publishes a discovery for each first sighting. */
  async scanOnce(): Promise<void> {
    if (this.#scanning || this.#stopped) return;
    this.#scanning = true;
    try {
      let adverts: MonitorAdvert[];
      try {
        adverts = await this.#withRadio(() => this.#radio.scan());
        if (!Array.isArray(adverts)) throw new Error("scan returned no list");
      } catch (e) {
        this.#log(`scan failed: ${e instanceof Error ? e.message : String(e)}`);
        this.#setBluetooth("error");
        return;
      }
      this.#setBluetooth("active");
      if (this.#stopped) return;
      const at = this.#host.now();
      for (const advert of adverts.slice(0, MAX_ADVERTS_PER_SCAN)) this.#sighted(advert, at);
    } finally {
      this.#scanning = false;
    }
  }

  // ---- events ----

  #sighted(advert: MonitorAdvert, at: number): void {
    const mac = normalizeMac(advert?.mac);
    if (!mac) {
      this.#log(`scan: advert with invalid MAC ${JSON.stringify(String(advert?.mac)).slice(0, 40)} ignored`);
      return;
    }
    const m = this.registry.add(mac);
    if (!m) {
      this.#log(`scan: ${mac} ignored: already tracking max_monitors (${this.registry.max}) monitors`);
      return;
    }
    const fresh = discoveryMessage(mac, advert, at);
    if (typeof fresh.device_type === "string") m.deviceType = fresh.device_type;
    if (typeof fresh.name === "string") m.name = fresh.name;
    if (typeof fresh.rssi === "number") m.rssi = fresh.rssi;
    if (!m.discovered) {
      m.discovered = true;
      this.#publish(this.topics.discovery, fresh, 1, false);
    }
  }

  /** Reads one monitor and publishes what changed; returns why it failed, or undefined. */
  async #read(m: MonitorState, command?: string): Promise<string | undefined> {
    let outcome: ReadOutcome;
    try {
      outcome = await this.#withRadio(() => this.#radio.read(m.mac));
    } catch (e) {
      outcome = { ok: false, errorCode: ERROR_RADIO_FAILED, errorMessage: `radio error: ${e instanceof Error ? e.message : String(e)}` };
    }
    if (this.#stopped) return "gateway stopped";
    const at = this.#host.now();
    if (command) m.lastCommand = command;
    let failure: string | undefined;
    if (outcome?.ok) {
      m.connected = true;
      const rssi = rssiOf(outcome.rssi);
      if (rssi !== undefined) m.rssi = rssi;
      if (typeof outcome.protocolVersion === "string" && /^.{1,32}$/.test(outcome.protocolVersion)) m.protocolVersion = outcome.protocolVersion;
      const info = sanitizeReading(outcome.info);
      if (typeof info === "string") {
        // Talking to the monitor worked, its data did not: say so in the status, publish no reading.
        failure = info;
        m.errorCode = ERROR_INVALID_READING;
        m.errorMessage = info;
      } else {
        m.errorCode = undefined;
        m.errorMessage = undefined;
        m.reading = info;
        m.readingAt = at;
        this.#publish(this.topics.reading(m.mac), readingMessage(m, info, at), 1, false);
      }
    } else {
      const code = outcome?.errorCode;
      failure = typeof outcome?.errorMessage === "string" && outcome.errorMessage.length > 0 ? outcome.errorMessage.slice(0, 255) : "read failed";
      m.connected = false;
      m.errorCode = typeof code === "number" && Number.isInteger(code) && code >= 0 && code <= 65535 ? code : ERROR_RADIO_FAILED;
      m.errorMessage = failure;
    }
    // A command is an event of its own: its status goes out even if nothing else changed.
    this.#publishStatus(m, at, command !== undefined);
    if (m.vehicleId) this.#publishSummary(m.vehicleId, at);
    return failure;
  }

  #publishStatus(m: MonitorState, at: number, force = false): void {
    const key = statusKey(m);
    if (!force && key === m.publishedStatus) return;
    m.publishedStatus = key;
    this.#publish(this.topics.deviceStatus(m.mac), statusMessage(m, at), 1, true);
  }

  /** Publishes the vehicle's summary if it differs from the last one (seed line 347). */
  #publishSummary(vehicleId: string, at: number): void {
    const summary = vehicleSummary(vehicleId, this.registry.ofVehicle(vehicleId));
    const key = JSON.stringify(summary);
    if (this.#summaries.get(vehicleId) === key) return;
    // A vehicle left without monitors is published once as empty, then forgotten (bounded cache).
    if (summary.total_devices === 0) this.#summaries.delete(vehicleId);
    else this.#summaries.set(vehicleId, key);
    this.#publish(this.topics.summary(vehicleId), { vehicle_id: vehicleId, timestamp: isoTime(at), ...summary }, 1, true);
  }

  #setBluetooth(state: "active" | "error"): void {
    if (state === this.#bluetooth) return;
    this.#bluetooth = state;
    if (this.client.connected) this.#publish(this.topics.systemStatus, this.#systemStatus(), 2, true);
  }

  // ---- commands (our addition: {prefix}/command) ----

  async #readDataCommand(request: JsonObject): Promise<JsonObject> {
    const mac = request.device_id as string;
    const m = this.registry.get(mac);
    if (!m) throw new Error(`unknown monitor ${mac}: neither discovered by a scan nor associated`);
    const failure = await this.#read(m, "read_data");
    if (failure !== undefined || !m.reading) throw new Error(`monitor ${mac} did not answer: ${failure ?? "no reading"}`);
    const result: JsonObject = { connected: true, voltage: m.reading.voltage };
    if (m.reading.state_of_charge !== undefined) result.state_of_charge = m.reading.state_of_charge;
    return result;
  }

  #associateCommand(request: JsonObject): JsonObject {
    const mac = request.device_id as string;
    const vehicleId = request.vehicle_id as string;
    const m = this.registry.add(mac);
    if (!m) throw new Error(`cannot track ${mac}: already tracking max_monitors (${this.registry.max}) monitors`);
    const previous = m.vehicleId;
    if (previous !== vehicleId) {
      const saved = this.#associations.update({ associations: { ...this.#associations.value.associations, [mac]: vehicleId } });
      if (!saved.ok) throw new Error(`association not saved: ${saved.error}`);
      const newVehicle = this.registry.ofVehicle(vehicleId).length === 0;
      m.vehicleId = vehicleId;
      const at = this.#host.now();
      this.#publish(this.topics.associated(vehicleId), associatedMessage(m, vehicleId, newVehicle, at), 1, false);
      this.#publishStatus(m, at);
      if (previous) this.#publishSummary(previous, at);
      this.#publishSummary(vehicleId, at);
    }
    return { vehicle_id: vehicleId, previous_vehicle_id: previous ?? null };
  }

  // ---- plumbing ----

  /** Configured associations, overridden by those the associate command persisted. */
  #loadAssociations(): void {
    const effective = new Map(this.config.associations);
    for (const [mac, vehicleId] of Object.entries(this.#associations.value.associations)) effective.set(mac, vehicleId);
    for (const [mac, vehicleId] of effective) {
      const m = this.registry.add(mac);
      if (m) m.vehicleId = vehicleId;
      else this.#log(`association ${mac}=${vehicleId} ignored: more than max_monitors (${this.registry.max})`);
    }
  }

  /** The running gateway's system status (seed lines 228-246). */
  #systemStatus(): JsonObject {
    const at = this.#host.now();
    return systemStatusMessage({
      running: true, uptimeSeconds: this.#uptime(at), version: this.config.version,
      components: { mqtt: this.client.connected ? "connected" : "disconnected", bluetooth: this.#bluetooth },
    }, at);
  }

  #uptime(at: number): number {
    return Math.max(0, Math.floor((at - (this.#started ? this.#startedAt : at)) / 1000));
  }

  #publish(topic: string, payload: JsonObject, qos: 1 | 2, retain: boolean): void {
    const p: Publication = { topic, payload, qos, retain };
    void this.#device.publish(p); // resolves false and reports through the log on failure
  }

  #withRadio<T>(op: () => Promise<T>): Promise<T> {
    const run = this.#radioChain.then(op, op);
    this.#radioChain = run.catch(() => undefined);
    return run;
  }

  #within(p: Promise<unknown>, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = this.#host.timer.set(resolve, ms);
      p.then(() => {
        this.#host.timer.clear(timer);
        resolve();
      }, () => resolve());
    });
  }

  #background(p: Promise<unknown>): void {
    p.catch((e) => this.#log(`internal error: ${e instanceof Error ? e.message : String(e)}`));
  }

  #log(line: string): void {
    this.#host.log(`battery-hawk: ${line}`);
  }
}

function associationsError(value: unknown, max: number): string | undefined {
  const map = (value as StoredAssociations | undefined)?.associations;
  if (typeof map !== "object" || map === null || Array.isArray(map)) return "associations must be an object";
  const entries = Object.entries(map);
  if (entries.length > max) return `more than max_monitors (${max}) associations`;
  for (const [mac, vehicleId] of entries) {
    if (normalizeMac(mac) !== mac) return `association key ${JSON.stringify(mac).slice(0, 40)} is not an upper-case MAC`;
    if (!isVehicleId(vehicleId)) return `association ${mac}: invalid vehicle id`;
  }
  return undefined;
}
