// The node's persisted configuration: the specification's mqtt_config plus update_interval, in the shape
// of the config message (schemas/config.schema.json) so one validator checks both. The host's
// options give the starting values (version 0); a config message read from the broker is
// checked by the shared CommandDispatcher against the schema, merged over them, validated
// whole, and persisted before it takes effect.

import { CommandDispatcher } from "../../device/commands.js";
import type { JsonObject, Validator } from "../../device/commands.js";
import { schemaValidator } from "../../device/schema.js";
import { readOptions } from "../../device/options.js";
import { OPTIONS } from "./options.js";
import type { EspOptions } from "./options.js";
import { config as compiledConfigSchema } from "./validators.js";

/** Where the configuration persists (Preference keys are at most 15 characters). */
export const SETTINGS_KEY = "espcfg";

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

/** The specification's reconnect defaults. */
export const SEED_RECONNECT: ReconnectConfig = { enabled: true, max_attempts: 3, backoff_factor: 2, min_interval: 3600, max_interval: 21600 };

/**
 * Largest config message accepted, in bytes. It has to fit, merged with the stored one, in
 * one Preference value (about 4 KB on ESP32 NVS); larger ones are refused before parsing.
 */
export const MAX_CONFIG_BYTES = 3072;
const MAX_STORED_CONFIG_CHARS = 3800;

/** The configuration the host's options give, before any config message; throws RangeError when invalid. */
export function settingsFor(options: EspOptions): EspConfig {
  const config: EspConfig = {
    version: 0,
    update_interval: options.update_interval,
    mqtt: {
      enabled: true,
      keepalive: options.keepalive,
      topic_data_prefix: options.topic_data_prefix,
      topic_config: options.topic_config,
      load_config_from_mqtt: options.load_config_from_mqtt,
      config_wait_time: options.config_wait_time,
      reconnect: { ...SEED_RECONNECT },
    },
  };
  const error = validateSettings(config);
  if (error) throw new RangeError(`esp-sensors host configuration: ${error}`);
  return config;
}

const checkSchema = schemaValidator(compiledConfigSchema);

/** The stored configuration's check: the message schema plus the rules between fields. */
export const validateSettings: Validator = (value) => {
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

/** The configuration of a node whose host sets no option. */
export const DEFAULT_SETTINGS: Readonly<EspConfig> = settingsFor(readOptions(OPTIONS, {}));

/** A config message as the schema admits it: every key but version optional. */
export interface EspConfigMessage {
  [key: string]: unknown;
  version: number;
  mqtt?: Partial<Omit<MqttConfig, "reconnect">> & { reconnect?: Partial<ReconnectConfig> & { attempt_count?: number; last_attempt_time?: number } };
}

/**
 * A config message's check after parsing (the CommandDispatcher's validate): the schema, then
 * the values that would cut the only channel that could turn them on again.
 */
export const checkConfigMessage: Validator = (value) => {
  const error = checkSchema(value);
  if (error) return error;
  const message = value as EspConfigMessage;
  if (message.mqtt?.enabled === false) return "mqtt.enabled: false would disconnect the node for good; refused over MQTT";
  if (message.mqtt?.load_config_from_mqtt === false) return "mqtt.load_config_from_mqtt: false would stop all further updates; refused over MQTT";
  return undefined;
};

/**
 * The shared parse and schema check for config messages: malformed JSON, a non-object or a
 * schema failure become error outcomes; `apply` runs a valid one (throwing: a "failed" outcome).
 * The message names no command: the node reads it with dispatchAs("config", ...).
 */
export function configDispatcher(apply: (message: EspConfigMessage) => JsonObject): CommandDispatcher {
  return new CommandDispatcher({ idField: "version", nameField: "command" })
    .register("config", { validate: checkConfigMessage, run: (request) => apply(request as EspConfigMessage) });
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
