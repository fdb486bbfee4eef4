// The DESE water-quality controller on its Device: retained status with a will of offline,
// the six commands answered on command_response, config updates applied atomically and
// persisted, periodic telemetry, threshold and sensor-fault alerts, and the dosing interlock.
// Free of I/O: the Device gives the connection, timer, clock, settings store and randomness.

import type { Message } from "../../device/device.js";
import type { CommandDispatcher, CommandOutcome, JsonObject } from "../../device/commands.js";
import type { ConnectionOptions, Device, Publication } from "../../device/device.js";
import { readOptions } from "../../device/options.js";
import type { Product } from "../../device/product.js";
import { TokenBucket } from "../../device/rate.js";
import { Periodic } from "../../device/scheduler.js";
import { Settings } from "../../device/settings.js";
import { ThresholdMonitor } from "./alerts.js";
import type { Alert } from "./alerts.js";
import { COMMAND_ID, RecentCommands, createDispatcher } from "./commands.js";
import { CONFIG, createConfigDispatcher } from "./config.js";
import type { DeseHardware } from "./hardware.js";
import { alertMessage, responseMessage, statusMessage, telemetryMessage } from "./messages.js";
import type { DeviceInfo, StatusValue } from "./messages.js";
import { OPTIONS } from "./options.js";
import type { DeseOptions } from "./options.js";
import { PumpControl } from "./pumps.js";
import { SENSORS, round, sample } from "./sensors.js";
import type { Readings, Sample, SensorName } from "./sensors.js";
import { DEFAULT_SETTINGS, SETTINGS_KEY, validateSettings } from "./settings.js";
import type { DeseSettings } from "./settings.js";
import { deseTopics } from "./topics.js";
import type { DeseTopics } from "./topics.js";

/** Raw samples calibrate_sensor averages over options.calibration_ms. */
export const CALIBRATION_SAMPLES = 5;
/** Longest wait for the broker to take the goodbye (offline status), and then the DISCONNECT. */
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

export function createDese(device: Device, hardware: DeseHardware): DeseProduct {
  return new DeseController(device, hardware);
}

class DeseController implements DeseProduct {
  readonly topics: DeseTopics;
  readonly options: DeseOptions;
  readonly settings: Settings<DeseSettings>;
  readonly #device: Device;
  readonly #hardware: DeseHardware;
  readonly #pumps: PumpControl;
  readonly #monitor = new ThresholdMonitor();
  readonly #alerts: TokenBucket;
  readonly #recent = new RecentCommands();
  readonly #config: CommandDispatcher;
  readonly #telemetry: Periodic;
  readonly #statusSchedule: Periodic;
  readonly #control: Periodic;
  readonly #faults = new Map<SensorName, string>();
  /** Pumps whose feedback disagreed with the command: kept until it agrees while commanded the same way again. */
  readonly #pumpFaults = new Map<number, { on: boolean; reason: string }>();
  #alertsDropped = 0;
  #calibrating: SensorName | undefined;
  #lastStatus: StatusValue | undefined;
  /** The keepalive of the current connection: a new one needs a new connection. */
  #keepalive = 0;
  #rebootRequested = false;
  #restarting: Promise<void> | undefined;
  #running = false;

  constructor(device: Device, hardware: DeseHardware) {
    this.#device = device;
    this.#hardware = hardware;
    this.options = readOptions(OPTIONS, device.config);
    this.topics = deseTopics(this.options.org, device.deviceId);
    this.settings = new Settings<DeseSettings>(device.settings, SETTINGS_KEY, DEFAULT_SETTINGS, validateSettings);
    this.settings.onChange((value, changed) => this.#settingsChanged(value, changed));
    this.#pumps = new PumpControl(hardware, device.timer, (line) => this.#log(line));
    this.#alerts = new TokenBucket(this.options.alert_burst, this.options.alert_refill_ms, device.now());
    this.#telemetry = new Periodic(device.timer, this.settings.value.telemetry_interval, () => void this.publishTelemetry());
    this.#statusSchedule = new Periodic(device.timer, this.options.status_interval_ms, () => this.#periodicStatus());
    this.#control = new Periodic(device.timer, this.options.control_interval_ms, () => this.control());
    this.#config = createConfigDispatcher(this.options.org, device.deviceId, this.settings);
    device.on("report", (e) => this.#log(`${e.kind}: ${e.detail}`));
    device.route({
      ...this.topics.commands,
      dispatcher: createDispatcher({
        org: this.options.org,
        deviceId: device.deviceId,
        hardware,
        pumps: this.#pumps,
        settings: this.settings,
        read: () => sample(hardware.readSensors(), this.settings.value.sensor_calibration).readings,
        calibrate: (sensor, value) => this.#calibrate(sensor, value),
        requestReboot: () => { this.#rebootRequested = true; },
        verifyPump: async (id) => {
          // Feedback that has already followed needs no wait; otherwise give it the time a contact takes.
          if (hardware.pumpRunning(id) !== hardware.pumpOn(id)) await this.#sleep(hardware.settleMs);
          this.#checkPumps();
          return hardware.pumpStuck(id);
        },
      }, this.#recent),
      respond: (outcome) => this.#respond(outcome),
    });
    // Config changes run one at a time with the commands, in arrival order.
    device.listen(this.topics.config.topic, this.topics.config.qos, (m) => {
      if (!device.queue.add(() => this.#onConfig(m))) this.#rejectConfig(`device busy: ${device.queue.pending} jobs pending`);
    });
  }

  get status(): StatusValue {
    return this.#calibrating ? "maintenance" : this.#faults.size || this.#pumpFaults.size ? "error" : "online";
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
    await this.#restarting;
    this.#stopSchedules();
    this.#pumps.allOff();
    await this.#disconnect();
  }

  async publishTelemetry(): Promise<boolean> {
    const s = this.control();
    if (!s.complete) {
      this.#log(`telemetry skipped: no ${s.faults.filter((f) => f.reason.startsWith("no reading")).map((f) => f.sensor).join(", ")} reading`);
      return false;
    }
    const payload = telemetryMessage(this.#device.deviceId, this.options.org, s.readings, this.#info(), this.#device.now());
    return this.#device.publish({ ...this.topics.telemetry, payload });
  }

  control(): Sample {
    const settings = this.settings.value;
    this.#checkPumps();
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

  #connect(): void {
    this.#keepalive = this.settings.value.mqtt_keepalive;
    const connection: ConnectionOptions = {
      clientId: `dese-${this.options.org}-${this.#device.deviceId}`,
      // A persistent session: commands sent during a short outage still arrive (QoS 1).
      clean: false,
      keepalive: this.#keepalive,
      // Telemetry made offline waits here; when full the oldest message goes, so the newest data survives.
      outbox: { maxMessages: this.options.outbox_max_messages, maxBytes: this.options.outbox_max_bytes, overflow: "drop-oldest" },
      status: {
        ...this.topics.status,
        // Published retained on every connect: the status right after each reconnection.
        online: () => {
          this.#lastStatus = this.status;
          return statusMessage(this.#lastStatus, this.#info(), this.#device.now());
        },
        offline: () => statusMessage("offline", {}, this.#device.now()),
      },
    };
    this.#device.connect(connection);
  }

  /** Says offline (retained) while connected, bounded, then disconnects: the will is for the unplanned case. */
  #disconnect(): Promise<void> {
    return this.#device.disconnect(async () => {
      await this.#device.publish({ ...this.topics.status, payload: statusMessage("offline", this.#info(), this.#device.now()) });
    }, GOODBYE_TIMEOUT_MS);
  }

  /**
   * A new connection: goodbye and disconnect, then connect again (new keepalive). With
   * `reboot` it is a simulated restart: RAM state (pumps, alert bands, faults, recent commands) is lost.
   */
  #restart(reboot: boolean): Promise<void> {
    this.#restarting ??= (async () => {
      this.#stopSchedules();
      await this.#disconnect();
      if (reboot) {
        this.#pumps.allOff();
        this.#monitor.reset();
        this.#faults.clear();
        this.#pumpFaults.clear();
        this.#recent.clear();
        this.#lastStatus = undefined;
      }
      if (!this.#running) return;
      this.#startSchedules();
      this.#connect();
    })().finally(() => { this.#restarting = undefined; });
    return this.#restarting;
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
      // No command_id to answer to: logged and discarded, and said on the alert topic.
      this.#alert({ severity: "warning", message: `command rejected: ${outcome.error?.code}: ${outcome.error?.message}` });
      return undefined;
    }
    const response: Publication = { ...this.topics.commandResponse, payload: responseMessage(outcome, this.#device.now()) };
    if (this.#rebootRequested) {
      // Answer first, then restart (the response must leave before the connection does).
      this.#rebootRequested = false;
      void this.#device.publish(response).then(() => this.#restart(true));
      return undefined;
    }
    return response;
  }

  async #onConfig(m: Message): Promise<void> {
    const outcome = await this.#config.dispatchAs(CONFIG, m.payload);
    if (!outcome.ok) {
      this.#rejectConfig(outcome.error?.message ?? "invalid");
      return;
    }
    const keys = (outcome.result?.changed ?? []) as string[];
    const changed = keys.length ? keys.join(", ") : "nothing changed";
    this.#log(`config applied: ${changed}`);
    this.#alert({ severity: "info", message: `config applied: ${changed}` });
  }

  /** Config has no response topic: the rejection is logged and discarded, and said on the alert topic. */
  #rejectConfig(reason: string): void {
    this.#log(`config rejected: ${reason}`);
    this.#alert({ severity: "warning", message: `config rejected: ${reason}` });
  }

  #settingsChanged(value: DeseSettings, changed: (keyof DeseSettings)[]): void {
    if (changed.includes("telemetry_interval")) this.#telemetry.setInterval(value.telemetry_interval);
    if (changed.includes("alert_thresholds")) this.#monitor.reset();
    if (changed.includes("mqtt_keepalive") && value.mqtt_keepalive !== this.#keepalive && this.#running) {
      // The keepalive is fixed per connection: reconnect with the new one once the job that
      // changed it (config or reset_config, and its answer) is done.
      if (!this.#device.queue.add(() => this.#restart(false))) this.#log("keepalive changed, but the queue is full: it applies at the next connection");
    }
  }

  async #calibrate(sensor: SensorName, value: number): Promise<JsonObject> {
    this.#calibrating = sensor;
    this.#statusChanged();
    try {
      let sum = 0;
      for (let i = 0; i < CALIBRATION_SAMPLES; i++) {
        if (i > 0) await this.#sleep(this.options.calibration_ms / (CALIBRATION_SAMPLES - 1));
        const read = this.#hardware.readSensors();
        const raw = read[sensor];
        if (raw === undefined) throw new Error(`no ${sensor} probe is fitted`);
        if (!Number.isFinite(raw)) throw new Error(`the ${sensor} probe gives no reading${read.errors?.[sensor] ? ` (${read.errors[sensor]})` : ""}`);
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
    return new Promise((resolve) => this.#device.timer.set(resolve, ms));
  }

  // ---- status, faults, alerts ----

  #info(): DeviceInfo {
    return { battery: this.#hardware.battery(), signalStrength: this.#hardware.signalStrength() };
  }

  #publishStatus(): void {
    this.#lastStatus = this.status;
    void this.#device.publish({ ...this.topics.status, payload: statusMessage(this.#lastStatus, this.#info(), this.#device.now()) });
  }

  /** Status every status_interval_ms; skipped offline, where the reconnect publishes a fresh one. */
  #periodicStatus(): void {
    if (this.#device.connected) this.#publishStatus();
  }

  /** Publishes the status at once when it changes (error, maintenance, back online). */
  #statusChanged(): void {
    if (this.status !== this.#lastStatus && this.#device.connected) this.#publishStatus();
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

  /** Compares each pump's feedback with its command: a critical alert when one disagrees, an info alert when it agrees again. */
  #checkPumps(): void {
    for (const id of this.#hardware.pumps) {
      const on = this.#hardware.pumpOn(id);
      const stuck = this.#hardware.pumpStuck(id);
      const fault = this.#pumpFaults.get(id);
      if (stuck !== undefined && !fault) {
        const reason = `feedback says ${stuck} while commanded ${on ? "on" : "off"}`;
        this.#pumpFaults.set(id, { on, reason });
        this.#log(`pump ${id} fault: ${reason}`);
        this.#alert({ severity: "critical", message: `pump ${id} fault: ${reason}` });
      } else if (stuck === undefined && fault && fault.on === on) {
        this.#pumpFaults.delete(id);
        this.#log(`pump ${id} feedback agrees again`);
        this.#alert({ severity: "info", message: `pump ${id} feedback agrees again (${on ? "on" : "off"})` });
      }
    }
    this.#statusChanged();
  }

  #alert(alert: Alert): void {
    if (!this.#alerts.take(this.#device.now())) {
      this.#log(`alert dropped by the rate limit (${++this.#alertsDropped} so far): ${alert.message}`);
      return;
    }
    void this.#device.publish({ ...this.topics.alert, payload: alertMessage(alert, this.#device.now()) });
  }

  #log(line: string): void {
    this.#device.log(`dese ${this.#device.deviceId}: ${line}`);
  }
}
