// The BESS controller (seed 000): telemetry every 5 s, alarms by severity, CloudWatch logs,
// set_mode commands, configuration, system reset and firmware notices, and a retained
// connection status with a matching Last Will. No I/O: the host gives it a client factory,
// a timer, a clock and a settings store; the hardware is an interface.

import { Device, willFor } from "../../device/device.js";
import type { Publication, StatusOptions } from "../../device/device.js";
import { CommandDispatcher } from "../../device/commands.js";
import type { CommandOutcome, JsonObject, Validator } from "../../device/commands.js";
import type { Product, ProductHost } from "../../device/product.js";
import { schemaValidator } from "../../device/schema.js";
import type { CompiledSchema } from "../../device/schema.js";
import { Settings } from "../../device/settings.js";
import { Periodic } from "../../device/scheduler.js";
import { Alarms } from "../../device/alarms.js";
import { Logs } from "../../device/logs.js";
import type { MqttClient } from "../../mqtt/client.js";
import { MqttError } from "../../mqtt/errors.js";
import type { OutboxOptions } from "../../mqtt/session.js";
import { controlCommand, controlConfig, systemReset, firmwareUpdate } from "./validators.js";
import { bessTopics, DEFAULT_ROOT } from "./topics.js";
import type { BessTopics } from "./topics.js";
import * as msg from "./messages.js";
import { ActionCode, RequestErrorCode, StatusCode } from "./codes.js";
import { evaluate } from "./conditions.js";
import type { AlarmDetail, Severity } from "./conditions.js";
import type { BessHardware, Mode, ModeLimits } from "./hardware.js";
import { LinkErrors } from "./link.js";
import { reconnectOptions, SETTINGS_DEFAULTS, SETTINGS_KEY, settingsPatch, settingsValidator } from "./settings.js";
import type { BessSettings } from "./settings.js";

export const FIRMWARE_VERSION = "0.1.0";

const DEVICE_ID = /^[A-Za-z0-9_:-]{1,128}$/;
/** Marks a request for another controller: silently ignored (no answer, no warning). */
const NOT_MINE = "addressed to";

/** The controller's state at power-up and after a reset: idle, with conservative limits. */
export const DEFAULT_LIMITS: ModeLimits = { powerLimitKw: 10, socMin: 10 };

/**
 * Offline outbox: 10 minutes of 5 s telemetry plus status and alarms, within 32 KB of RAM
 * (the seed budgets ~16 KB for the client itself, line 332; this is the offline store on
 * top). When full the oldest message is dropped: fresh telemetry is worth more than stale,
 * and each drop is logged locally. QoS 0 (logs) is never queued: the seed publishes logs
 * only while connected (line 277).
 */
export const OUTBOX: OutboxOptions = { maxMessages: 120, maxBytes: 32 * 1024, overflow: "drop-oldest", queueQos0: false };

/** Active alarms tracked at once (4 modules x 1 thermal + 2 SOC conditions fit with room). */
export const MAX_ACTIVE_ALARMS = 16;

export interface BessProduct extends Product {
  readonly topics: BessTopics;
  readonly settings: Settings<BessSettings>;
  readonly alarms: Alarms<AlarmDetail>;
  readonly logs: Logs;
  readonly hardware: BessHardware;
  /** Reads the hardware, evaluates alarms and publishes telemetry now (the periodic task). */
  tick(): void;
  /** Resolves when every inbound request received so far has been handled and answered. */
  idle(): Promise<void>;
}

interface Session {
  client: MqttClient;
  device: Device;
}

const schema = (compiled: unknown): Validator => schemaValidator(compiled as CompiledSchema);

export function createBess(host: ProductHost, hardware: BessHardware): BessProduct {
  return new BessController(host, hardware);
}

class BessController implements BessProduct {
  readonly topics: BessTopics;
  readonly settings: Settings<BessSettings>;
  readonly alarms: Alarms<AlarmDetail>;
  readonly logs: Logs;
  readonly hardware: BessHardware;
  readonly #host: ProductHost;
  readonly #deviceId: string;
  readonly #telemetry: Periodic;
  readonly #link: LinkErrors;
  readonly #dispatcher: CommandDispatcher;
  /** config, reset and firmware_update: each on its own topic, which names the action. */
  readonly #topicActions: CommandDispatcher;
  readonly #validate = {
    command: schema(controlCommand),
    config: schema(controlConfig),
    reset: schema(systemReset),
    firmware: schema(firmwareUpdate),
  };
  #session: Session;
  #limits: ModeLimits = { ...DEFAULT_LIMITS };
  /** Inbound requests on config/reset/firmware run one at a time, answered in arrival order. */
  #inboundChain: Promise<void> = Promise.resolve();
  #resetTimer: unknown;
  #stopped = false;

  constructor(host: ProductHost, hardware: BessHardware) {
    if (!DEVICE_ID.test(host.deviceId)) throw new RangeError(`BESS device id must be 1-128 of A-Z a-z 0-9 _ : -, not "${host.deviceId}"`);
    this.#host = host;
    this.#deviceId = host.deviceId;
    this.hardware = hardware;
    this.topics = bessTopics(host.config.root ?? DEFAULT_ROOT);
    this.settings = new Settings<BessSettings>(host.settings, SETTINGS_KEY, SETTINGS_DEFAULTS, settingsValidator(this.#validate.config));
    this.logs = new Logs({
      now: () => host.now(),
      format: (entry) => msg.log(this.topics, this.#deviceId, entry),
      publish: (p) => this.#publish(p),
      local: (line) => host.log(line),
      connected: () => this.#session.client.connected,
      minLevel: this.settings.value.log_level,
    });
    this.alarms = new Alarms<AlarmDetail>({
      maxActive: MAX_ACTIVE_ALARMS,
      now: () => host.now(),
      format: (a, change) => this.#alarmMessage(a.severity as Severity, a.detail, change === "cleared"),
      publish: (p) => this.#publish(p),
    });
    this.#link = new LinkErrors({
      status: (isError, code, message) => this.#status(isError, code, message),
      log: (level, message) => this.logs.log(level, "mqtt_client", message),
    });
    this.#telemetry = new Periodic(host.timer, this.settings.value.telemetry_interval_ms, () => this.tick());
    this.settings.onChange((value) => {
      this.#telemetry.setInterval(value.telemetry_interval_ms); // at once, not after the old period
      this.logs.minLevel = value.log_level;
    });
    this.#dispatcher = new CommandDispatcher({ idField: "request_id", nameField: "command", validateEnvelope: (r) => this.#notMine(r) })
      .register("set_mode", { validate: this.#validate.command, run: (r) => this.#setMode(r) });
    this.#topicActions = new CommandDispatcher({ idField: "request_id", nameField: "command", validateEnvelope: (r) => this.#notMine(r) })
      .register("config", { validate: this.#validate.config, run: (r) => this.#configure(r) })
      .register("reset", { validate: this.#validate.reset, run: (r) => this.#reset(r) })
      .register("firmware_update", { validate: this.#validate.firmware, run: (r) => this.#firmware(r) });
    hardware.setMode("idle", this.#limits);
    this.#session = this.#newSession();
  }

  get client(): MqttClient {
    return this.#session.client;
  }

  start(): void {
    this.#stopped = false;
    this.#begin();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#telemetry.stop();
    if (this.#resetTimer !== undefined) this.#host.timer.clear(this.#resetTimer);
    this.#resetTimer = undefined;
    await this.#goodbye();
  }

  tick(): void {
    const reading = this.hardware.read();
    for (const moduleId of evaluate(reading, this.alarms)) this.#thermalShutdown(moduleId, reading.moduleTemps[moduleId - 1]);
    void this.#publish(msg.telemetry(this.topics, this.#deviceId, this.#host.now(), reading));
    this.logs.flush();
  }

  idle(): Promise<void> {
    return this.#inboundChain;
  }

  // ---- connection ----

  #newSession(): Session {
    const status: StatusOptions = {
      topic: this.topics.statusConnection,
      qos: 1,
      online: () => msg.connection(this.#deviceId, true, this.#host.now()),
      offline: msg.connection(this.#deviceId, false),
    };
    const client = this.#host.createClient({
      clientId: this.#deviceId,
      // A clean session: commands sent while the controller was away are not run late.
      clean: true,
      keepalive: 60,
      will: willFor(status),
      reconnect: reconnectOptions(this.settings.value),
      outbox: OUTBOX,
    });
    const device = new Device(client, {
      status,
      commands: { topic: this.topics.controlCommands, qos: 1, dispatcher: this.#dispatcher, respond: (o) => this.#respond(o) },
      report: (e) => {
        if (e.kind === "command_rejected") {
          if (!e.detail.includes(NOT_MINE)) this.logs.warning("controller", `Request rejected: ${e.detail}`);
        } else if (e.kind === "subscribe_refused") this.logs.error("mqtt_client", `BESS_MQTT_ERR_SUBSCRIBE_FAILED: ${e.detail}`);
        else if (e.kind === "subscribe_restored") this.logs.info("mqtt_client", `Subscription restored: ${e.detail}`);
        // A failed log publication is only written locally, so it cannot feed on itself.
        else if (this.#isLogTopic(e.detail)) this.#host.log(`E mqtt_client: publish failed: ${e.detail}`);
        else this.logs.error("mqtt_client", `BESS_MQTT_ERR_PUBLISH_FAILED: ${e.detail}`);
      },
    });
    client.on("error", (e) => this.#link.error(e));
    client.on("connected", () => this.#link.connected());
    client.on("disconnected", (d) => {
      if (d.error) this.#host.log(`W mqtt_client: Disconnected from MQTT broker: ${d.error.message}`);
    });
    const inbound = (topic: string, qos: 1 | 2, action: string) => {
      client.subscribe(topic, { qos }, (m) => {
        this.#inboundChain = this.#inboundChain.then(async () => {
          const outcome = await this.#topicActions.dispatchAs(action, m.payload);
          if (!outcome.ok && !outcome.error?.message.includes(NOT_MINE)) {
            this.logs.warning("controller", `Request rejected: ${outcome.error?.code}: ${outcome.error?.message}`);
          }
          const response = this.#respond(outcome);
          if (response) await this.#publish(response);
        });
      }).catch((e: unknown) => this.#subscribeFailed(topic, e));
    };
    inbound(this.topics.controlConfig, 1, "config");
    inbound(this.topics.systemReset, 2, "reset");
    inbound(this.topics.firmwareUpdate, 2, "firmware_update");
    return { client, device };
  }

  #begin(): void {
    const client = this.#session.client;
    client.connect().catch((e: unknown) => {
      // Only when reconnecting is exhausted (max_reconnect_attempts) or the client was stopped.
      if (!this.#stopped && client === this.#session.client) {
        this.logs.error("mqtt_client", `Gave up connecting after ${this.settings.value.max_reconnect_attempts} attempt(s): ${e instanceof Error ? e.message : String(e)}`);
      }
    });
    this.#telemetry.setInterval(this.settings.value.telemetry_interval_ms);
    this.#telemetry.start();
    this.#status(false, StatusCode.started,
      `BESS controller started: firmware ${FIRMWARE_VERSION}, mode ${this.hardware.mode}, telemetry every ${this.settings.value.telemetry_interval_ms} ms`);
  }

  /** A clean shutdown: the retained status says offline (as the will would), then DISCONNECT. */
  async #goodbye(): Promise<void> {
    const { client, device } = this.#session;
    if (client.connected) await device.publish({ topic: this.topics.statusConnection, payload: msg.connection(this.#deviceId, false, this.#host.now()), qos: 1, retain: true });
    await client.disconnect().catch(() => {});
  }

  #subscribeFailed(topic: string, e: unknown): void {
    this.#link.error(new MqttError("SUBSCRIBE_FAILED", `cannot subscribe to ${topic}: ${e instanceof Error ? e.message : String(e)}`, undefined, e));
  }

  /** Whether a "topic: reason" text is about one of the log topics. */
  #isLogTopic(detail: string): boolean {
    const t = this.topics;
    return [t.logInfo, t.logWarning, t.logError].some((topic) => detail.startsWith(`${topic}:`));
  }

  // ---- publications ----

  #publish(p: Publication): Promise<boolean> {
    return this.#session.device.publish(p);
  }

  #status(isError: boolean, code: number, message: string, requestId?: string | null): void {
    void this.#publish(msg.status(this.topics, this.#deviceId, this.#host.now(), isError, code, message, requestId));
  }

  #alarmMessage(severity: Severity, d: AlarmDetail, cleared: boolean): Publication {
    // A cleared alarm is announced as information under its own code (the seed has no clear message).
    return msg.alarm(this.topics, this.#deviceId, this.#host.now(), { code: d.code, message: d.message, severity: cleared ? 1 : severity, moduleId: d.moduleId });
  }

  /** Every inbound outcome on status/info (accepted) or status/error (rejected), with its request_id. */
  #respond(o: CommandOutcome): Publication | undefined {
    const target = o.request?.device_id;
    if (typeof target === "string" && target !== this.#deviceId) return undefined; // another controller's
    const now = this.#host.now();
    if (!o.ok) {
      const code = o.error?.code ?? "failed";
      return msg.status(this.topics, this.#deviceId, now, true, RequestErrorCode[code], `${o.command ?? "request"} rejected (${code}): ${o.error?.message ?? ""}`, o.id);
    }
    const r = o.result ?? {};
    return msg.status(this.topics, this.#deviceId, now, false, Number(r.code), String(r.message), o.id);
  }

  #notMine(r: unknown): string | undefined {
    const target = (r as JsonObject).device_id;
    return typeof target === "string" && target !== this.#deviceId ? `${NOT_MINE} ${target}, not ${this.#deviceId}` : undefined;
  }

  // ---- requests ----

  #setMode(r: JsonObject): JsonObject {
    const mode = r.mode as Mode;
    const params = (r.params ?? {}) as JsonObject;
    const critical = this.alarms.active.find((a) => a.severity === 4 && a.code.startsWith("temperature:"));
    if (mode !== "idle" && critical) {
      throw new Error(`${mode} refused: thermal shutdown active (module ${critical.detail.moduleId}); only idle is allowed`);
    }
    const limits: ModeLimits = {
      powerLimitKw: typeof params.power_limit_kw === "number" ? params.power_limit_kw : this.#limits.powerLimitKw,
      socMin: typeof params.soc_min === "number" ? params.soc_min : this.#limits.socMin,
    };
    this.hardware.setMode(mode, limits);
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
    if (this.#resetTimer !== undefined) throw new Error("a reset is already pending");
    this.logs.warning("controller", `System ${type} requested; resetting in ${delayMs} ms`);
    // After the acknowledgement has gone out (the inbound chain publishes it first).
    const pending = this.#inboundChain;
    this.#resetTimer = this.#host.timer.set(() => {
      this.#resetTimer = undefined;
      void pending.then(() => this.#restart(type === "factory_reset"));
    }, delayMs);
    return { code: StatusCode.resetAccepted, message: `System ${type} accepted; resetting in ${delayMs} ms` };
  }

  /** A controller restart: goodbye, state back to power-up (settings erased on a factory reset), reconnect. */
  async #restart(factory: boolean): Promise<void> {
    if (this.#stopped) return;
    this.#telemetry.stop();
    await this.#goodbye();
    if (this.#stopped) return;
    if (factory) this.settings.reset();
    this.#limits = { ...DEFAULT_LIMITS };
    this.hardware.setMode("idle", this.#limits);
    this.alarms.reset();
    this.#link.reset();
    this.#session = this.#newSession();
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

  /** emergency_thermal_shutdown(module_id), seed line 264: stop the converter, say so. */
  #thermalShutdown(moduleId: number, temperature: number): void {
    if (this.hardware.mode === "idle") return;
    this.hardware.setMode("idle", this.#limits);
    const text = `Emergency thermal shutdown: module ${moduleId} at ${temperature.toFixed(1)} C, mode idle`;
    this.#status(true, ActionCode.thermalShutdown, text);
    this.logs.error("thermal_monitor", text);
  }
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
