// The DESE water-quality controller: retained status with a Last Will of offline, the six
// commands answered on command_response, config updates applied atomically and persisted,
// periodic telemetry, threshold and sensor-fault alerts, and the dosing interlock. Free of
// I/O: the host gives the client, timer, clock, settings store and randomness.

import type { MqttClient, Message } from "../../mqtt/client.js";
import { decodeUtf8 } from "../../mqtt/utf8.js";
import type { CommandOutcome, JsonObject } from "../../device/commands.js";
import { Device, willFor } from "../../device/device.js";
import type { Publication, StatusOptions } from "../../device/device.js";
import type { Product, ProductHost } from "../../device/product.js";
import { Periodic } from "../../device/scheduler.js";
import { Settings } from "../../device/settings.js";
import { RateLimiter, ThresholdMonitor, clip } from "./alerts.js";
import type { Alert } from "./alerts.js";
import { COMMAND_ID, RecentCommands, createDispatcher } from "./commands.js";
import type { DeseHardware } from "./hardware.js";
import { alertMessage, responseMessage, statusMessage, telemetryMessage } from "./messages.js";
import type { DeviceInfo, StatusValue } from "./messages.js";
import { checkId, readOptions } from "./options.js";
import type { DeseOptions } from "./options.js";
import { PumpControl } from "./pumps.js";
import { SENSORS, round, sample } from "./sensors.js";
import type { Readings, Sample, SensorName } from "./sensors.js";
import { DEFAULT_SETTINGS, SETTINGS_KEY, checkConfigMessage, patchFor, validateSettings } from "./settings.js";
import type { ConfigMessage, DeseSettings } from "./settings.js";
import { deseTopics } from "./topics.js";
import type { DeseTopics } from "./topics.js";

/** Raw samples calibrate_sensor averages over options.calibrationMs. */
export const CALIBRATION_SAMPLES = 5;
/** Longest wait for the broker to acknowledge a goodbye (offline status, reboot response). */
export const GOODBYE_TIMEOUT_MS = 5_000;

export interface DeseProduct extends Product {
  readonly topics: DeseTopics;
  readonly options: DeseOptions;
  readonly settings: Settings<DeseSettings>;
  /** The status the device reports now. */
  readonly status: StatusValue;
  /** Samples the sensors and publishes telemetry now (what the telemetry schedule does); false when none was sent. */
  publishTelemetry(): Promise<boolean>;
  /** Samples the sensors for alerts and the dosing interlock now (what the control schedule does). */
  control(): Sample;
}

interface Connection {
  client: MqttClient;
  device: Device;
  keepalive: number;
}

export function createDese(host: ProductHost, hardware: DeseHardware): DeseProduct {
  return new DeseController(host, hardware);
}

class DeseController implements DeseProduct {
  readonly topics: DeseTopics;
  readonly options: DeseOptions;
  readonly settings: Settings<DeseSettings>;
  readonly #host: ProductHost;
  readonly #hardware: DeseHardware;
  readonly #pumps: PumpControl;
  readonly #monitor = new ThresholdMonitor();
  readonly #limiter: RateLimiter;
  readonly #recent = new RecentCommands();
  readonly #telemetry: Periodic;
  readonly #statusSchedule: Periodic;
  readonly #control: Periodic;
  readonly #faults = new Map<SensorName, string>();
  #calibrating: SensorName | undefined;
  #lastStatus: StatusValue | undefined;
  #conn: Connection;
  #rebootRequested = false;
  #restarting: Promise<void> | undefined;
  #running = false;

  constructor(host: ProductHost, hardware: DeseHardware) {
    this.#host = host;
    this.#hardware = hardware;
    this.options = readOptions(host.config);
    checkId("deviceId", host.deviceId);
    this.topics = deseTopics(this.options.org, host.deviceId);
    this.settings = new Settings<DeseSettings>(host.settings, SETTINGS_KEY, DEFAULT_SETTINGS, validateSettings);
    this.settings.onChange((value, changed) => this.#settingsChanged(value, changed));
    this.#pumps = new PumpControl(hardware, host.timer, (line) => this.#log(line));
    this.#limiter = new RateLimiter(this.options.alertBurst, this.options.alertRefillMs, () => host.now());
    this.#telemetry = new Periodic(host.timer, this.settings.value.telemetry_interval, () => void this.publishTelemetry());
    this.#statusSchedule = new Periodic(host.timer, this.options.statusIntervalMs, () => this.#periodicStatus());
    this.#control = new Periodic(host.timer, this.options.controlIntervalMs, () => this.control());
    this.#conn = this.#connection();
  }

  get client(): MqttClient {
    return this.#conn.client;
  }

  get status(): StatusValue {
    return this.#calibrating ? "maintenance" : this.#faults.size ? "error" : "online";
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#pumps.allOff(); // a controller boots with every pump off
    this.#startSchedules();
    this.#connect();
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#stopSchedules();
    this.#pumps.allOff();
    await this.#goodbye(this.#conn);
    await this.#conn.client.disconnect();
  }

  async publishTelemetry(): Promise<boolean> {
    const s = this.control();
    if (!s.complete) {
      this.#log(`telemetry skipped: no ${s.faults.filter((f) => f.reason === "no reading").map((f) => f.sensor).join(", ")} reading`);
      return false;
    }
    const payload = telemetryMessage(this.#host.deviceId, this.options.org, s.readings, this.#info(), this.#host.now());
    return this.#conn.device.publish({ topic: this.topics.telemetry, payload, qos: 1, retain: false });
  }

  control(): Sample {
    const settings = this.settings.value;
    const s = sample(this.#hardware.readSensors(), settings.sensor_calibration);
    this.#updateFaults(s);
    // Only readings that are in range drive alerts and the interlock; a clamped value would lie.
    const trusted: Readings = {};
    for (const sensor of SENSORS) {
      if (s.readings[sensor] !== undefined && !this.#faults.has(sensor)) trusted[sensor] = s.readings[sensor];
    }
    this.#pumps.interlock(trusted, { ph: settings.ph_target, chlorine: settings.chlorine_target });
    for (const sensor of SENSORS) {
      const value = trusted[sensor];
      if (value === undefined) continue;
      const alert = this.#monitor.check(sensor, value, settings.alert_thresholds[sensor]);
      if (alert) this.#alert(alert);
    }
    return s;
  }

  // ---- connection ----

  #connection(): Connection {
    const now = this.#host.now();
    const status: StatusOptions = {
      topic: this.topics.status,
      qos: 1,
      // Published retained on every connect (seed line 342: status immediately upon reconnection).
      online: () => {
        this.#lastStatus = this.status;
        return statusMessage(this.#lastStatus, this.#info(), this.#host.now());
      },
      offline: statusMessage("offline", {}, now),
    };
    const keepalive = this.settings.value.mqtt_keepalive;
    const client = this.#host.createClient({
      clientId: `dese-${this.options.org}-${this.#host.deviceId}`,
      // A persistent session: commands sent during a short outage still arrive (QoS 1).
      clean: false,
      keepalive,
      will: willFor(status),
      // Telemetry made offline waits here; when full the oldest message goes, so the newest data survives.
      outbox: { maxMessages: this.options.outboxMaxMessages, maxBytes: this.options.outboxMaxBytes, overflow: "drop-oldest" },
    });
    const device = new Device(client, {
      status,
      commands: {
        topic: this.topics.commands,
        qos: 1,
        dispatcher: createDispatcher({
          deviceId: this.#host.deviceId,
          hardware: this.#hardware,
          pumps: this.#pumps,
          settings: this.settings,
          read: () => sample(this.#hardware.readSensors(), this.settings.value.sensor_calibration).readings,
          calibrate: (sensor, value) => this.#calibrate(sensor, value),
          requestReboot: () => { this.#rebootRequested = true; },
        }, this.#recent),
        respond: (outcome) => this.#respond(outcome),
      },
      report: (e) => this.#log(`${e.kind}: ${e.detail}`),
    });
    client.subscribe(this.topics.config, { qos: 1 }, (m) => this.#onConfig(m))
      .catch((e) => this.#log(`cannot subscribe to ${this.topics.config}: ${String(e)}`));
    return { client, device, keepalive };
  }

  #connect(): void {
    this.#conn.client.connect().catch((e) => this.#log(`connect: ${e instanceof Error ? e.message : String(e)}`));
  }

  /** Says offline (retained) and waits, bounded, for the broker to take it. Skipped when not connected: the will says it. */
  async #goodbye(conn: Connection): Promise<void> {
    if (!conn.client.connected) return;
    const offline = statusMessage("offline", this.#info(), this.#host.now());
    await this.#bounded(conn.device.publish({ topic: this.topics.status, payload: offline, qos: 1, retain: true }));
  }

  /**
   * A new connection: goodbye and disconnect, then connect a new client (new keepalive). With
   * `reboot` it is a simulated restart: RAM state (pumps, alert bands, faults, recent commands) is lost.
   */
  #restart(reboot: boolean): Promise<void> {
    this.#restarting ??= (async () => {
      this.#stopSchedules();
      const old = this.#conn;
      await this.#goodbye(old);
      await old.client.disconnect();
      if (reboot) {
        this.#pumps.allOff();
        this.#monitor.reset();
        this.#faults.clear();
        this.#recent.clear();
        this.#lastStatus = undefined;
      }
      if (!this.#running) return;
      this.#conn = this.#connection();
      this.#startSchedules();
      this.#connect();
    })().finally(() => { this.#restarting = undefined; });
    return this.#restarting;
  }

  #bounded<T>(promise: Promise<T>): Promise<T | undefined> {
    return new Promise((resolve) => {
      const timer = this.#host.timer.set(() => resolve(undefined), GOODBYE_TIMEOUT_MS);
      promise.then((v) => { this.#host.timer.clear(timer); resolve(v); }, () => { this.#host.timer.clear(timer); resolve(undefined); });
    });
  }

  #startSchedules(): void {
    this.#telemetry.start();
    this.#statusSchedule.start();
    this.#control.start();
  }

  #stopSchedules(): void {
    this.#telemetry.stop();
    this.#statusSchedule.stop();
    this.#control.stop();
  }

  // ---- commands and config ----

  #respond(outcome: CommandOutcome): Publication | undefined {
    if (outcome.id === null || !COMMAND_ID.test(outcome.id)) {
      // No command_id to answer to: logged and discarded (seed line 356), and said on the alert topic.
      this.#alert({ severity: "warning", message: `command rejected: ${outcome.error?.code}: ${outcome.error?.message}` });
      return undefined;
    }
    const response: Publication = {
      topic: this.topics.commandResponse, payload: responseMessage(outcome, this.#host.now()), qos: 1, retain: false,
    };
    if (this.#rebootRequested) {
      // Answer first, then restart (the response must leave before the connection does).
      this.#rebootRequested = false;
      void this.#conn.device.publish(response).then(() => this.#restart(true));
      return undefined;
    }
    return response;
  }

  #onConfig(m: Message): void {
    let message: unknown;
    try {
      message = JSON.parse(decodeUtf8(m.payload, 0, m.payload.length));
    } catch (e) {
      this.#rejectConfig(`payload is not JSON: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    const invalid = checkConfigMessage(message);
    if (invalid) {
      this.#rejectConfig(invalid);
      return;
    }
    const config = message as ConfigMessage;
    if (config.device_id !== this.#host.deviceId) {
      this.#rejectConfig(`device_id: "${config.device_id}" is not this device (${this.#host.deviceId})`);
      return;
    }
    const result = this.settings.update(patchFor(config.config, this.settings.value));
    if (!result.ok) {
      this.#rejectConfig(result.error);
      return;
    }
    const changed = result.changed.length ? result.changed.join(", ") : "nothing changed";
    this.#log(`config applied: ${changed}`);
    this.#alert({ severity: "info", message: `config applied: ${changed}` });
  }

  /** Config has no response topic: the rejection is logged (seed line 356) and said on the alert topic. */
  #rejectConfig(reason: string): void {
    this.#log(`config rejected: ${reason}`);
    this.#alert({ severity: "warning", message: clip(`config rejected: ${reason}`) });
  }

  #settingsChanged(value: DeseSettings, changed: (keyof DeseSettings)[]): void {
    if (changed.includes("telemetry_interval")) this.#telemetry.setInterval(value.telemetry_interval);
    if (changed.includes("alert_thresholds")) this.#monitor.reset();
    if (changed.includes("mqtt_keepalive") && value.mqtt_keepalive !== this.#conn.keepalive && this.#running) {
      // The keepalive is fixed per connection: reconnect with the new one, after the current
      // command's response or config handling has been queued (a timer runs after those).
      this.#host.timer.set(() => void this.#restart(false), 0);
    }
  }

  async #calibrate(sensor: SensorName, value: number): Promise<JsonObject> {
    this.#calibrating = sensor;
    this.#statusChanged();
    try {
      let sum = 0;
      for (let i = 0; i < CALIBRATION_SAMPLES; i++) {
        if (i > 0) await this.#sleep(this.options.calibrationMs / (CALIBRATION_SAMPLES - 1));
        const raw = this.#hardware.readSensors()[sensor];
        if (raw === undefined) throw new Error(`no ${sensor} probe is fitted`);
        if (!Number.isFinite(raw)) throw new Error(`the ${sensor} probe gives no reading`);
        sum += raw;
      }
      const raw = sum / CALIBRATION_SAMPLES;
      const table = this.settings.value.sensor_calibration;
      const scale = table[sensor]?.scale ?? 1;
      const offset = round(value - raw * scale, 6);
      const r = this.settings.update({ sensor_calibration: { ...table, [sensor]: { offset, scale } } });
      if (!r.ok) throw new Error(r.error);
      this.#log(`calibrated ${sensor}: reference ${value}, raw ${raw}, offset ${offset}`);
      return { sensor_type: sensor, value, raw: round(raw, 4), offset, scale };
    } finally {
      this.#calibrating = undefined;
      this.#statusChanged();
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.#host.timer.set(resolve, ms));
  }

  // ---- status, faults, alerts ----

  #info(): DeviceInfo {
    return { battery: this.#hardware.battery(), signalStrength: this.#hardware.signalStrength() };
  }

  #publishStatus(): void {
    this.#lastStatus = this.status;
    void this.#conn.device.publish({
      topic: this.topics.status, payload: statusMessage(this.#lastStatus, this.#info(), this.#host.now()), qos: 1, retain: true,
    });
  }

  /** Status every statusIntervalMs (seed line 393); skipped offline, where the reconnect publishes it. */
  #periodicStatus(): void {
    if (this.#conn.client.connected) this.#publishStatus();
  }

  /** Publishes the status at once when it changes (error, maintenance, back online). */
  #statusChanged(): void {
    if (this.status !== this.#lastStatus && this.#conn.client.connected) this.#publishStatus();
  }

  #updateFaults(s: Sample): void {
    const now = new Map(s.faults.map((f) => [f.sensor, f]));
    for (const [sensor, fault] of now) {
      if (this.#faults.has(sensor)) continue;
      this.#faults.set(sensor, fault.reason);
      this.#monitor.reset(sensor);
      const alert: Alert = { severity: "critical", message: `${sensor} sensor fault: ${fault.reason}`, sensor };
      if (fault.value !== undefined) alert.value = fault.value;
      this.#alert(alert);
    }
    for (const sensor of [...this.#faults.keys()]) {
      if (now.has(sensor)) continue;
      this.#faults.delete(sensor);
      const alert: Alert = { severity: "info", message: `${sensor} sensor reading again`, sensor };
      if (s.readings[sensor] !== undefined) alert.value = s.readings[sensor];
      this.#alert(alert);
    }
    this.#statusChanged();
  }

  #alert(alert: Alert): void {
    if (!this.#limiter.take()) {
      this.#log(`alert dropped by the rate limit (${this.#limiter.dropped} so far): ${alert.message}`);
      return;
    }
    void this.#conn.device.publish({ topic: this.topics.alert, payload: alertMessage(alert, this.#host.now()), qos: 1, retain: false });
  }

  #log(line: string): void {
    this.#host.log(`dese ${this.#host.deviceId}: ${line}`);
  }
}
