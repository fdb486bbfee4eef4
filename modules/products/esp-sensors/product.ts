// The sensor node's duty cycle:
//   wake -> read the sensor -> (if the reconnect strategy allows) device.connect -> publish
//   every pending reading -> read the config topic for up to config_wait_time -> apply and
//   persist it (a new version is acknowledged by one fresh reading) -> device.disconnect ->
//   sleep update_interval seconds; the next wake connects again (a new session).
// On the ESP32 sleep is deep sleep: the program restarts from the top, so everything needed
// later is kept the moment it changes, and a new product instance picks it up: the
// configuration and unpublished readings in flash, the reconnect state in retained (RTC)
// memory and, when it changes in a way that matters, in flash (reconnect.ts). On emulated
// buses the sleep bus calls wake().
// A sensor that fails (no answer, a CRC mismatch, a value out of range) is logged and read
// again, up to SENSOR_ATTEMPTS times in the wake; then the wake has no reading (none is ever
// invented) and goes on: flush, config, sleep. The next wake reads it again.
// No status topic and no will: the specification has none, and a node that is offline
// between short wakes by design would flap one (see README).

import type { CommandDispatcher, JsonObject } from "../../device/commands.js";
import type { Device } from "../../device/device.js";
import { readOptions } from "../../device/options.js";
import type { Product } from "../../device/product.js";
import { Settings } from "../../device/settings.js";
import { within } from "../../device/wait.js";
import { Backlog, BACKLOG_KEY, MAX_BACKLOG } from "./backlog.js";
import type { ClimateReading, EspSensorsHardware } from "./hardware.js";
import { plausible, sensorData } from "./messages.js";
import { OPTIONS } from "./options.js";
import type { EspOptions } from "./options.js";
import { readTopic } from "./read-topic.js";
import {
  afterAttempt, backoffInterval, decide, fromRetained, loadReconnectState, RECONNECT_KEY, RETAINED_AT, RETAINED_COUNT, retryNow, toRetained, worthSaving,
} from "./reconnect.js";
import type { ReconnectState } from "./reconnect.js";
import { configDispatcher, MAX_CONFIG_BYTES, mergeConfig, SETTINGS_KEY, settingsFor, validateSettings } from "./settings.js";
import type { EspConfig, EspConfigMessage } from "./settings.js";
import { espTopics } from "./topics.js";
import type { EspTopics } from "./topics.js";

/** Reads of the sensor per wake before the wake goes on without a reading. */
export const SENSOR_ATTEMPTS = 3;

export interface EspSensorsProduct extends Product {
  readonly sensorId: string;
  /** The configuration in effect (persisted). */
  readonly config: Readonly<EspConfig>;
  readonly reconnectState: Readonly<ReconnectState>;
  /** Readings waiting to be published (persisted). */
  readonly backlog: Backlog;
  /** Runs one wake cycle, then goes to sleep; while a cycle runs, returns that one. */
  wake(): Promise<void>;
}

export function createEspSensors(device: Device, hardware: EspSensorsHardware): EspSensorsProduct {
  return new EspSensors(device, hardware);
}

class EspSensors implements EspSensorsProduct {
  readonly sensorId: string;
  readonly backlog: Backlog;
  readonly #device: Device;
  readonly #hardware: EspSensorsHardware;
  readonly #options: EspOptions;
  readonly #settings: Settings<EspConfig>;
  readonly #configs: CommandDispatcher;
  #reconnect: ReconnectState;
  /** The reconnect state flash holds. */
  #flashed: ReconnectState;
  #running: Promise<void> | undefined;
  #stopped = false;
  /** Set when the wake must end now (stop, or awake too long); resolves the wake's `halted`. */
  #halted = false;
  #halt: () => void = () => {};

  constructor(device: Device, hardware: EspSensorsHardware) {
    this.#device = device;
    this.#hardware = hardware;
    this.sensorId = device.deviceId;
    const options = readOptions(OPTIONS, device.config);
    this.#options = options;
    const initial = settingsFor(options);
    espTopics(this.sensorId, initial.mqtt, options.root); // throws RangeError for an id no topic can hold
    // A stored configuration whose topics no longer resolve falls back to the host's.
    const topicsProblem = (c: EspConfig): string | undefined => {
      try {
        espTopics(this.sensorId, c.mqtt, options.root);
        return undefined;
      } catch (e) {
        return describe(e);
      }
    };
    this.#settings = new Settings<EspConfig>(device.settings, SETTINGS_KEY, initial,
      (v) => validateSettings(v) ?? topicsProblem(v as EspConfig));
    this.#configs = configDispatcher((m) => this.#applyConfig(m));
    this.#flashed = loadReconnectState(safeGet(device, RECONNECT_KEY));
    // Retained memory has the latest state unless power was lost since.
    this.#reconnect = this.#retained() ?? this.#flashed;
    this.backlog = new Backlog(device.settings, BACKLOG_KEY, options.backlog_limit);
  }

  get config(): Readonly<EspConfig> {
    return this.#settings.value;
  }

  get reconnectState(): Readonly<ReconnectState> {
    return this.#reconnect;
  }

  start(): void {
    void this.wake();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#endWake();
    await this.#device.disconnect(undefined, this.#options.connect_timeout * 1000);
    await this.#running;
    this.#hardware.sleeper.close(); // an emulated sleep's pending wake is cancelled
  }

  wake(): Promise<void> {
    if (this.#running) return this.#running;
    if (this.#stopped) return Promise.resolve();
    this.#running = this.#wakeOnce();
    return this.#running;
  }

  async #wakeOnce(): Promise<void> {
    this.#halted = false;
    const halted = new Promise<void>((resolve) => { this.#halt = resolve; });
    // Whatever went wrong, the node must go back to sleep and try again next time.
    const cycle = this.#cycle(halted).catch((e) => this.#log(`wake cycle failed: ${describe(e)}`));
    const maxAwakeMs = this.#options.max_awake * 1000;
    if (!(await within(this.#device.timer, cycle, maxAwakeMs))) {
      this.#log(`awake for ${maxAwakeMs} ms: giving up this wake`);
      this.#endWake();
      this.#device.abort();
      await cycle;
    }
    this.#running = undefined;
    if (!this.#stopped) {
      const ms = this.#settings.value.update_interval * 1000;
      this.#hardware.sleeper.sleep(ms, () => { void this.wake(); });
    }
  }

  #endWake(): void {
    this.#halted = true;
    this.#halt();
  }

  async #cycle(halted: Promise<void>): Promise<void> {
    const config = this.#settings.value;
    await this.#takeReading(config);
    const decision = decide(config.mqtt.reconnect, this.#reconnect, this.#nowS());
    if (!decision.attempt) {
      this.#log(`broker skipped (attempt_count ${this.#reconnect.attempt_count}): next attempt in ${Math.ceil(decision.waitS)} s; ${this.backlog.items.length} reading(s) kept`);
      return;
    }
    if (!(await this.#connect(config, halted))) return;
    try {
      await this.#publishBacklog(this.#topics(config));
      // Nothing can arrive once the link is gone (lost mid-flush).
      if (!config.mqtt.load_config_from_mqtt || this.#halted || !this.#device.connected) return;
      const route = this.#topics(config).config;
      const message = await readTopic(this.#device, route.topic, config.mqtt.config_wait_time * 1000,
        { qos: route.qos, until: halted, report: (p) => this.#log(`readTopic: ${p}`) });
      if (!this.#device.connected && !this.#halted) this.#log("connection lost while reading the config topic");
      if (message && (await this.#readConfig(message.payload)) && !this.#halted) {
        // The acknowledgement: one fresh reading under the new configuration, on its data
        // topic, so the sender need not wait a whole update_interval (see README).
        await this.#takeReading(this.#settings.value);
        await this.#publishBacklog(this.#topics(this.#settings.value));
      }
    } finally {
      await this.#device.disconnect(undefined, this.#options.connect_timeout * 1000);
    }
  }

  #topics(config: EspConfig): EspTopics {
    return espTopics(this.sensorId, config.mqtt, this.#options.root);
  }

  async #takeReading(config: EspConfig): Promise<void> {
    const reading = await this.#measure();
    if (!reading) return;
    try {
      for (const old of this.backlog.push(sensorData(reading, this.#options.unit as "C" | "F", this.#device.now(), config.version))) {
        this.#log(`backlog full (${this.backlog.limit}): dropped the reading taken at ${old.uptime} s`);
      }
    } catch (e) {
      this.#log(`could not persist the backlog: ${describe(e)}`); // the reading stays in RAM for this wake
    }
  }

  /** A plausible reading, or undefined after SENSOR_ATTEMPTS failed reads (each logged). */
  async #measure(): Promise<ClimateReading | undefined> {
    for (let attempt = 1; !this.#halted; attempt++) {
      let problem: string;
      try {
        const r = await this.#hardware.sensor.read();
        if (plausible(r)) return r;
        problem = `reading out of range (${round2(r.celsius)} C, ${round2(r.humidity)} %)`;
      } catch (e) {
        problem = `read failed: ${describe(e)}`;
      }
      if (attempt >= SENSOR_ATTEMPTS) {
        this.#log(`sensor ${problem}; no reading this wake (${attempt} attempts)`);
        return undefined;
      }
      this.#log(`sensor ${problem}; reading again`);
    }
    return undefined;
  }

  /** Attempts as the reconnect strategy allows; persists the outcome of each. */
  async #connect(config: EspConfig, halted: Promise<void>): Promise<boolean> {
    const params = config.mqtt.reconnect;
    for (;;) {
      if (this.#halted) return false;
      const problem = await this.#attempt(config, halted);
      if (problem === undefined) {
        this.#saveReconnect(afterAttempt(params, this.#reconnect, true, this.#nowS()));
        return true;
      }
      this.#device.abort(); // a failed client is done (no client reconnect): the next attempt makes a new one
      if (this.#stopped) return false;
      this.#saveReconnect(afterAttempt(params, this.#reconnect, false, this.#nowS()));
      this.#log(`connect failed (attempt_count ${this.#reconnect.attempt_count}): ${problem}`);
      if (this.#halted || !retryNow(params, this.#reconnect)) {
        const wait = backoffInterval(params, this.#reconnect.attempt_count);
        if (wait > 0) this.#log(`backing off: next attempt in ${wait} s or later; ${this.backlog.items.length} reading(s) kept`);
        return false;
      }
    }
  }

  /** One connection attempt: undefined once connected, else why not. */
  #attempt(config: EspConfig, halted: Promise<void>): Promise<string | undefined> {
    const device = this.#device;
    return new Promise((resolve) => {
      const finish = (problem?: string): void => {
        device.off("connected", onConnected);
        device.off("disconnected", onDisconnected);
        resolve(problem);
      };
      const onConnected = (): void => finish();
      const onDisconnected = (e: { error?: Error }): void => finish(e.error?.message ?? "the connection closed");
      device.on("connected", onConnected);
      device.on("disconnected", onDisconnected);
      void halted.then(() => finish("the wake ended"));
      const mqtt = config.mqtt;
      device.connect({
        clientId: mqtt.client_id ?? `esp-sensors-${this.sensorId}`.slice(0, 64),
        clean: true, // nothing to resume: the node subscribes anew each wake and publishes at QoS 0
        keepalive: mqtt.keepalive,
        reconnect: false, // attempts are the product's (reconnect.ts), counted across deep sleep
        connectTimeoutMs: this.#options.connect_timeout * 1000,
        // QoS 0 while offline is refused, not queued in RAM: the persisted backlog keeps readings.
        outbox: { queueQos0: false, maxMessages: MAX_BACKLOG + 8 },
      });
    });
  }

  /** Publishes pending readings oldest first; only those written to the broker leave the backlog. */
  async #publishBacklog(topics: EspTopics): Promise<void> {
    const route = topics.sensorData;
    const pending = [...this.backlog.items];
    const sent = await Promise.all(pending.map((r) => this.#device.publish({ topic: route.topic, payload: r, qos: route.qos, retain: route.retain })));
    const published = pending.filter((_, i) => sent[i]);
    try {
      this.backlog.remove(published);
    } catch (e) {
      this.#log(`could not persist the backlog: ${describe(e)}`); // may publish these again next wake
    }
    if (published.length < pending.length) {
      this.#log(`published ${published.length} of ${pending.length} reading(s) to ${route.topic}; ${pending.length - published.length} kept for the next wake`);
    }
  }

  /** A config message's payload through the size bound and the dispatcher; true when a new version took effect. */
  async #readConfig(payload: Uint8Array): Promise<boolean> {
    const keeping = `keeping version ${this.#settings.value.version}`;
    if (payload.length > MAX_CONFIG_BYTES) {
      this.#log(`config rejected: payload of ${payload.length} bytes exceeds ${MAX_CONFIG_BYTES}; ${keeping}`);
      return false;
    }
    const outcome = await this.#configs.dispatchAs("config", payload);
    if (!outcome.ok) {
      const why = outcome.error?.message;
      this.#log(outcome.error?.code === "failed" ? `config version ${outcome.id} rejected: ${why}; ${keeping}` : `config rejected: ${why}; ${keeping}`);
      return false;
    }
    return outcome.result?.applied === true;
  }

  /** Merges and persists a valid message; throws (a "failed" outcome) when the result is invalid. */
  #applyConfig(message: EspConfigMessage): JsonObject {
    const current = this.#settings.value;
    const version = message.version;
    if (version <= current.version) {
      // Equal is the normal case: the retained configuration this node already applied.
      if (version < current.version) this.#log(`config version ${version} ignored: version ${current.version} is newer`);
      return { applied: false };
    }
    const result = this.#settings.update(mergeConfig(current, message));
    if (!result.ok) throw new Error(result.error);
    this.#log(`config version ${version} applied (${result.changed.join(", ")})`);
    return { applied: true };
  }

  #saveReconnect(state: ReconnectState): void {
    this.#reconnect = state;
    try {
      this.#hardware.sleeper.save(RETAINED_AT, toRetained(state));
    } catch (e) {
      this.#log(`could not keep the reconnect state in retained memory: ${describe(e)}`);
    }
    if (!worthSaving(this.#flashed, state)) return;
    try {
      this.#device.settings.set(RECONNECT_KEY, state);
      this.#flashed = state;
    } catch (e) {
      this.#log(`could not persist the reconnect state: ${describe(e)}`);
    }
  }

  #retained(): ReconnectState | undefined {
    try {
      return fromRetained(this.#hardware.sleeper.load(RETAINED_AT, RETAINED_COUNT));
    } catch (e) {
      this.#log(`could not read retained memory: ${describe(e)}`);
      return undefined;
    }
  }

  /** Whole seconds, as the specification's RTC time and the retained words hold. */
  #nowS(): number {
    return Math.floor(this.#device.now() / 1000);
  }

  #log(line: string): void {
    this.#device.log(line); // hosts prefix the product and device
  }
}

function safeGet(device: Device, key: string): unknown {
  try {
    return device.settings.get(key);
  } catch {
    return undefined;
  }
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
