// The node's configuration: the seed's mqtt_config (lines 158-181) plus update_interval,
// in the shape of the config message (schemas/config.schema.json) so one validator checks
// both. Defaults come from the host's configuration; a config message read from the broker
// is merged over them, validated whole, and persisted before it takes effect.

import type { Validator } from "../../device/commands.js";
import { schemaValidator } from "../../device/schema.js";
import { decodeUtf8 } from "../../mqtt/utf8.js";
import { config as compiledConfigSchema } from "./validators.js";

export interface ReconnectConfig {
  enabled: boolean;
  max_attempts: number;
  backoff_factor: number;
  /** Seconds. */
  min_interval: number;
  /** Seconds. */
  max_interval: number;
}

export interface MqttConfig {
  enabled: boolean;
  /** Defaults to "esp-sensors-<sensor id>". */
  client_id?: string;
  /** Broker, credentials and TLS belong to the host's connection: stored, not applied here. */
  broker?: string;
  port?: number;
  username?: string;
  password?: string;
  ssl?: boolean;
  use_esp32_client?: boolean;
  keepalive: number;
  topic_data_prefix: string;
  topic_config: string;
  load_config_from_mqtt: boolean;
  /** Seconds. */
  config_wait_time: number;
  reconnect: ReconnectConfig;
}

export interface EspConfig {
  [key: string]: unknown;
  /** Version of the last config message applied; 0 for the host's defaults. */
  version: number;
  device_id?: string;
  device_name?: string;
  /** Seconds asleep between wake cycles. */
  update_interval: number;
  mqtt: MqttConfig;
}

/** The reconnect defaults of the seed (lines 172-180). */
export const SEED_RECONNECT: ReconnectConfig = { enabled: true, max_attempts: 3, backoff_factor: 2, min_interval: 3600, max_interval: 21600 };

/**
 * Largest config message accepted, in bytes. It has to fit, merged with the stored one, in
 * one Preference value (about 4 KB on ESP32 NVS); larger ones are refused before parsing.
 */
export const MAX_CONFIG_BYTES = 3072;
const MAX_STORED_CONFIG_CHARS = 3800;

/** Host configuration (text) to the node's default configuration; throws RangeError on bad values. */
export function defaultConfig(host: Readonly<Record<string, string>>): EspConfig {
  const config: EspConfig = {
    version: 0,
    update_interval: hostNumber(host, "update_interval", 60),
    mqtt: {
      enabled: true,
      keepalive: hostNumber(host, "keepalive", 60),
      topic_data_prefix: host.topic_data_prefix ?? "/homecontrol/device/data",
      topic_config: host.topic_config ?? "/homecontrol/device/config",
      load_config_from_mqtt: (host.load_config_from_mqtt ?? "true") !== "false",
      config_wait_time: hostNumber(host, "config_wait_time", 1.0),
      reconnect: { ...SEED_RECONNECT },
    },
  };
  const error = validateConfig(config);
  if (error) throw new RangeError(`esp-sensors host configuration: ${error}`);
  return config;
}

function hostNumber(host: Readonly<Record<string, string>>, key: string, fallback: number): number {
  const text = host[key];
  if (text === undefined) return fallback;
  const n = Number(text);
  if (text.trim() === "" || !Number.isFinite(n)) throw new RangeError(`esp-sensors host configuration: ${key} must be a number, not "${text}"`);
  return n;
}

const checkSchema = schemaValidator(compiledConfigSchema);

/** The stored configuration's check: the message schema plus the rules between fields. */
export const validateConfig: Validator = (value) => {
  const v = value as EspConfig;
  // Version 0 marks the host's defaults, which the message schema (version >= 1) does not admit.
  const error = checkSchema(typeof v?.version === "number" && v.version === 0 ? { ...v, version: 1 } : value);
  if (error) return error;
  const r = v.mqtt.reconnect;
  if (r.min_interval > r.max_interval) return `mqtt.reconnect: min_interval ${r.min_interval} is above max_interval ${r.max_interval}`;
  if (!v.mqtt.enabled) return "mqtt.enabled: false is not supported (the node would never connect again)";
  if (JSON.stringify(v).length > MAX_STORED_CONFIG_CHARS) return `configuration too large to persist (over ${MAX_STORED_CONFIG_CHARS} characters)`;
  return undefined;
};

export type ConfigParse =
  | { ok: true; message: EspConfigMessage }
  | { ok: false; error: string };

/** A config message as the schema admits it: every key but version optional. */
export interface EspConfigMessage {
  [key: string]: unknown;
  version: number;
  mqtt?: Partial<Omit<MqttConfig, "reconnect">> & { reconnect?: Partial<ReconnectConfig> & { attempt_count?: number; last_attempt_time?: number } };
}

/** Parses and validates a config message's payload; never throws. */
export function parseConfigMessage(payload: Uint8Array): ConfigParse {
  if (payload.length === 0) return { ok: false, error: "empty payload" };
  if (payload.length > MAX_CONFIG_BYTES) return { ok: false, error: `payload of ${payload.length} bytes exceeds ${MAX_CONFIG_BYTES}` };
  let value: unknown;
  try {
    value = JSON.parse(decodeUtf8(payload, 0, payload.length));
  } catch (e) {
    return { ok: false, error: `malformed JSON: ${e instanceof Error ? e.message : String(e)}` };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return { ok: false, error: "message: must be a JSON object" };
  const error = checkSchema(value);
  if (error) return { ok: false, error };
  const message = value as EspConfigMessage;
  // Turning these off over MQTT would cut the only channel that could turn them on again.
  if (message.mqtt?.enabled === false) return { ok: false, error: "mqtt.enabled: false would disconnect the node for good; refused over MQTT" };
  if (message.mqtt?.load_config_from_mqtt === false) return { ok: false, error: "mqtt.load_config_from_mqtt: false would stop all further updates; refused over MQTT" };
  return { ok: true, message };
}

/**
 * The configuration after a message: top-level keys and the mqtt and mqtt.reconnect sections
 * merged key by key (a message may carry only what changes); the reconnect runtime state
 * (attempt_count, last_attempt_time) is the node's own and is ignored.
 */
export function mergeConfig(current: EspConfig, message: EspConfigMessage): EspConfig {
  const { mqtt, ...top } = message;
  const next: EspConfig = { ...current, ...top };
  if (mqtt) {
    const { reconnect, ...rest } = mqtt;
    const { attempt_count: _count, last_attempt_time: _time, ...params } = reconnect ?? {};
    next.mqtt = { ...current.mqtt, ...rest, reconnect: { ...current.mqtt.reconnect, ...params } };
  }
  return next;
}
