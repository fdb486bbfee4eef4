// The esp-sensors product for hosts and the companion: defaults, simulated devices, the live
// view's topic filter, and the one command, a configuration update. The seed's node has no
// command topic and no reply: it reads a retained configuration on its config topic when it
// wakes. So the companion publishes that configuration (retained, QoS 0), and the answer is
// the node's first data message whose config_version shows it applied it: the node sends
// one right after applying a new version, in the same wake.

import type { Json, JsonObject } from "../../device/commands.js";
import type { CommandRequest, ProductDefinition, ProductHost } from "../../device/product.js";
import { encodeUtf8 } from "../../mqtt/utf8.js";
import { parseConfigMessage } from "./config.js";
import { createEspSensors } from "./product.js";
import type { EspSensorsProduct } from "./product.js";
import { SimulatedClimateSensor, TimerSleeper } from "./simulation.js";
import { checkSensorId, configTopic, dataTopic } from "./topics.js";

export { createEspSensors } from "./product.js";
export type { EspSensorsProduct } from "./product.js";

const DEFAULTS = {
  topic_data_prefix: "/homecontrol/device/data",
  topic_config: "/homecontrol/device/config",
  // The seed gives no default; short, so `npm start` shows traffic within seconds.
  update_interval: "5",
  config_wait_time: "1",
  load_config_from_mqtt: "true",
  unit: "C",
  backlog_limit: "48",
};

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
  const checked = parseConfigMessage(encodeUtf8(JSON.stringify(message)));
  if (!checked.ok) throw usage(`invalid configuration: ${checked.error}`);
  const r = (message.mqtt as JsonObject | undefined)?.reconnect as JsonObject | undefined;
  if (r && typeof r.min_interval === "number" && typeof r.max_interval === "number" && r.min_interval > r.max_interval) {
    throw usage(`min_interval ${r.min_interval} is above max_interval ${r.max_interval}`);
  }
  return message;
}

function option(config: Readonly<Record<string, string>>, key: keyof typeof DEFAULTS): string {
  return config[key] ?? DEFAULTS[key];
}

/** The filter for every level the data and config topics share, then "#". */
function commonFilter(a: string, b: string): string {
  const x = a.split("/");
  const y = b.split("/");
  let n = 0;
  while (n < x.length - 1 && n < y.length - 1 && x[n] === y[n]) n++;
  return n === 0 ? "#" : `${x.slice(0, n).join("/")}/#`;
}

export const definition: ProductDefinition = {
  name: "esp-sensors",
  defaults: DEFAULTS,

  deviceId(index: number): string {
    return `dht22-${String(index + 1).padStart(3, "0")}`;
  },

  simulate(host: ProductHost): EspSensorsProduct {
    return createEspSensors(host, { sensor: new SimulatedClimateSensor(host), sleeper: new TimerSleeper(host.timer) });
  },

  topicFilter(deviceId: string, config: Readonly<Record<string, string>>): string {
    return commonFilter(dataTopic(option(config, "topic_data_prefix"), deviceId), configTopic(option(config, "topic_config"), deviceId));
  },

  commands: { config: CONFIG_USAGE },

  example: { command: "config", params: { update_interval: 5, config_wait_time: 1 } },

  command(deviceId: string, config: Readonly<Record<string, string>>, name: string, params: JsonObject): CommandRequest {
    if (name !== "config") throw usage(`unknown command "${name}" (esp-sensors has one: config)`);
    checkSensorId(deviceId);
    const message = configMessage(params, Date.now());
    const version = message.version as number;
    const prefix = ((message.mqtt as JsonObject | undefined)?.topic_data_prefix as string | undefined) ?? option(config, "topic_data_prefix");
    return {
      // The topic the node reads now; a new topic_config takes effect from its next wake.
      topic: configTopic(option(config, "topic_config"), deviceId),
      payload: message,
      qos: 0,
      retain: true, // a node awake for about a second only ever sees a retained configuration
      responseTopic: dataTopic(prefix, deviceId),
      isResponse: (payload: Json) => typeof payload === "object" && payload !== null && !Array.isArray(payload) &&
        typeof payload.config_version === "number" && payload.config_version >= version,
    };
  },
};
