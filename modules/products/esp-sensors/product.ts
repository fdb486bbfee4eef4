// The sensor node's duty cycle (seed lines 221-264, 266-299):
//   wake -> read the sensor -> (if the reconnect strategy allows) connect -> publish every
//   pending reading -> read the config topic for up to config_wait_time -> apply and persist
//   it (a new version is acknowledged by one fresh reading) -> disconnect -> sleep
//   update_interval seconds.
// On the ESP32 sleep is deep sleep: the program restarts from the top, so everything needed
// later (configuration, reconnect state, unpublished readings) is persisted the moment it
// changes, and a new product instance picks it up. In the simulator the Sleeper calls wake().
// No status topic and no will: the seed has none, and a node that is offline between short
// wakes by design would flap one (see README).

import type { Message, MqttClient } from "../../mqtt/client.js";
import type { Product, ProductHost } from "../../device/product.js";
import { Settings } from "../../device/settings.js";
import { Backlog, MAX_BACKLOG } from "./backlog.js";
import type { SensorData } from "./backlog.js";
import { defaultConfig, mergeConfig, parseConfigMessage, validateConfig } from "./config.js";
import type { EspConfig } from "./config.js";
import type { EspSensorsHardware } from "./hardware.js";
import { readTopic } from "./read-topic.js";
import { afterAttempt, backoffInterval, decide, loadReconnectState, retryNow } from "./reconnect.js";
import type { ReconnectState } from "./reconnect.js";
import { checkSensorId, configTopic, dataTopic } from "./topics.js";

/** Settings keys (Preference keys are at most 15 characters). */
export const KEYS = { config: "espcfg", reconnect: "esprc", backlog: "espbacklog" } as const;

export interface EspSensorsProduct extends Product {
  readonly sensorId: string;
  /** The configuration in effect (persisted). */
  readonly config: Readonly<EspConfig>;
  readonly reconnectState: Readonly<ReconnectState>;
  /** Readings waiting to be published (persisted). */
  readonly backlog: Backlog;
  /** Runs one wake cycle, then goes to sleep; while a cycle runs, returns that one. */
  wake(): Promise<void>;
  /** Subscribes to topic and resolves with its first message, or undefined after waitMs; then unsubscribes. */
  readTopic(topic: string, waitMs: number): Promise<Message | undefined>;
}

/** Host options besides the configuration defaults (all text, as host.config is). */
interface NodeOptions {
  unit: "C" | "F";
  backlogLimit: number;
  /** Longest a wake may last before the node gives up and sleeps (a hung broker must not drain the battery). */
  maxAwakeMs: number;
  connectTimeoutMs: number;
}

function nodeOptions(config: Readonly<Record<string, string>>): NodeOptions {
  const unit = config.unit ?? "C";
  if (unit !== "C" && unit !== "F") throw new RangeError(`esp-sensors: unit must be C or F, not "${unit}"`);
  const num = (key: string, fallback: number, min: number, max: number): number => {
    const n = config[key] === undefined ? fallback : Number(config[key]);
    if (!Number.isFinite(n) || n < min || n > max) throw new RangeError(`esp-sensors: ${key} must be ${min}..${max}, not "${config[key]}"`);
    return n;
  };
  return {
    unit,
    backlogLimit: num("backlog_limit", 48, 1, MAX_BACKLOG),
    maxAwakeMs: num("max_awake", 30, 1, 600) * 1000,
    connectTimeoutMs: num("connect_timeout", 5, 0.1, 60) * 1000,
  };
}

export function createEspSensors(host: ProductHost, hardware: EspSensorsHardware): EspSensorsProduct {
  return new EspSensors(host, hardware);
}

class EspSensors implements EspSensorsProduct {
  readonly sensorId: string;
  readonly backlog: Backlog;
  readonly #host: ProductHost;
  readonly #hardware: EspSensorsHardware;
  readonly #options: NodeOptions;
  readonly #settings: Settings<EspConfig>;
  #reconnect: ReconnectState;
  #client: MqttClient;
  #clientUsed = false;
  #running: Promise<void> | undefined;
  #stopped = false;
  /** Set when the wake must end now (stop, or awake too long); resolves #halt. */
  #halted = false;
  #halt: () => void = () => {};

  constructor(host: ProductHost, hardware: EspSensorsHardware) {
    this.#host = host;
    this.#hardware = hardware;
    this.sensorId = checkSensorId(host.deviceId);
    this.#options = nodeOptions(host.config);
    this.#settings = new Settings<EspConfig>(host.settings, KEYS.config, defaultConfig(host.config), validateConfig);
    this.#reconnect = loadReconnectState(safeGet(host, KEYS.reconnect));
    this.backlog = new Backlog(host.settings, KEYS.backlog, this.#options.backlogLimit);
    this.#client = this.#newClient();
  }

  get client(): MqttClient {
    return this.#client;
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
    this.#hardware.sleeper.cancel?.();
    this.#endWake();
    await this.#client.disconnect().catch(() => {});
    await this.#running;
  }

  wake(): Promise<void> {
    if (this.#running) return this.#running;
    if (this.#stopped) return Promise.resolve();
    this.#running = this.#wakeOnce();
    return this.#running;
  }

  readTopic(topic: string, waitMs: number): Promise<Message | undefined> {
    return readTopic(this.#client, this.#host.timer, topic, waitMs, { report: (p) => this.#log(`readTopic: ${p}`) });
  }

  async #wakeOnce(): Promise<void> {
    this.#halted = false;
    const halted = new Promise<void>((resolve) => { this.#halt = resolve; });
    const watchdog = this.#host.timer.set(() => {
      this.#log(`awake for ${this.#options.maxAwakeMs} ms: giving up this wake`);
      this.#endWake();
      this.#client.abort();
    }, this.#options.maxAwakeMs);
    try {
      await this.#cycle(halted);
    } catch (e) {
      // Whatever went wrong, the node must go back to sleep and try again next time.
      this.#log(`wake cycle failed: ${describe(e)}`);
    } finally {
      this.#host.timer.clear(watchdog);
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
    this.#takeReading(config);
    const decision = decide(config.mqtt.reconnect, this.#reconnect, this.#nowS());
    if (!decision.attempt) {
      this.#log(`broker skipped (attempt_count ${this.#reconnect.attempt_count}): next attempt in ${Math.ceil(decision.waitS)} s; ${this.backlog.items.length} reading(s) kept`);
      return;
    }
    if (this.#clientUsed) this.#client = this.#newClient();
    this.#clientUsed = true;
    const client = this.#client;
    if (!(await this.#connect(client, config))) return;
    await this.#publishBacklog(client, config);
    if (config.mqtt.load_config_from_mqtt && !this.#halted) {
      const topic = configTopic(config.mqtt.topic_config, this.sensorId);
      // A lost link ends the wait: nothing can arrive on a dead connection.
      let onLost = (): void => {};
      const lost = new Promise<undefined>((resolve) => { onLost = () => resolve(undefined); });
      client.once("disconnected", onLost);
      const message = await Promise.race([this.readTopic(topic, config.mqtt.config_wait_time * 1000), halted.then(() => undefined), lost]);
      client.off("disconnected", onLost);
      if (!client.connected && !this.#halted) this.#log("connection lost while reading the config topic");
      if (message && this.#applyConfig(message.payload) && !this.#halted) {
        // The acknowledgement: one fresh reading under the new configuration, on its data
        // topic, so the sender need not wait a whole update_interval (see README).
        this.#takeReading(this.#settings.value);
        await this.#publishBacklog(client, this.#settings.value);
      }
    }
    await client.disconnect().catch(() => {});
  }

  #newClient(): MqttClient {
    const mqtt = this.#settings.value.mqtt;
    return this.#host.createClient({
      clientId: mqtt.client_id ?? `esp-sensors-${this.sensorId}`.slice(0, 64),
      clean: true, // nothing to resume: the node subscribes anew each wake and publishes at QoS 0
      keepalive: mqtt.keepalive,
      reconnect: false, // attempts are the product's (reconnect.ts), counted across deep sleep
      connectTimeoutMs: this.#options.connectTimeoutMs,
      // QoS 0 while offline is refused, not queued in RAM: the persisted backlog keeps readings.
      outbox: { queueQos0: false, maxMessages: MAX_BACKLOG + 8 },
    });
  }

  #takeReading(config: EspConfig): void {
    let celsius: number;
    let humidity: number;
    try {
      ({ celsius, humidity } = this.#hardware.sensor.read());
    } catch (e) {
      this.#log(`sensor read failed: ${describe(e)}; no reading this wake`);
      return;
    }
    // A DHT22 measures -40..80 C and 0..100 %; anything else is a faulty read, not weather.
    if (!(celsius >= -40 && celsius <= 80 && humidity >= 0 && humidity <= 100)) {
      this.#log(`sensor reading out of range (${celsius} C, ${humidity} %): dropped`);
      return;
    }
    const unit = this.#options.unit;
    const reading: SensorData = {
      temperature: round1(unit === "F" ? celsius * 9 / 5 + 32 : celsius),
      humidity: round1(humidity),
      uptime: Math.round(this.#host.now()) / 1000,
      unit,
      config_version: config.version,
    };
    try {
      for (const old of this.backlog.push(reading)) {
        this.#log(`backlog full (${this.backlog.limit}): dropped the reading taken at ${old.uptime} s`);
      }
    } catch (e) {
      this.#log(`could not persist the backlog: ${describe(e)}`); // the reading stays in RAM for this wake
    }
  }

  /** Attempts as the reconnect strategy allows; persists the outcome of each. */
  async #connect(client: MqttClient, config: EspConfig): Promise<boolean> {
    const params = config.mqtt.reconnect;
    for (;;) {
      try {
        await client.connect();
        this.#saveReconnect(afterAttempt(params, this.#reconnect, true, this.#nowS()));
        return true;
      } catch (e) {
        if (this.#stopped) return false;
        this.#saveReconnect(afterAttempt(params, this.#reconnect, false, this.#nowS()));
        this.#log(`connect failed (attempt_count ${this.#reconnect.attempt_count}): ${describe(e)}`);
        if (this.#halted || !retryNow(params, this.#reconnect)) {
          const wait = backoffInterval(params, this.#reconnect.attempt_count);
          if (wait > 0) this.#log(`backing off: next attempt in ${wait} s or later; ${this.backlog.items.length} reading(s) kept`);
          return false;
        }
      }
    }
  }

  /** Publishes pending readings oldest first; only those written to the broker leave the backlog. */
  async #publishBacklog(client: MqttClient, config: EspConfig): Promise<void> {
    const topic = dataTopic(config.mqtt.topic_data_prefix, this.sensorId);
    const pending = [...this.backlog.items];
    const sent = await Promise.all(pending.map((r) =>
      client.publish(topic, JSON.stringify(r), { qos: 0, retain: false }).then(() => true, () => false)));
    const published = pending.filter((_, i) => sent[i]);
    try {
      this.backlog.remove(published);
    } catch (e) {
      this.#log(`could not persist the backlog: ${describe(e)}`); // may publish these again next wake
    }
    if (published.length < pending.length) {
      this.#log(`published ${published.length} of ${pending.length} reading(s) to ${topic}; ${pending.length - published.length} kept for the next wake`);
    }
  }

  /** Validates, merges and persists a config message; true when a new version took effect. */
  #applyConfig(payload: Uint8Array): boolean {
    const current = this.#settings.value;
    const parsed = parseConfigMessage(payload);
    if (!parsed.ok) {
      this.#log(`config rejected: ${parsed.error}; keeping version ${current.version}`);
      return false;
    }
    const version = parsed.message.version;
    if (version <= current.version) {
      // Equal is the normal case: the retained configuration this node already applied.
      if (version < current.version) this.#log(`config version ${version} ignored: version ${current.version} is newer`);
      return false;
    }
    const result = this.#settings.update(mergeConfig(current, parsed.message));
    if (!result.ok) {
      this.#log(`config version ${version} rejected: ${result.error}; keeping version ${current.version}`);
      return false;
    }
    this.#log(`config version ${version} applied (${result.changed.join(", ")})`);
    return true;
  }

  #saveReconnect(state: ReconnectState): void {
    this.#reconnect = state;
    try {
      this.#host.settings.set(KEYS.reconnect, state);
    } catch (e) {
      this.#log(`could not persist the reconnect state: ${describe(e)}`);
    }
  }

  #nowS(): number {
    return this.#host.now() / 1000;
  }

  #log(line: string): void {
    this.#host.log(line); // hosts prefix the product and device
  }
}

function safeGet(host: ProductHost, key: string): unknown {
  try {
    return host.settings.get(key);
  } catch {
    return undefined;
  }
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
