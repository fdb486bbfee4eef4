// The esp-sensors product for the Node host, the tests and the companion: the emulated product
// (emulated.ts, over firmware.ts; no firmware image holds this file), the live view's topic
// filter, and the one command, a configuration update. The specification's node has no command topic and no reply: it reads
// a retained configuration on its config topic when it wakes. So the companion publishes that
// configuration (retained, QoS 0), and the answer is the node's first data message whose
// config_version shows it applied it: the node sends one right after applying a new version,
// in the same wake.

import type { Json, JsonObject } from "../../device/commands.js";
import { readOptions } from "../../device/options.js";
import type { CommandRequest, ProductDefinition } from "../../device/product.js";
import { OPTIONS } from "./options.js";
import { checkConfigMessage } from "./settings.js";
import type { EspSensorsHardware } from "./hardware.js";
import { commonFilter, espTopics } from "./topics.js";
import { emulated } from "./emulated.js";

/** Flat command keys -> where they go in the config message, and their JSON type. */
const KEYS: Record<string, { path: string[]; type: "number" | "string" | "boolean" }> = {
  version: { path: ["version"], type: "number" },
  device_id: { path: ["device_id"], type: "string" },
  device_name: { path: ["device_name"], type: "string" },
  update_interval: { path: ["update_interval"], type: "number" },
  client_id: { path: ["mqtt", "client_id"], type: "string" },
  keepalive: { path: ["mqtt", "keepalive"], type: "number" },
  topic_data_prefix: { path: ["mqtt", "topic_data_prefix"], type: "string" },
  topic_config: { path: ["mqtt", "topic_config"], type: "string" },
  config_wait_time: { path: ["mqtt", "config_wait_time"], type: "number" },
  reconnect_enabled: { path: ["mqtt", "reconnect", "enabled"], type: "boolean" },
  max_attempts: { path: ["mqtt", "reconnect", "max_attempts"], type: "number" },
  backoff_factor: { path: ["mqtt", "reconnect", "backoff_factor"], type: "number" },
  min_interval: { path: ["mqtt", "reconnect", "min_interval"], type: "number" },
  max_interval: { path: ["mqtt", "reconnect", "max_interval"], type: "number" },
};

const CONFIG_USAGE = `config [version=<n, default: now in s>] ${Object.keys(KEYS).filter((k) => k !== "version").map((k) => `[${k}=<${KEYS[k].type}>]`).join(" ")}`;

function usage(problem: string): RangeError {
  return new RangeError(`${problem}\nusage: npm run cmd -- esp-sensors <sensor> ${CONFIG_USAGE}`);
}

function coerce(key: string, value: Json, type: "number" | "string" | "boolean"): Json {
  if (type === "number" && typeof value === "string" && value.trim() !== "" && Number.isFinite(Number(value))) return Number(value);
  if (type === "boolean" && (value === "true" || value === "false")) return value === "true";
  if (type === "string" && typeof value === "number") return String(value);
  if (typeof value !== type) throw usage(`${key} must be a ${type}, not ${JSON.stringify(value)}`);
  return value;
}

/** The config message for the companion's key=value parameters; throws RangeError with the usage. */
export function configMessage(params: JsonObject, now: number): JsonObject {
  const message: JsonObject = { version: Math.floor(now / 1000) };
  for (const [key, raw] of Object.entries(params)) {
    const spec = KEYS[key];
    if (!spec) throw usage(`unknown key "${key}"`);
    let node = message;
    for (const level of spec.path.slice(0, -1)) node = (node[level] ??= {}) as JsonObject;
    node[spec.path[spec.path.length - 1]] = coerce(key, raw, spec.type);
  }
  const invalid = checkConfigMessage(message);
  if (invalid) throw usage(`invalid configuration: ${invalid}`);
  const r = (message.mqtt as JsonObject | undefined)?.reconnect as JsonObject | undefined;
  if (r && typeof r.min_interval === "number" && typeof r.max_interval === "number" && r.min_interval > r.max_interval) {
    throw usage(`min_interval ${r.min_interval} is above max_interval ${r.max_interval}`);
  }
  return message;
}

export const definition: ProductDefinition<EspSensorsHardware> = {
  ...emulated,

  topicFilter(deviceId: string, config: Readonly<Record<string, string>>): string {
    const o = readOptions(OPTIONS, config);
    return commonFilter(espTopics(deviceId, o, o.root));
  },

  commands: { config: CONFIG_USAGE },

  example: { command: "config", params: { update_interval: 5, config_wait_time: 1 } },

  command(deviceId: string, config: Readonly<Record<string, string>>, name: string, params: JsonObject): CommandRequest {
    if (name !== "config") throw usage(`unknown command "${name}" (esp-sensors has one: config)`);
    const o = readOptions(OPTIONS, config);
    const now = espTopics(deviceId, o, o.root);
    const message = configMessage(params, Date.now());
    const version = message.version as number;
    const prefix = ((message.mqtt as JsonObject | undefined)?.topic_data_prefix as string | undefined) ?? o.topic_data_prefix;
    return {
      // The topic the node reads now; a new topic_config takes effect from its next wake. The
      // table's retain flag: a node awake for about a second only ever sees a retained configuration.
      topic: now.config.topic,
      payload: message,
      qos: now.config.qos,
      retain: now.config.retain,
      responseTopic: espTopics(deviceId, { ...o, topic_data_prefix: prefix }, o.root).sensorData.topic,
      isResponse: (payload: Json) => typeof payload === "object" && payload !== null && !Array.isArray(payload) &&
        typeof payload.config_version === "number" && payload.config_version >= version,
    };
  },
};
