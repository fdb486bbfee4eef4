// The BESS controller: telemetry every 5 s, alarms by severity, CloudWatch logs, set_mode
// commands, configuration, system reset and firmware notices, and a retained connection
// status whose Last Will says offline. It runs on a Device (connection, routes, queue,
// goodbye) and its hardware (the BMS and converter drivers, hardware.ts); it does no I/O of
// its own. A failed BMS reading is skipped; BMS_FAILURE_THRESHOLD in a row are reported,
// alarmed, and idle the converter until readings return.

import type { Device, DeviceEvent, DeviceEvents, Publication } from "../../device/device.js";
import { CommandDispatcher } from "../../device/commands.js";
import type { CommandOutcome, JsonObject, Validator } from "../../device/commands.js";
import type { Product } from "../../device/product.js";
import { readOptions } from "../../device/options.js";
import type { OptionsOf } from "../../device/options.js";
import { schemaValidator } from "../../device/schema.js";
import type { CompiledSchema } from "../../device/schema.js";
import { Settings } from "../../device/settings.js";
import { Periodic } from "../../device/scheduler.js";
import { Alarms } from "../../device/alarms.js";
import { Logs } from "../../device/logs.js";
import { MqttError } from "../../mqtt/errors.js";
import { ModbusError } from "../../drivers/modbus.js";
import { BmsError } from "../../drivers/bms.js";
import type { OutboxOptions } from "../../device/device.js";
import { controlCommand, controlConfig, systemReset, firmwareUpdate } from "./validators.js";
import { OPTIONS } from "./options.js";
import { bessRoutes } from "./topics.js";
import type { BessRoutes } from "./topics.js";
import * as msg from "./messages.js";
import { ActionCode, AlarmCode, BusErrorCode, RequestErrorCode, StatusCode } from "./codes.js";
import type { BusErrorKind } from "./codes.js";
import { evaluate } from "./conditions.js";
import type { AlarmDetail, Severity } from "./conditions.js";
import type { BessHardware, BessReading, Mode, ModeLimits } from "./hardware.js";
import { LinkErrors } from "./link.js";
import { reconnectOptions, DEFAULT_SETTINGS, SETTINGS_KEY, settingsPatch, settingsValidator } from "./settings.js";
import type { BessSettings } from "./settings.js";

export const FIRMWARE_VERSION = "0.1.0";

const DEVICE_ID = /^[A-Za-z0-9_:-]{1,128}$/;

/** The controller's state at power-up and after a reset: idle, with conservative limits. */
export const DEFAULT_LIMITS: ModeLimits = { powerLimitKw: 10, socMin: 10 };

/**
 * Offline outbox: 10 minutes of 5 s telemetry plus status and alarms, within 32 KB of RAM on
 * top of the client itself. When full the oldest message is dropped: fresh telemetry is worth
 * more than stale, and each drop is logged locally. QoS 0 (logs) is never queued: logs are
 * published only while connected.
 */
export const OUTBOX: OutboxOptions = { maxMessages: 120, maxBytes: 32 * 1024, overflow: "drop-oldest", queueQos0: false };

/** Active alarms tracked at once (4 modules x 1 thermal + 2 SOC conditions fit with room). */
export const MAX_ACTIVE_ALARMS = 16;

/** Bound on each step of a goodbye (the offline status, then DISCONNECT): a dead link cannot hold a stop or a reset. */
export const GOODBYE_MS = 5000;

/** Keepalive, s: a dead link is noticed within 1.5 x this. */
export const KEEPALIVE_S = 60;

/** When the queue is full as a reset falls due, the restart is tried again this much later. */
export const RESTART_RETRY_MS = 1000;

/**
 * Failed BMS readings in a row before the BMS counts as lost (15 s at the 5 s telemetry
 * period): one garbled or missed answer on RS-485 is noise, three are a fault.
 */
export const BMS_FAILURE_THRESHOLD = 3;

export type BessOptions = OptionsOf<typeof OPTIONS>;

export interface BessProduct extends Product {
  readonly options: BessOptions;
  readonly routes: BessRoutes;
  readonly settings: Settings<BessSettings>;
  readonly alarms: Alarms<AlarmDetail>;
  readonly logs: Logs;
  readonly hardware: BessHardware;
  /** Reads the BMS, evaluates alarms and publishes telemetry now (the periodic task); resolves when done. */
  tick(): Promise<void>;
  /** Resolves when every request received so far has been handled and answered. */
  idle(): Promise<void>;
}

const schema = (compiled: unknown): Validator => schemaValidator(compiled as CompiledSchema);

export function createBess(device: Device, hardware: BessHardware): BessProduct {
  return new BessController(device, hardware);
}

class BessController implements BessProduct {
  readonly options: BessOptions;
  readonly routes: BessRoutes;
  readonly settings: Settings<BessSettings>;
  readonly alarms: Alarms<AlarmDetail>;
  readonly logs: Logs;
  readonly hardware: BessHardware;
  readonly #device: Device;
  readonly #telemetry: Periodic;
  readonly #link: LinkErrors;
  readonly #validate = {
    command: schema(controlCommand),
    config: schema(controlConfig),
    reset: schema(systemReset),
    firmware: schema(firmwareUpdate),
  };
  #limits: ModeLimits = { ...DEFAULT_LIMITS };
  #resetTimer: unknown;
  /** BMS readings failed in a row. */
  #bmsFailures = 0;
  /** From an accepted reset until its restart has run: one reset at a time. */
  #resetPending = false;
  /** While we disconnect ourselves (stop, reset): the end of the link is no failure. */
  #closing = false;
  #stopped = false;

  constructor(device: Device, hardware: BessHardware) {
    if (!DEVICE_ID.test(device.deviceId)) throw new RangeError(`BESS device id must be 1-128 of A-Z a-z 0-9 _ : -, not "${device.deviceId}"`);
    this.#device = device;
    this.hardware = hardware;
    this.options = readOptions(OPTIONS, device.config);
    this.routes = bessRoutes(this.options.root);
    this.settings = new Settings<BessSettings>(device.settings, SETTINGS_KEY, DEFAULT_SETTINGS, settingsValidator(this.#validate.config));
    this.logs = new Logs({
      now: () => device.now(),
      format: (entry) => msg.log(this.routes, device.deviceId, entry),
      publish: (p) => device.publish(p),
      local: (line) => device.log(line),
      connected: () => device.connected,
      minLevel: this.settings.value.log_level,
    });
    this.alarms = new Alarms<AlarmDetail>({
      maxActive: MAX_ACTIVE_ALARMS,
      now: () => device.now(),
      format: (a, change) => this.#alarmMessage(a.severity as Severity, a.detail, change === "cleared"),
      publish: (p) => device.publish(p),
    });
    this.#link = new LinkErrors({
      status: (isError, code, message) => this.#status(isError, code, message),
      log: (level, message) => this.logs.log(level, "mqtt_client", message),
    });
    this.#telemetry = new Periodic(device.timer, this.settings.value.telemetry_interval_ms, () => void this.tick());
    this.settings.onChange((value) => {
      this.#telemetry.setInterval(value.telemetry_interval_ms); // at once, not after the old period
      this.logs.minLevel = value.log_level;
    });
    device.on("connected", () => this.#link.connected());
    device.on("disconnected", (d) => this.#disconnected(d));
    device.on("report", (e) => this.#report(e));

    // Every controller shares the topics: a request naming another device_id is stopped
    // before it runs, and left unanswered (#respond).
    const format = { idField: "request_id", nameField: "command", validateEnvelope: (r: unknown) => this.#forAnother(r as JsonObject) ? "addressed to another controller" : undefined };
    const respond = (o: CommandOutcome): Publication | undefined => this.#respond(o);
    const commands = new CommandDispatcher(format)
      .register("set_mode", { validate: this.#validate.command, run: (r) => this.#setMode(r) });
    // config, reset and firmware_update each have a topic of their own, which names the action.
    const actions = new CommandDispatcher(format)
      .register("config", { validate: this.#validate.config, run: (r) => this.#configure(r) })
      .register("reset", { validate: this.#validate.reset, run: (r) => this.#reset(r) })
      .register("firmware_update", { validate: this.#validate.firmware, run: (r) => this.#firmware(r) });
    const r = this.routes;
    device.route({ topic: r.controlCommand.topic, qos: r.controlCommand.qos, dispatcher: commands, respond });
    for (const [route, action] of [[r.controlConfig, "config"], [r.systemReset, "reset"], [r.firmwareUpdate, "firmware_update"]] as const) {
      device.route({ topic: route.topic, qos: route.qos, dispatcher: actions, commandOf: () => action, respond });
    }
    void this.#idle("power-up");
  }

  start(): void {
    this.#stopped = false;
    this.#begin();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#telemetry.stop();
    if (this.#resetTimer !== undefined) this.#device.timer.clear(this.#resetTimer);
    this.#resetTimer = undefined;
    this.#resetPending = false;
    await this.#goodbye();
  }

  // Ticks are not skipped while a reading is on the line: a reading ends within
  // BUS_TIMEOUT_MS (200 ms), well inside the shortest telemetry period (1 s), so they cannot
  // pile up; and the telemetry keeps the time its reading was asked for.
  async tick(): Promise<void> {
    const at = this.#device.now();
    try {
      let reading: BessReading;
      try {
        reading = await this.hardware.read();
      } catch (e) {
        await this.#bmsFailed(e);
        return;
      }
      this.#bmsAnswered();
      const newlyCritical = evaluate(reading, this.alarms);
      void this.#device.publish(msg.telemetry(this.routes, this.#device.deviceId, at, reading));
      const hot = this.#thermalCritical();
      // Also retried at every reading while a converter that did not confirm idle stays unsafe.
      if (hot && this.hardware.mode !== "idle") {
        const moduleId = hot.detail.moduleId;
        await this.#thermalShutdown(moduleId, reading.moduleTemps[moduleId - 1] ?? Math.max(...reading.moduleTemps), newlyCritical.includes(moduleId));
      }
    } finally {
      this.logs.flush();
    }
  }

  idle(): Promise<void> {
    return this.#device.queue.idle();
  }

  // ---- connection ----

  #begin(): void {
    const device = this.#device;
    device.connect({
      clientId: device.deviceId,
      // A clean session: commands sent while the controller was away are not run late.
      clean: true,
      keepalive: KEEPALIVE_S,
      outbox: OUTBOX,
      reconnect: reconnectOptions(this.settings.value),
      status: {
        ...this.routes.statusConnection,
        online: () => msg.connection(device.deviceId, true, device.now()),
        offline: () => msg.connection(device.deviceId, false),
      },
    });
    this.#telemetry.setInterval(this.settings.value.telemetry_interval_ms);
    this.#telemetry.start();
    this.#status(false, StatusCode.started,
      `BESS controller started: firmware ${FIRMWARE_VERSION}, mode ${this.hardware.mode}, telemetry every ${this.settings.value.telemetry_interval_ms} ms`);
  }

  /** A clean shutdown: the retained status says offline (as the will would), then DISCONNECT; each step bounded. */
  async #goodbye(): Promise<void> {
    const device = this.#device;
    this.#closing = true;
    try {
      await device.disconnect(() => device.publish({ ...this.routes.statusConnection, payload: msg.connection(device.deviceId, false, device.now()) }), GOODBYE_MS);
    } finally {
      this.#closing = false;
    }
  }

  #disconnected(d: DeviceEvents["disconnected"][0]): void {
    if (!d.error || this.#closing) return;
    // Written locally: the link is down.
    this.#device.log(`W mqtt_client: Disconnected from MQTT broker: ${d.error.message}`);
    this.#link.error(d.error);
    // No retry planned: reconnecting is exhausted (max_reconnect_attempts).
    if (d.reconnectInMs === undefined && !this.#stopped) {
      this.logs.error("mqtt_client", `Gave up connecting after ${this.settings.value.max_reconnect_attempts} attempt(s): ${d.error.message}`);
    }
  }

  #report(e: DeviceEvent): void {
    switch (e.kind) {
      case "subscribe_refused":
        this.#link.error(new MqttError("SUBSCRIBE_FAILED", e.detail));
        break;
      case "subscribe_restored":
        this.logs.info("mqtt_client", `Subscription restored: ${e.detail}`);
        break;
      case "client_error":
        if (e.error) this.#link.error(e.error);
        break;
      case "publish_failed":
        // A failed log publication is only written locally, so it cannot feed on itself.
        if (this.#isLogTopic(e.topic)) this.#device.log(`E mqtt_client: publish failed: ${e.detail}`);
        else this.logs.error("mqtt_client", `BESS_MQTT_ERR_PUBLISH_FAILED: ${e.detail}`);
        break;
      case "queue_failed":
        this.logs.error("controller", `Request failed: ${e.detail}`);
        break;
      case "command_rejected":
        // Logged by #respond, which knows whether the request was this controller's.
        break;
    }
  }

  #isLogTopic(topic: string | undefined): boolean {
    const r = this.routes;
    return topic === r.logInfo.topic || topic === r.logWarning.topic || topic === r.logError.topic;
  }

  // ---- publications ----

  #status(isError: boolean, code: number, message: string, requestId?: string | null): void {
    void this.#device.publish(msg.status(this.routes, this.#device.deviceId, this.#device.now(), isError, code, message, requestId));
  }

  #alarmMessage(severity: Severity, d: AlarmDetail, cleared: boolean): Publication {
    // A cleared alarm is announced as information under its own code (the specification has no clear message).
    return msg.alarm(this.routes, this.#device.deviceId, this.#device.now(), { code: d.code, message: d.message, severity: cleared ? 1 : severity, moduleId: d.moduleId });
  }

  /** Every outcome of this controller's requests on status/info (accepted) or status/error (rejected), with its request_id. */
  #respond(o: CommandOutcome): Publication | undefined {
    if (this.#forAnother(o.request)) return undefined;
    const now = this.#device.now();
    const id = this.#device.deviceId;
    if (!o.ok) {
      const code = o.error?.code ?? "failed";
      this.logs.warning("controller", `Request rejected: ${code}: ${o.error?.message ?? ""}`);
      return msg.status(this.routes, id, now, true, RequestErrorCode[code], `${o.command ?? "request"} rejected (${code}): ${o.error?.message ?? ""}`, o.id);
    }
    const r = o.result ?? {};
    return msg.status(this.routes, id, now, false, Number(r.code), String(r.message), o.id);
  }

  /** Whether a request names another controller in device_id (optional: no device_id means every controller). */
  #forAnother(request: JsonObject | undefined): boolean {
    const target = request?.device_id;
    return typeof target === "string" && target !== this.#device.deviceId;
  }

  // ---- requests ----

  async #setMode(r: JsonObject): Promise<JsonObject> {
    const mode = r.mode as Mode;
    const params = (r.params ?? {}) as JsonObject;
    const critical = this.#thermalCritical();
    if (mode !== "idle" && critical) {
      throw new Error(`${mode} refused: thermal shutdown active (module ${critical.detail.moduleId}); only idle is allowed`);
    }
    if (mode !== "idle" && this.#bmsFailures >= BMS_FAILURE_THRESHOLD) {
      throw new Error(`${mode} refused: the BMS cannot be read; only idle is allowed`);
    }
    const limits: ModeLimits = {
      powerLimitKw: typeof params.power_limit_kw === "number" ? params.power_limit_kw : this.#limits.powerLimitKw,
      socMin: typeof params.soc_min === "number" ? params.soc_min : this.#limits.socMin,
    };
    try {
      await this.hardware.setMode(mode, limits);
    } catch (e) {
      const text = `${mode} not applied, converter still ${this.hardware.mode}: ${reason(e)}`;
      this.logs.error("battery_manager", text);
      throw new Error(text);
    }
    this.#limits = limits;
    const text = `Mode set to ${mode}: power limit ${limits.powerLimitKw} kW, soc_min ${limits.socMin} %`;
    this.logs.info("battery_manager", text);
    return { code: StatusCode.modeChanged, message: `set_mode accepted. ${text}` };
  }

  #configure(r: JsonObject): JsonObject {
    const result = this.settings.update(settingsPatch(r));
    if (!result.ok) throw new Error(result.error);
    const changed = result.changed.map((k) => `${String(k)}=${String(result.value[k])}`);
    const later = result.changed.some((k) => k === "reconnect_interval_ms" || k === "max_reconnect_attempts")
      ? " (reconnect settings apply from the next restart)" : "";
    const text = changed.length ? `Configuration applied: ${changed.join(", ")}${later}` : "Configuration unchanged";
    this.logs.info("config", text);
    return { code: StatusCode.configApplied, message: text };
  }

  #reset(r: JsonObject): JsonObject {
    const type = r.reset_type === "factory_reset" ? "factory_reset" : "restart";
    const delayMs = typeof r.delay_ms === "number" ? r.delay_ms : 0;
    if (this.#resetPending) throw new Error("a reset is already pending");
    this.#resetPending = true;
    this.logs.warning("controller", `System ${type} requested; resetting in ${delayMs} ms`);
    this.#scheduleRestart(type === "factory_reset", delayMs);
    return { code: StatusCode.resetAccepted, message: `System ${type} accepted; resetting in ${delayMs} ms` };
  }

  /**
   * The restart runs on the device's queue: after the reset's own answer, and requests that
   * arrive meanwhile wait for the fresh state.
   */
  #scheduleRestart(factory: boolean, delayMs: number): void {
    this.#resetTimer = this.#device.timer.set(() => {
      this.#resetTimer = undefined;
      const queued = this.#device.queue.add(async () => {
        try {
          await this.#restart(factory);
        } finally {
          this.#resetPending = false;
        }
      });
      if (!queued) this.#scheduleRestart(factory, RESTART_RETRY_MS);
    }, delayMs);
  }

  /** A controller restart: goodbye, state back to power-up (settings erased on a factory reset), reconnect. */
  async #restart(factory: boolean): Promise<void> {
    if (this.#stopped) return;
    this.#telemetry.stop();
    await this.#goodbye();
    if (this.#stopped) return;
    if (factory) this.settings.reset();
    this.#limits = { ...DEFAULT_LIMITS };
    await this.#idle("restart");
    this.alarms.reset();
    this.#bmsFailures = 0;
    this.#link.reset();
    this.#begin();
  }

  #firmware(r: JsonObject): JsonObject {
    const version = String(r.version);
    if (compareVersions(version, FIRMWARE_VERSION) <= 0) {
      throw new Error(`firmware ${version} is not newer than the running ${FIRMWARE_VERSION}`);
    }
    const size = typeof r.size_bytes === "number" ? `, ${r.size_bytes} bytes` : "";
    const text = `Firmware ${version} available (${String(r.url)}${size}, sha256 ${String(r.sha256).slice(0, 12)}...); running ${FIRMWARE_VERSION}, update not installed by this build`;
    this.logs.info("ota", text);
    return { code: StatusCode.firmwareNoticed, message: text };
  }

  #thermalCritical() {
    return this.alarms.active.find((a) => a.severity === 4 && a.code.startsWith("temperature:"));
  }

  /**
   * The specification's emergency_thermal_shutdown(module_id): stop the converter, say so.
   * A converter that does not confirm is reported when the alarm is new (`announce`) and
   * tried again at the next reading.
   */
  async #thermalShutdown(moduleId: number, temperature: number, announce: boolean): Promise<void> {
    const where = `module ${moduleId} at ${temperature.toFixed(1)} C`;
    try {
      await this.hardware.setMode("idle", this.#limits);
    } catch (e) {
      const text = `Emergency thermal shutdown: ${where}, but the converter did not confirm idle (${reason(e)}); retrying at the next reading`;
      if (announce) this.#status(true, ActionCode.thermalShutdown, text);
      this.logs.error("thermal_monitor", text);
      return;
    }
    const text = `Emergency thermal shutdown: ${where}, mode idle`;
    this.#status(true, ActionCode.thermalShutdown, text);
    this.logs.error("thermal_monitor", text);
  }

  /** Sets the converter idle at power-up and restart; a converter that does not answer is logged. */
  async #idle(why: string): Promise<void> {
    try {
      await this.hardware.setMode("idle", this.#limits);
    } catch (e) {
      this.logs.error("battery_manager", `Converter not set idle at ${why}: ${reason(e)}`);
    }
  }

  // ---- the BMS link ----

  /** A reading skipped; from the threshold on: error status (7001-7004 by cause) and alarm 7000 once, converter idle. */
  async #bmsFailed(e: unknown): Promise<void> {
    this.#bmsFailures++;
    const cause = reason(e);
    this.logs.warning("bms", `BMS reading skipped (${this.#bmsFailures} in a row): ${cause}`);
    if (this.#bmsFailures < BMS_FAILURE_THRESHOLD) return;
    if (this.#bmsFailures === BMS_FAILURE_THRESHOLD) {
      const kind: BusErrorKind = e instanceof ModbusError ? e.kind : e instanceof BmsError ? e.kind : "closed";
      const text = `BMS readings lost: ${this.#bmsFailures} in a row failed, last: ${cause}`;
      this.#status(true, BusErrorCode[kind], text);
      this.logs.error("bms", text);
      this.alarms.raise("bms:link", 3, { code: AlarmCode.bmsLost, message: `BMS readings lost (${cause})`, moduleId: 0 });
    }
    // Tried again at every failed reading until the converter confirms.
    if (this.hardware.mode === "idle") return;
    try {
      await this.hardware.setMode("idle", this.#limits);
      this.#status(true, ActionCode.bmsLostShutdown, "Converter set idle: the battery cannot be monitored");
    } catch (err) {
      this.logs.error("bms", `Converter not set idle while the BMS is lost: ${reason(err)}`);
    }
  }

  #bmsAnswered(): void {
    if (this.#bmsFailures >= BMS_FAILURE_THRESHOLD) {
      const text = `BMS readings restored after ${this.#bmsFailures} failed`;
      this.#status(false, StatusCode.bmsRestored, text);
      this.logs.info("bms", text);
      const active = this.alarms.get("bms:link");
      if (active) this.alarms.clear("bms:link", { ...active.detail, message: "BMS readings lost cleared (readings restored)" });
    }
    this.#bmsFailures = 0;
  }
}

function reason(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Compares x.y.z (pre-release and build suffixes ignored): negative, 0 or positive. */
export function compareVersions(a: string, b: string): number {
  const parts = (v: string) => v.split(/[-+]/)[0].split(".").map((n) => Number(n));
  const pa = parts(a);
  const pb = parts(b);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
