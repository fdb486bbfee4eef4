// Battery Hawk gateway: scans for BLE battery monitors, reads them on a schedule and on
// command, and publishes event-driven: a reading per successful read, a device status when a
// monitor's status or connection changes, a vehicle summary when it changes, a discovery per
// newly seen monitor, an association event per assignment. The retained system status (QoS
// 2) is the gateway's availability: the Device publishes it on every connect, the gateway as
// a heartbeat, and its will turns it to core.running false.

import type { CommandOutcome, JsonObject } from "../../device/commands.js";
import { CommandDispatcher } from "../../device/commands.js";
import type { Device } from "../../device/device.js";
import type { Product } from "../../device/product.js";
import { SerialQueue } from "../../device/queue.js";
import { Periodic } from "../../device/scheduler.js";
import { schemaValidator } from "../../device/schema.js";
import { Settings } from "../../device/settings.js";
import type { Route } from "../../device/topics.js";
import { ERROR_INVALID_READING, ERROR_RADIO_FAILED } from "./hardware.js";
import type { BatteryMonitorRadio, MonitorAdvert, ReadOutcome } from "./hardware.js";
import { vehicleSummary } from "./health.js";
import { isGatewayId, normalizeMac } from "./ids.js";
import {
  associatedMessage, discoveryMessage, isoTime, readingMessage, responseMessage, rssiOf, sanitizeReading,
  shutdownMessage, statusKey, statusMessage, systemStatusMessage,
} from "./messages.js";
import { readHawkOptions } from "./options.js";
import type { HawkOptions } from "./options.js";
import { MonitorRegistry } from "./registry.js";
import type { MonitorState } from "./registry.js";
import { associationsError, DEFAULT_SETTINGS, SETTINGS_KEY } from "./settings.js";
import type { StoredAssociations } from "./settings.js";
import { HawkTopics } from "./topics.js";
import { commandAssociate, commandReadData } from "./validators.js";

/** How long stop() waits for the goodbye messages to be acknowledged, and then for DISCONNECT. */
const GOODBYE_TIMEOUT_MS = 5000;
/** Adverts looked at per scan; a flood beyond that is ignored (bounded work per scan). */
const MAX_ADVERTS_PER_SCAN = 64;
/**
 * Radio operations waiting or running: at most one scan, one poll read and one command read
 * (each is guarded or runs one at a time), so three; a fourth would be refused as busy.
 */
const RADIO_QUEUE_LIMIT = 3;

/**
 * `config` (the host's text) defaults to device.config; the simulation passes its fleet's
 * associations this way. Throws RangeError for a device id or an option the gateway refuses.
 */
export function createBatteryHawk(device: Device, radio: BatteryMonitorRadio, config: Readonly<Record<string, string>> = device.config): BatteryHawkGateway {
  return new BatteryHawkGateway(device, radio, config);
}

export class BatteryHawkGateway implements Product {
  readonly options: HawkOptions;
  readonly topics: HawkTopics;
  readonly registry: MonitorRegistry;
  readonly #device: Device;
  readonly #radio: BatteryMonitorRadio;
  readonly #radioQueue: SerialQueue;
  readonly #associations: Settings<StoredAssociations>;
  readonly #poll: Periodic;
  readonly #scan: Periodic;
  readonly #heartbeat: Periodic;
  /** Last published summary per vehicle (without timestamp); at most one per associated vehicle. */
  readonly #summaries = new Map<string, string>();
  /** Commands found to be another gateway's, so they get no answer. */
  readonly #notMine = new WeakSet<JsonObject>();
  #polling = false;
  #scanning = false;
  #bluetooth = "active";
  #startedAt = 0;
  #started = false;
  #stopped = false;

  constructor(device: Device, radio: BatteryMonitorRadio, config: Readonly<Record<string, string>>) {
    // The id goes into every response; the schemas hold it to this pattern.
    if (!isGatewayId(device.deviceId)) throw new RangeError(`gateway id must be 1-64 of A-Z a-z 0-9 . _ : -: "${device.deviceId}"`);
    this.#device = device;
    this.#radio = radio;
    this.options = readHawkOptions(config, (problem) => this.#log(problem));
    this.topics = new HawkTopics(this.options.prefix, this.options.root);
    this.registry = new MonitorRegistry(this.options.max_monitors);
    this.#radioQueue = new SerialQueue(RADIO_QUEUE_LIMIT, (e) => this.#log(`radio job failed: ${describe(e)}`));
    this.#associations = new Settings<StoredAssociations>(device.settings, SETTINGS_KEY, DEFAULT_SETTINGS,
      (value) => associationsError(value, this.options.max_monitors));
    this.#loadAssociations();

    device.on("report", (e) => this.#log(`${e.kind}: ${e.detail}`));
    const dispatcher = new CommandDispatcher({ idField: "request_id", nameField: "command", validateEnvelope: (r) => this.#claim(r) })
      .register("read_data", { validate: schemaValidator(commandReadData), run: (r) => this.#readDataCommand(r) })
      .register("associate", { validate: schemaValidator(commandAssociate), run: (r) => this.#associateCommand(r) });
    const { commandReadData: command, commandResponse: response } = this.topics.gateway;
    device.route({
      topic: command.topic,
      qos: command.qos,
      dispatcher,
      respond: (outcome) => (this.#answers(outcome)
        ? { ...response, payload: responseMessage(outcome, device.now(), device.deviceId) }
        : undefined),
    });
    this.#poll = new Periodic(device.timer, this.options.poll_interval_ms, () => this.#background(this.pollCycle()));
    this.#scan = new Periodic(device.timer, this.options.scan_interval_ms, () => this.#background(this.scanOnce()));
    this.#heartbeat = new Periodic(device.timer, this.options.status_interval_ms, () => {
      // Offline it would only queue a stale copy: every connect publishes a fresh one anyway.
      if (this.#device.connected) this.#publish(this.topics.gateway.systemStatus, this.#systemStatus());
    });
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#startedAt = this.#device.now();
    const o = this.options;
    const status = this.topics.gateway.systemStatus;
    this.#device.connect({
      clientId: this.#device.deviceId,
      // A persistent session: commands sent during a short outage still arrive.
      clean: false,
      keepalive: o.keepalive,
      connectTimeoutMs: o.timeout * 1000,
      // Offline, the newest data wins: the oldest waiting message is dropped when full.
      outbox: { maxMessages: o.outbox_max_messages, maxBytes: o.outbox_max_bytes, overflow: "drop-oldest" },
      status: {
        topic: status.topic,
        qos: status.qos,
        retain: status.retain,
        online: () => this.#systemStatus(),
        // Asked at each connect: no uptime, as the link dies some time later.
        offline: () => systemStatusMessage({ running: false, version: o.version, components: { mqtt: "disconnected" } }, this.#device.now()),
      },
    });
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
    const { systemShutdown, systemStatus } = this.topics.gateway;
    await this.#device.disconnect(() => {
      const at = this.#device.now();
      return Promise.all([
        this.#device.publish({ ...systemShutdown, payload: shutdownMessage("normal_shutdown", at) }),
        this.#device.publish({ ...systemStatus, payload: systemStatusMessage({
          running: false, uptimeSeconds: this.#uptime(at), version: this.options.version, components: { mqtt: "disconnected", bluetooth: "inactive" },
        }, at) }),
      ]);
    }, GOODBYE_TIMEOUT_MS);
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
        this.#log(`scan failed: ${describe(e)}`);
        this.#setBluetooth("error");
        return;
      }
      this.#setBluetooth("active");
      if (this.#stopped) return;
      const at = this.#device.now();
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
      this.#publish(this.topics.gateway.discoveryFound, fresh);
    }
  }

  /** Reads one monitor and publishes what changed; returns why it failed, or undefined. */
  async #read(m: MonitorState, command?: string): Promise<string | undefined> {
    let outcome: ReadOutcome;
    try {
      outcome = await this.#withRadio(() => this.#radio.read(m.mac));
    } catch (e) {
      outcome = { ok: false, errorCode: ERROR_RADIO_FAILED, errorMessage: `radio error: ${describe(e)}` };
    }
    if (this.#stopped) return "gateway stopped";
    const at = this.#device.now();
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
        this.#publish(this.topics.monitor(m.mac).deviceReading, readingMessage(m, info, at));
      }
    } else {
      const code = outcome?.errorCode;
      failure = typeof outcome?.errorMessage === "string" && outcome.errorMessage.length > 0 ? outcome.errorMessage.slice(0, 255) : "read failed";
      // Reached but unusable (a corrupt report) stays connected; anything else is not.
      m.connected = outcome?.connected === true;
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
    this.#publish(this.topics.monitor(m.mac).deviceStatus, statusMessage(m, at));
  }

  /** Publishes the vehicle's summary if it differs from the last one (summaries are cached). */
  #publishSummary(vehicleId: string, at: number): void {
    const summary = vehicleSummary(vehicleId, this.registry.ofVehicle(vehicleId));
    const key = JSON.stringify(summary);
    if (this.#summaries.get(vehicleId) === key) return;
    // A vehicle left without monitors is published once as empty, then forgotten (bounded cache).
    if (summary.total_devices === 0) this.#summaries.delete(vehicleId);
    else this.#summaries.set(vehicleId, key);
    this.#publish(this.topics.vehicle(vehicleId).vehicleSummary, { vehicle_id: vehicleId, timestamp: isoTime(at), ...summary });
  }

  #setBluetooth(state: "active" | "error"): void {
    if (state === this.#bluetooth) return;
    this.#bluetooth = state;
    if (this.#device.connected) this.#publish(this.topics.gateway.systemStatus, this.#systemStatus());
  }

  // ---- commands (our addition: {prefix}/command) ----

  /**
   * Whether a command is this gateway's (checked before its schema, so another gateway's is
   * neither run nor answered): one naming a gateway is that gateway's; one naming none is
   * the gateway's that knows its monitor; one whose target cannot be told is everyone's.
   */
  #claim(request: unknown): string | undefined {
    const r = request as JsonObject;
    const named = r.gateway_id;
    if (named !== undefined) {
      if (named === this.#device.deviceId) return undefined;
      this.#notMine.add(r);
      return "for another gateway";
    }
    const mac = r.device_id;
    if (typeof mac !== "string" || normalizeMac(mac) !== mac || this.registry.get(mac)) return undefined;
    this.#notMine.add(r);
    return `monitor ${mac} is not this gateway's`;
  }

  /** A command this gateway took is answered, whatever its outcome; another gateway's is not. */
  #answers(outcome: CommandOutcome): boolean {
    const r = outcome.request;
    if (!r) return true;
    // A "busy" refusal never went through #claim.
    return !this.#notMine.has(r) && (r.gateway_id === undefined || r.gateway_id === this.#device.deviceId);
  }

  async #readDataCommand(request: JsonObject): Promise<JsonObject> {
    const mac = request.device_id as string;
    const m = this.registry.get(mac);
    // Only reachable when the command names this gateway: it tells the caller, and reads nothing.
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
    // A monitor not seen yet is taken on only when the command names this gateway (#claim).
    const m = this.registry.add(mac);
    if (!m) throw new Error(`cannot track ${mac}: already tracking max_monitors (${this.registry.max}) monitors`);
    const previous = m.vehicleId;
    if (previous !== vehicleId) {
      const saved = this.#associations.update({ associations: { ...this.#associations.value.associations, [mac]: vehicleId } });
      if (!saved.ok) throw new Error(`association not saved: ${saved.error}`);
      const newVehicle = this.registry.ofVehicle(vehicleId).length === 0;
      m.vehicleId = vehicleId;
      const at = this.#device.now();
      this.#publish(this.topics.vehicle(vehicleId).vehicleDeviceAssociated, associatedMessage(m, vehicleId, newVehicle, at));
      this.#publishStatus(m, at);
      if (previous) this.#publishSummary(previous, at);
      this.#publishSummary(vehicleId, at);
    }
    return { vehicle_id: vehicleId, previous_vehicle_id: previous ?? null };
  }

  // ---- plumbing ----

  /** Configured associations, overridden by those the associate command persisted. */
  #loadAssociations(): void {
    const effective = new Map(this.options.associations);
    for (const [mac, vehicleId] of Object.entries(this.#associations.value.associations)) effective.set(mac, vehicleId);
    for (const [mac, vehicleId] of effective) {
      const m = this.registry.add(mac);
      if (m) m.vehicleId = vehicleId;
      else this.#log(`association ${mac}=${vehicleId} ignored: more than max_monitors (${this.registry.max})`);
    }
  }

  /** The running gateway's system status. */
  #systemStatus(): JsonObject {
    const at = this.#device.now();
    return systemStatusMessage({
      running: true, uptimeSeconds: this.#uptime(at), version: this.options.version,
      components: { mqtt: this.#device.connected ? "connected" : "disconnected", bluetooth: this.#bluetooth },
    }, at);
  }

  #uptime(at: number): number {
    return Math.max(0, Math.floor((at - (this.#started ? this.#startedAt : at)) / 1000));
  }

  /** Topic, QoS and retain from the table; a failure is reported through the device's "report". */
  #publish(route: Route, payload: JsonObject): void {
    void this.#device.publish({ ...route, payload });
  }

  /** Runs a radio operation once those before it are done (the radio does one thing at a time). */
  #withRadio<T>(op: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (!this.#radioQueue.add(() => Promise.resolve().then(op).then(resolve, reject))) reject(new Error("radio busy"));
    });
  }

  #background(p: Promise<unknown>): void {
    p.catch((e) => this.#log(`internal error: ${describe(e)}`));
  }

  #log(line: string): void {
    this.#device.log(`battery-hawk: ${line}`);
  }
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
