// JSON Schemas of the five products (modules/products/<product>/schemas): every schema compiles
// under ajv's strict mode, index.json (the machine-readable topic table) and the schema files
// agree, seed topics match the index's patterns, every JSON example in the seed documents
// (shared/seeds/*.txt, cited by file and line) validates against its schema, and every schema
// rejects at least one broken message for the reason stated (ajv error keyword), so no check
// passes vacuously.

import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import AjvModule from "ajv";
import type { ErrorObject, ValidateFunction } from "ajv";

const Ajv = AjvModule.default;

// The compiled test runs from build/tests/unit/.
const here = path.dirname(fileURLToPath(import.meta.url));
const PRODUCTS_DIR = path.resolve(here, "../../../modules/products");
const PRODUCTS = ["bess", "battery-hawk", "dese", "esp-sensors", "smart-meter"] as const;
type Product = (typeof PRODUCTS)[number];
const DRAFT_07 = "http://json-schema.org/draft-07/schema#";

interface IndexEntry {
  message: string;
  schema: string;
  topic: string;
  direction: "publish" | "subscribe";
  qos: 0 | 1 | 2;
  retain: boolean;
  match?: Record<string, string>;
  source: string;
}
interface Placeholder {
  pattern: string;
  default?: string;
  description: string;
}
interface ProductIndex {
  product: string;
  seed: string;
  dialect: string;
  notes?: string;
  placeholders: Record<string, Placeholder>;
  messages: IndexEntry[];
}
type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonSchema = { [key: string]: Json };

function readJson<T>(file: string): T {
  return JSON.parse(fs.readFileSync(file, "utf8")) as T;
}

const ajv = new Ajv({ strict: true, allErrors: true });
const schemas = new Map<string, Map<string, JsonSchema>>(); // product -> file -> schema
const validators = new Map<string, ValidateFunction>(); // "product/file" -> validator
const indexes = new Map<Product, ProductIndex>();
for (const product of PRODUCTS) {
  const dir = path.join(PRODUCTS_DIR, product, "schemas");
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith(".schema.json")).sort() : [];
  const bySchema = new Map<string, JsonSchema>();
  for (const file of files) bySchema.set(file, readJson<JsonSchema>(path.join(dir, file)));
  schemas.set(product, bySchema);
  if (fs.existsSync(path.join(dir, "index.json"))) indexes.set(product, readJson<ProductIndex>(path.join(dir, "index.json")));
}

function validator(product: Product, message: string): ValidateFunction {
  const key = `${product}/${message}.schema.json`;
  let v = validators.get(key);
  if (!v) {
    const schema = schemas.get(product)?.get(`${message}.schema.json`);
    assert.ok(schema, `no schema ${key}`);
    v = ajv.compile(schema);
    validators.set(key, v);
  }
  return v;
}

function errorsText(errors: ErrorObject[] | null | undefined): string {
  return (errors ?? []).map((e) => `${e.instancePath || "/"} ${e.keyword}: ${e.message}`).join("; ");
}

// --- fixtures ---------------------------------------------------------------------------------

/** A message that must validate. source: the seed file and lines it is copied from, or why it is made up. */
interface Valid {
  message: string;
  source: string;
  data: Json;
}
/** A message that must be rejected, with the ajv keyword (and optionally the instance path) that must be among the errors. */
interface Invalid {
  message: string;
  why: string;
  keyword: string;
  at?: string;
  data: Json;
}

const REMOVE = Symbol("remove");
/** A deep copy of base with the value at a dotted path (array indices as numbers) replaced or removed. */
function change(base: Json, dotted: string, value: Json | typeof REMOVE): Json {
  const copy = structuredClone(base);
  const keys = dotted.split(".");
  let node = copy as { [key: string]: Json };
  for (const k of keys.slice(0, -1)) node = node[k] as { [key: string]: Json };
  const last = keys[keys.length - 1]!;
  if (value === REMOVE) delete node[last];
  else node[last] = value;
  return copy;
}

const S000 = "seeds/000_cd167470524b1219.txt";
const S001 = "seeds/001_b3495ca91648989f.txt";
const S002 = "seeds/002_084f2a91d37cffae.txt";
const S003 = "seeds/003_3eb91518f6ac97ba.txt";
const S004 = "seeds/004_e715ee22527d4bd8.txt";

// BESS (000) ----------------------------------------------------------------------------------

// 000 lines 54-73
const bessTelemetry: Json = {
  timestamp: 1713012345,
  device_id: "bess_controller_001",
  electrical: { voltage: 48.5, current: 10.2, power_kw: 0.495 },
  battery: { soc: 75.8, soh: 98.2 },
  thermal: { max_temp: 35.2, min_temp: 28.7, avg_temp: 31.4 },
};
// 000 lines 77-85
const bessStatus: Json = { timestamp: 1713012400, device_id: "bess_controller_001", code: 1001, message: "Cell balancing started", is_error: false };
// 000 lines 89-98
const bessAlarm: Json = { timestamp: 1713012500, device_id: "bess_controller_001", code: 3002, message: "Module temperature high", severity: 3, module_id: 2 };
// 000 lines 102-110
const bessLog: Json = { timestamp: 1713012600000, device_id: "bess_controller_001", level: 2, component: "battery_manager", message: "Cell voltage deviation detected in module 3" };
// 000 lines 114-124
const bessCommand: Json = { command: "set_mode", mode: "discharge", params: { power_limit_kw: 25, soc_min: 20 }, request_id: "req-12345" };
// Made up (the seed names these topics but shows no payload).
const bessStatusError: Json = { timestamp: 1713012700, device_id: "bess_controller_001", code: 2001, message: "set_mode rejected: mode 'boost' is not supported", is_error: true, request_id: "req-12346" };
const bessConnection: Json = { device_id: "bess_controller_001", status: "online", timestamp: 1713012300 };
const bessConfig: Json = { request_id: "cfg-7", telemetry_interval_ms: 10000, log_level: 3 };
const bessReset: Json = { request_id: "rst-1", reset_type: "restart", delay_ms: 2000 };
const bessFirmware: Json = {
  request_id: "fw-42",
  version: "1.4.0",
  url: "https://updates.example.com/bess/1.4.0/firmware.bin",
  sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
  size_bytes: 1572864,
};

const BESS_VALID: Valid[] = [
  { message: "telemetry", source: `${S000}:54-73`, data: bessTelemetry },
  { message: "status-info", source: `${S000}:77-85`, data: bessStatus },
  { message: "status-info", source: "made up: outcome of a command, with the request_id our schemas add", data: { ...(bessStatus as object), code: 1010, message: "Mode set to discharge", request_id: "req-12345" } },
  { message: "status-error", source: "made up: no seed example", data: bessStatusError },
  { message: "status-connection", source: "made up: the birth message (no seed example)", data: bessConnection },
  { message: "status-connection", source: "made up: the will, fixed at CONNECT, so no timestamp", data: { device_id: "bess_controller_001", status: "offline" } },
  // 000 lines 89-98: severity 3 for code 3002; the C example at 256-260 sends code 3002 with severity 4.
  { message: "alarm-critical", source: `${S000}:89-98`, data: bessAlarm },
  // 000 lines 256-260: bess_mqtt_publish_alarm(3002, "Module temperature above critical threshold", 4, module_id); timestamp and device_id as the firmware adds them.
  { message: "alarm-critical", source: `${S000}:256-260`, data: { timestamp: 1713012510, device_id: "bess_controller_001", code: 3002, message: "Module temperature above critical threshold", severity: 4, module_id: 2 } },
  // 000 lines 246-251: bess_mqtt_publish_alarm(3001, "Module temperature above warning threshold", 2, module_id).
  { message: "alarm-warning", source: `${S000}:246-251`, data: { timestamp: 1713012505, device_id: "bess_controller_001", code: 3001, message: "Module temperature above warning threshold", severity: 2, module_id: 2 } },
  { message: "alarm-info", source: "made up: no seed example of severity 1", data: { timestamp: 1713012520, device_id: "bess_controller_001", code: 1101, message: "Module 4 back within thermal limits", severity: 1, module_id: 4 } },
  { message: "log-warning", source: `${S000}:102-110`, data: bessLog },
  // 000 lines 283-284: BESS_LOG_CLOUDWATCH(2, "cell_balancer", "Balancing completed for module %d in %d minutes", ...), formatted.
  { message: "log-warning", source: `${S000}:283-284`, data: { timestamp: 1713012660000, device_id: "bess_controller_001", level: 2, component: "cell_balancer", message: "Balancing completed for module 3 in 12 minutes" } },
  { message: "log-info", source: "made up: no seed example of level 3", data: { ...(bessLog as object), level: 3, message: "Telemetry period set to 10000 ms" } },
  { message: "log-info", source: "made up: debug (4) also goes to logs/info", data: { ...(bessLog as object), level: 4, message: "Balancer duty 12%" } },
  { message: "log-error", source: "made up: no seed example of level 1", data: { ...(bessLog as object), level: 1, component: "mqtt", message: "Publish failed: BESS_MQTT_ERR_TIMEOUT" } },
  { message: "control-command", source: `${S000}:114-124`, data: bessCommand },
  { message: "control-command", source: "made up: no params, addressed to one controller", data: { command: "set_mode", mode: "idle", request_id: "req-2", device_id: "bess_controller_001" } },
  { message: "control-config", source: "made up: no seed payload", data: bessConfig },
  { message: "system-reset", source: "made up: no seed payload", data: bessReset },
  { message: "firmware-update", source: "made up: no seed payload", data: bessFirmware },
];

const BESS_INVALID: Invalid[] = [
  { message: "telemetry", why: "state of charge above 100 %", keyword: "maximum", at: "/battery/soc", data: change(bessTelemetry, "battery.soc", 101) },
  { message: "telemetry", why: "timestamp in milliseconds where the seed uses seconds", keyword: "maximum", at: "/timestamp", data: change(bessTelemetry, "timestamp", 1713012345000) },
  { message: "telemetry", why: "thermal block missing", keyword: "required", data: change(bessTelemetry, "thermal", REMOVE) },
  { message: "telemetry", why: "field outside the fixed layout", keyword: "additionalProperties", data: change(bessTelemetry, "electrical.frequency", 50) },
  { message: "telemetry", why: "voltage as a string", keyword: "type", at: "/electrical/voltage", data: change(bessTelemetry, "electrical.voltage", "48.5") },
  { message: "status-info", why: "is_error true on the info topic", keyword: "const", at: "/is_error", data: change(bessStatus, "is_error", true) },
  { message: "status-info", why: "code as a string", keyword: "type", at: "/code", data: change(bessStatus, "code", "1001") },
  { message: "status-error", why: "is_error false on the error topic", keyword: "const", at: "/is_error", data: change(bessStatusError, "is_error", false) },
  { message: "status-error", why: "message longer than the 256-byte buffer allows", keyword: "maxLength", at: "/message", data: change(bessStatusError, "message", "x".repeat(256)) },
  { message: "status-connection", why: "status not online/offline", keyword: "enum", at: "/status", data: change(bessConnection, "status", "connected") },
  { message: "status-connection", why: "status missing", keyword: "required", data: change(bessConnection, "status", REMOVE) },
  { message: "alarm-critical", why: "warning severity on the critical topic", keyword: "enum", at: "/severity", data: change(bessAlarm, "severity", 2) },
  { message: "alarm-critical", why: "module_id beyond uint8_t", keyword: "maximum", at: "/module_id", data: change(bessAlarm, "module_id", 256) },
  { message: "alarm-warning", why: "critical severity on the warning topic", keyword: "const", at: "/severity", data: change(bessAlarm, "severity", 4) },
  { message: "alarm-info", why: "module_id missing", keyword: "required", data: change(change(bessAlarm, "severity", 1), "module_id", REMOVE) },
  { message: "alarm-info", why: "code not four digits", keyword: "minimum", at: "/code", data: change(change(bessAlarm, "severity", 1), "code", 42) },
  { message: "log-warning", why: "timestamp in seconds where CloudWatch logs use milliseconds", keyword: "minimum", at: "/timestamp", data: change(bessLog, "timestamp", 1713012600) },
  { message: "log-warning", why: "info level on the warning topic", keyword: "const", at: "/level", data: change(bessLog, "level", 3) },
  { message: "log-warning", why: "component with a space", keyword: "pattern", at: "/component", data: change(bessLog, "component", "battery manager") },
  { message: "log-info", why: "warning level on the info topic", keyword: "enum", at: "/level", data: change(bessLog, "level", 2) },
  { message: "log-error", why: "warning level on the error topic", keyword: "const", at: "/level", data: bessLog },
  { message: "control-command", why: "request_id missing", keyword: "required", data: change(bessCommand, "request_id", REMOVE) },
  { message: "control-command", why: "unknown mode", keyword: "enum", at: "/mode", data: change(bessCommand, "mode", "boost") },
  { message: "control-command", why: "misspelt parameter", keyword: "additionalProperties", at: "/params", data: change(bessCommand, "params.power_limit", 25) },
  { message: "control-command", why: "soc_min above 100", keyword: "maximum", at: "/params/soc_min", data: change(bessCommand, "params.soc_min", 120) },
  { message: "control-command", why: "unknown command", keyword: "enum", at: "/command", data: change(bessCommand, "command", "shutdown") },
  { message: "control-config", why: "no setting besides request_id", keyword: "minProperties", data: { request_id: "cfg-8" } },
  { message: "control-config", why: "telemetry period below 1 s", keyword: "minimum", at: "/telemetry_interval_ms", data: change(bessConfig, "telemetry_interval_ms", 500) },
  { message: "control-config", why: "misspelt setting", keyword: "additionalProperties", data: change(bessConfig, "telemetry_interval", 10000) },
  { message: "system-reset", why: "unknown reset type", keyword: "enum", at: "/reset_type", data: change(bessReset, "reset_type", "reboot") },
  { message: "system-reset", why: "request_id missing", keyword: "required", data: change(bessReset, "request_id", REMOVE) },
  { message: "firmware-update", why: "plain HTTP URL", keyword: "pattern", at: "/url", data: change(bessFirmware, "url", "http://updates.example.com/bess/1.4.0/firmware.bin") },
  { message: "firmware-update", why: "digest too short", keyword: "pattern", at: "/sha256", data: change(bessFirmware, "sha256", "9f86d081") },
];

// Battery Hawk (001) --------------------------------------------------------------------------

// 001 lines 175-193. The seed's "raw_data": {...} is not JSON; we put an empty object there.
const hawkReading: Json = {
  device_id: "AA:BB:CC:DD:EE:FF",
  timestamp: "2024-01-15T10:30:00.000Z",
  voltage: 12.6,
  current: 2.5,
  temperature: 25.0,
  state_of_charge: 85.0,
  capacity: 100.0,
  cycles: 150,
  power: 31.5,
  vehicle_id: "my_vehicle",
  device_type: "BM2",
  extra: { device_type: "BM2", raw_data: {} },
};
// 001 lines 197-209
const hawkStatus: Json = {
  device_id: "AA:BB:CC:DD:EE:FF",
  timestamp: "2024-01-15T10:30:00.000Z",
  connected: true,
  protocol_version: "1.0",
  last_command: "read_data",
  device_type: "BM2",
  extra: { signal_strength: -45 },
};
// 001 lines 213-224. The seed elides the list ("devices": [...], not JSON); we take the list of
// its Python example (lines 128-132) but with MAC ids, because the seed's ids "device1".."device3"
// contradict the MAC-address device ids it uses everywhere else (see the must-reject case below).
const hawkSummary: Json = {
  vehicle_id: "my_vehicle",
  timestamp: "2024-01-15T10:30:00.000Z",
  total_devices: 3,
  connected_devices: 2,
  average_voltage: 12.4,
  total_capacity: 300.0,
  overall_health: "good",
  devices: [
    { id: "AA:BB:CC:DD:EE:01", status: "connected", voltage: 12.6 },
    { id: "AA:BB:CC:DD:EE:02", status: "connected", voltage: 12.2 },
    { id: "AA:BB:CC:DD:EE:03", status: "disconnected" },
  ],
};
// 001 lines 228-246
const hawkSystem: Json = {
  timestamp: "2024-01-15T10:30:00.000Z",
  core: { running: true, uptime_seconds: 3600, version: "1.0.0" },
  storage: { influxdb_connected: true, disk_usage_percent: 45.2 },
  components: { mqtt: "connected", bluetooth: "active", api: "running" },
};
// Made up (the seed names these messages but shows no payload).
const hawkDiscovery: Json = { device_id: "AA:BB:CC:DD:EE:FF", timestamp: "2024-01-15T10:29:00.000Z", device_type: "BM2", name: "Battery Monitor", rssi: -60, advertisement_data: {} };
const hawkAssociated: Json = { device_id: "AA:BB:CC:DD:EE:FF", vehicle_id: "my_vehicle", device_type: "BM2", new_vehicle: false, timestamp: "2024-01-15T10:31:00.000Z" };
const hawkShutdown: Json = { status: "shutting_down", reason: "normal_shutdown", timestamp: "2024-01-15T18:00:00.000Z" };
// Made up: the inbound command topic is our addition (the seed has none; see battery-hawk/README.md).
const hawkReadData: Json = { request_id: "req-1", command: "read_data", device_id: "AA:BB:CC:DD:EE:FF" };
const hawkAssociate: Json = { request_id: "req-2", command: "associate", device_id: "AA:BB:CC:DD:EE:FF", vehicle_id: "my_vehicle", timestamp: "2024-01-15T10:31:00.000Z" };
const hawkResponse: Json = { request_id: "req-1", command: "read_data", device_id: "AA:BB:CC:DD:EE:FF", success: true, result: { connected: true, voltage: 12.6, state_of_charge: 85 }, timestamp: "2024-01-15T10:30:01.000Z" };
const hawkErrorResponse: Json = { request_id: null, command: null, success: false, error: { code: "malformed_json", message: "payload is not JSON" }, timestamp: "2024-01-15T10:30:01.000Z" };

const HAWK_VALID: Valid[] = [
  { message: "device-reading", source: `${S001}:175-193 (raw_data {...} made an empty object)`, data: hawkReading },
  { message: "device-reading", source: "made up: a monitor that reports voltage only", data: { device_id: "AA:BB:CC:DD:EE:FF", timestamp: "2024-01-15T10:30:00+00:00", voltage: 12.71 } },
  { message: "device-status", source: `${S001}:197-209`, data: hawkStatus },
  // 001 lines 101-110: DeviceStatus(connected=False, error_code=1001, error_message="Connection timeout") as the publisher sends it.
  { message: "device-status", source: `${S001}:101-110`, data: { device_id: "AA:BB:CC:DD:EE:FF", timestamp: "2024-01-15T10:35:00.000Z", connected: false, error_code: 1001, error_message: "Connection timeout" } },
  { message: "vehicle-summary", source: `${S001}:213-224 with devices from 128-132 (ids made MACs)`, data: hawkSummary },
  { message: "system-status", source: `${S001}:228-246`, data: hawkSystem },
  { message: "system-status", source: "made up: the gateway's will", data: { timestamp: "2024-01-15T10:00:00.000Z", core: { running: false } } },
  { message: "discovery-found", source: "made up: no seed payload", data: hawkDiscovery },
  { message: "vehicle-device-associated", source: "made up: no seed payload", data: hawkAssociated },
  { message: "system-shutdown", source: "made up: no seed payload", data: hawkShutdown },
  { message: "command-read-data", source: "made up: our addition (seed lines 91, 203 name read_data)", data: hawkReadData },
  { message: "command-associate", source: "made up: our addition", data: hawkAssociate },
  { message: "command-response", source: "made up: our addition", data: hawkResponse },
  { message: "command-response", source: "made up: the answer to malformed JSON", data: hawkErrorResponse },
];

const HAWK_INVALID: Invalid[] = [
  { message: "device-reading", why: "lower-case MAC", keyword: "pattern", at: "/device_id", data: change(hawkReading, "device_id", "aa:bb:cc:dd:ee:ff") },
  { message: "device-reading", why: "state of charge above 100 %", keyword: "maximum", at: "/state_of_charge", data: change(hawkReading, "state_of_charge", 150) },
  { message: "device-reading", why: "voltage missing", keyword: "required", data: change(hawkReading, "voltage", REMOVE) },
  { message: "device-reading", why: "timestamp not ISO 8601", keyword: "pattern", at: "/timestamp", data: change(hawkReading, "timestamp", "2024-01-15 10:30:00") },
  { message: "device-reading", why: "extras at the top level instead of in extra", keyword: "additionalProperties", data: change(hawkReading, "raw_data", {}) },
  { message: "device-status", why: "connected as a string", keyword: "type", at: "/connected", data: change(hawkStatus, "connected", "true") },
  { message: "device-status", why: "connected missing", keyword: "required", data: change(hawkStatus, "connected", REMOVE) },
  { message: "device-status", why: "implausible RSSI in extra", keyword: "minimum", at: "/extra/signal_strength", data: change(hawkStatus, "extra.signal_strength", -300) },
  // 001 lines 129-131 (the seed's own device list): ids device1..device3 are not MACs.
  {
    message: "vehicle-summary", why: "seed 001:129-131 device ids are not MAC addresses", keyword: "pattern", at: "/devices/0/id",
    data: change(hawkSummary, "devices", [
      { id: "device1", status: "connected", voltage: 12.6 },
      { id: "device2", status: "connected", voltage: 12.2 },
      { id: "device3", status: "disconnected" },
    ]),
  },
  { message: "vehicle-summary", why: "unknown health class", keyword: "enum", at: "/overall_health", data: change(hawkSummary, "overall_health", "ok") },
  { message: "vehicle-summary", why: "vehicle id with a space", keyword: "pattern", at: "/vehicle_id", data: change(hawkSummary, "vehicle_id", "my vehicle") },
  { message: "vehicle-summary", why: "devices list missing", keyword: "required", data: change(hawkSummary, "devices", REMOVE) },
  { message: "system-status", why: "disk usage above 100 %", keyword: "maximum", at: "/storage/disk_usage_percent", data: change(hawkSystem, "storage.disk_usage_percent", 145) },
  { message: "system-status", why: "core.running missing", keyword: "required", at: "/core", data: change(hawkSystem, "core.running", REMOVE) },
  { message: "system-status", why: "component state not a word", keyword: "type", at: "/components/mqtt", data: change(hawkSystem, "components.mqtt", true) },
  { message: "discovery-found", why: "RSSI below -127 dBm", keyword: "minimum", at: "/rssi", data: change(hawkDiscovery, "rssi", -200) },
  { message: "discovery-found", why: "device_id missing", keyword: "required", data: change(hawkDiscovery, "device_id", REMOVE) },
  { message: "vehicle-device-associated", why: "vehicle id spanning topic levels", keyword: "pattern", at: "/vehicle_id", data: change(hawkAssociated, "vehicle_id", "car/1") },
  { message: "system-shutdown", why: "status other than shutting_down", keyword: "const", at: "/status", data: change(hawkShutdown, "status", "stopped") },
  { message: "command-read-data", why: "lower-case MAC", keyword: "pattern", at: "/device_id", data: change(hawkReadData, "device_id", "aa:bb:cc:dd:ee:ff") },
  { message: "command-read-data", why: "request_id missing", keyword: "required", data: change(hawkReadData, "request_id", REMOVE) },
  { message: "command-read-data", why: "unexpected field", keyword: "additionalProperties", data: change(hawkReadData, "vehicle_id", "my_vehicle") },
  { message: "command-associate", why: "vehicle_id missing", keyword: "required", data: change(hawkAssociate, "vehicle_id", REMOVE) },
  { message: "command-associate", why: "vehicle id spanning topic levels", keyword: "pattern", at: "/vehicle_id", data: change(hawkAssociate, "vehicle_id", "car/1") },
  { message: "command-response", why: "failure without an error", keyword: "required", data: change(hawkErrorResponse, "error", REMOVE) },
  { message: "command-response", why: "success with an error", keyword: "not", data: change(hawkResponse, "error", { code: "failed", message: "x" }) },
  { message: "command-response", why: "unknown error code", keyword: "enum", at: "/error/code", data: change(hawkErrorResponse, "error.code", "oops") },
];

// DESE (002) ----------------------------------------------------------------------------------

// 002 lines 58-77
const deseTelemetry: Json = {
  device_id: "esp32-001",
  timestamp: "2025-01-27T10:00:00Z",
  organization_id: "org-123",
  sensors: { ph: 7.2, chlorine: 2.5, temperature: 25.5, orp: 650, tds: 1200, flow_rate: 45.5 },
  metadata: { battery: 85, signal_strength: -65, firmware_version: "1.0.0" },
};
// 002 lines 109-121
const deseSetPump: Json = {
  command_id: "cmd-1234567890-abc",
  device_id: "esp32-001",
  command: "set_pump",
  parameters: { pump_id: 1, state: "on", duration: 3600 },
  timestamp: "2025-01-27T10:00:00Z",
};
// 002 lines 155-166 (error is null although the field table at line 175 types it string; the schema allows null)
const deseResponse: Json = {
  command_id: "cmd-1234567890-abc",
  success: true,
  response: { pump_state: "on", pump_duration: 3600 },
  error: null,
  timestamp: "2025-01-27T10:00:05Z",
};
// 002 lines 189-197
const deseStatus: Json = { status: "online", battery: 85, signal_strength: -65, firmware_version: "1.0.0", timestamp: "2025-01-27T10:00:00Z" };
// 002 lines 227-242
const deseConfig: Json = {
  device_id: "esp32-001",
  config: { telemetry_interval: 30000, mqtt_keepalive: 60, sensor_calibration: { ph: { offset: 0.2, scale: 1.0 } } },
  timestamp: "2025-01-27T10:00:00Z",
};
// 002 lines 264-273
const deseAlert: Json = { severity: "warning", message: "pH level below threshold", sensor: "ph", value: 6.8, threshold: 7.0, timestamp: "2025-01-27T10:00:00Z" };
/** A command envelope as in 002 lines 109-121 with the command and parameters of the table at 125-132. */
function deseCommand(command: string, parameters?: Json): Json {
  const base = { command_id: `cmd-1234567890-${command.slice(0, 3)}`, device_id: "esp32-001", command, timestamp: "2025-01-27T10:00:00Z" };
  return parameters === undefined ? base : { ...base, parameters };
}

const DESE_VALID: Valid[] = [
  { message: "telemetry", source: `${S002}:58-77`, data: deseTelemetry },
  { message: "telemetry", source: "made up: only the required fields of the table at 002:81-96", data: { device_id: "esp32-001", timestamp: "2025-01-27T10:00:30.250Z", organization_id: "6f1c2b1e-8a4d-4c1e-9a57-3f2d1c0b9e8a", sensors: { ph: 7.0, chlorine: 1.5, temperature: 24.0 }, metadata: { firmware_version: "1.0.0" } } },
  { message: "command-set-pump", source: `${S002}:109-121`, data: deseSetPump },
  { message: "command-set-pump", source: `${S002}:127 (made up values)`, data: deseCommand("set_pump", { pump_id: 1, state: "off" }) },
  { message: "command-set-ph-target", source: `${S002}:128 (made up value)`, data: deseCommand("set_ph_target", { target_ph: 7.4 }) },
  { message: "command-set-chlorine-target", source: `${S002}:129 (made up value)`, data: deseCommand("set_chlorine_target", { target_chlorine: 2.0 }) },
  { message: "command-reboot", source: `${S002}:130`, data: deseCommand("reboot") },
  { message: "command-reboot", source: `${S002}:130 with an empty parameters object`, data: deseCommand("reboot", {}) },
  { message: "command-reset-config", source: `${S002}:131`, data: { ...(deseCommand("reset_config") as object), timestamp: "2025-01-27T11:00:00+01:00" } },
  { message: "command-calibrate-sensor", source: `${S002}:132 (made up values)`, data: deseCommand("calibrate_sensor", { sensor_type: "ph", value: 7.0 }) },
  { message: "command-response", source: `${S002}:155-166`, data: deseResponse },
  { message: "command-response", source: "made up: an invalid command answered (002:421)", data: { command_id: "cmd-1234567890-xyz", success: false, error: "unknown_command: set_turbo", timestamp: "2025-01-27T10:00:05Z" } },
  { message: "status", source: `${S002}:189-197`, data: deseStatus },
  { message: "status", source: "made up: the will", data: { status: "offline", firmware_version: "1.0.0", timestamp: "2025-01-27T09:59:00Z" } },
  { message: "config", source: `${S002}:227-242`, data: deseConfig },
  { message: "config", source: "made up: alert thresholds (002:251)", data: { device_id: "esp32-001", config: { alert_thresholds: { ph: { min: 7.0, max: 7.8 }, chlorine: { min: 1.0 } } }, timestamp: "2025-01-27T10:00:00Z" } },
  { message: "alert", source: `${S002}:264-273`, data: deseAlert },
  { message: "alert", source: "made up: an alert not tied to a sensor", data: { severity: "critical", message: "Pump 1 did not start", timestamp: "2025-01-27T10:00:00Z" } },
];

const DESE_INVALID: Invalid[] = [
  { message: "telemetry", why: "pH above 14", keyword: "maximum", at: "/sensors/ph", data: change(deseTelemetry, "sensors.ph", 14.5) },
  { message: "telemetry", why: "firmware_version missing", keyword: "required", at: "/metadata", data: change(deseTelemetry, "metadata.firmware_version", REMOVE) },
  { message: "telemetry", why: "ORP not an integer", keyword: "type", at: "/sensors/orp", data: change(deseTelemetry, "sensors.orp", 650.5) },
  { message: "telemetry", why: "timestamp not in UTC (Z)", keyword: "pattern", at: "/timestamp", data: change(deseTelemetry, "timestamp", "2025-01-27T11:00:00+01:00") },
  { message: "telemetry", why: "sensor not in the field table", keyword: "additionalProperties", at: "/sensors", data: change(deseTelemetry, "sensors.turbidity", 0.4) },
  { message: "telemetry", why: "battery above 100 %", keyword: "maximum", at: "/metadata/battery", data: change(deseTelemetry, "metadata.battery", 101) },
  { message: "command-set-pump", why: "state not on/off", keyword: "enum", at: "/parameters/state", data: change(deseSetPump, "parameters.state", "ON") },
  { message: "command-set-pump", why: "parameters missing", keyword: "required", data: change(deseSetPump, "parameters", REMOVE) },
  { message: "command-set-pump", why: "another command's name", keyword: "const", at: "/command", data: change(deseSetPump, "command", "set_ph_target") },
  { message: "command-set-pump", why: "pump_id as a string", keyword: "type", at: "/parameters/pump_id", data: change(deseSetPump, "parameters.pump_id", "1") },
  { message: "command-set-pump", why: "duration 0", keyword: "minimum", at: "/parameters/duration", data: change(deseSetPump, "parameters.duration", 0) },
  { message: "command-set-ph-target", why: "target above pH 14", keyword: "maximum", at: "/parameters/target_ph", data: deseCommand("set_ph_target", { target_ph: 15 }) },
  { message: "command-set-ph-target", why: "misspelt parameter", keyword: "additionalProperties", at: "/parameters", data: deseCommand("set_ph_target", { target_pH: 7.4 }) },
  { message: "command-set-chlorine-target", why: "negative chlorine", keyword: "minimum", at: "/parameters/target_chlorine", data: deseCommand("set_chlorine_target", { target_chlorine: -1 }) },
  { message: "command-reboot", why: "parameters on a command that takes none", keyword: "additionalProperties", at: "/parameters", data: deseCommand("reboot", { delay: 5 }) },
  { message: "command-reboot", why: "command_id missing", keyword: "required", data: change(deseCommand("reboot"), "command_id", REMOVE) },
  { message: "command-reset-config", why: "timestamp missing", keyword: "required", data: change(deseCommand("reset_config"), "timestamp", REMOVE) },
  { message: "command-calibrate-sensor", why: "unknown sensor", keyword: "enum", at: "/parameters/sensor_type", data: deseCommand("calibrate_sensor", { sensor_type: "turbidity", value: 1 }) },
  { message: "command-response", why: "failure without an error message", keyword: "required", data: { command_id: "cmd-1", success: false, timestamp: "2025-01-27T10:00:05Z" } },
  { message: "command-response", why: "failure with error null", keyword: "type", at: "/error", data: change(change(deseResponse, "success", false), "error", null) },
  { message: "command-response", why: "success as a string", keyword: "type", at: "/success", data: change(deseResponse, "success", "yes") },
  { message: "status", why: "unknown status value", keyword: "enum", at: "/status", data: change(deseStatus, "status", "rebooting") },
  { message: "status", why: "battery above 100 %", keyword: "maximum", at: "/battery", data: change(deseStatus, "battery", 101) },
  { message: "config", why: "telemetry interval below 1 s", keyword: "minimum", at: "/config/telemetry_interval", data: change(deseConfig, "config.telemetry_interval", 100) },
  { message: "config", why: "empty config", keyword: "minProperties", at: "/config", data: change(deseConfig, "config", {}) },
  { message: "config", why: "misspelt parameter", keyword: "additionalProperties", at: "/config", data: change(deseConfig, "config.telemetry_intervall", 30000) },
  { message: "config", why: "calibration scale 0", keyword: "exclusiveMinimum", at: "/config/sensor_calibration/ph/scale", data: change(deseConfig, "config.sensor_calibration.ph.scale", 0) },
  { message: "alert", why: "severity not in the seed's list", keyword: "enum", at: "/severity", data: change(deseAlert, "severity", "error") },
  { message: "alert", why: "threshold without the value that crossed it", keyword: "dependencies", data: change(deseAlert, "value", REMOVE) },
];

// ESP Sensors (003) ---------------------------------------------------------------------------

// The seed shows no message payload. Made up, in the layout of the upstream publish_sensor_data.
const espData: Json = { temperature: 22.5, humidity: 45.2, uptime: 1234.5, unit: "C" };
// 003 lines 158-181: the seed's mqtt_config dict (Python; True/False made JSON) as the mqtt section of
// a configuration message, with the version such a message needs.
const espConfig: Json = {
  version: 2,
  mqtt: {
    enabled: true,
    client_id: "esp32_sensor",
    broker: "mqtt.example.com",
    port: 1883,
    username: "username",
    password: "password",
    keepalive: 60,
    ssl: false,
    use_esp32_client: true,
    topic_data_prefix: "/homecontrol/device/data",
    topic_config: "/homecontrol/device/config",
    load_config_from_mqtt: true,
    config_wait_time: 1.0,
    reconnect: {
      enabled: true,
      max_attempts: 3,
      attempt_count: 0,
      last_attempt_time: 0,
      backoff_factor: 2,
      min_interval: 3600,
      max_interval: 21600,
    },
  },
};

const ESP_VALID: Valid[] = [
  { message: "sensor-data", source: "made up: the seed shows no payload", data: espData },
  { message: "sensor-data", source: "made up: Fahrenheit", data: { temperature: 98.6, humidity: 30, uptime: 0, unit: "F" } },
  { message: "sensor-data", source: "made up: with config_version, our addition (esp-sensors README)", data: { ...(espData as object), config_version: 1713012345 } },
  { message: "config", source: `${S003}:158-181 as the mqtt section, version added`, data: espConfig },
  // 003 lines 245-253: the reconnect section alone.
  { message: "config", source: `${S003}:245-253 as a partial update, version added`, data: { version: 3, mqtt: { reconnect: { enabled: true, max_attempts: 3, attempt_count: 0, last_attempt_time: 0, backoff_factor: 2, min_interval: 3600, max_interval: 21600 } } } },
  { message: "config", source: "made up: device settings", data: { version: 4, device_id: "livingroom", update_interval: 300, sensors: { dht22: { pin: 16 } } } },
];

const ESP_INVALID: Invalid[] = [
  { message: "sensor-data", why: "humidity above 100 %", keyword: "maximum", at: "/humidity", data: change(espData, "humidity", 101) },
  { message: "sensor-data", why: "unknown unit", keyword: "enum", at: "/unit", data: change(espData, "unit", "K") },
  { message: "sensor-data", why: "90 degrees Celsius, beyond a DHT22", keyword: "maximum", at: "/temperature", data: change(espData, "temperature", 90) },
  { message: "sensor-data", why: "uptime missing", keyword: "required", data: change(espData, "uptime", REMOVE) },
  { message: "sensor-data", why: "config_version negative", keyword: "minimum", at: "/config_version", data: change(espData, "config_version", -1) },
  { message: "sensor-data", why: "config_version as a string", keyword: "type", at: "/config_version", data: change(espData, "config_version", "3") },
  { message: "config", why: "version missing", keyword: "required", data: change(espConfig, "version", REMOVE) },
  { message: "config", why: "version 0", keyword: "minimum", at: "/version", data: change(espConfig, "version", 0) },
  { message: "config", why: "port above 65535", keyword: "maximum", at: "/mqtt/port", data: change(espConfig, "mqtt.port", 70000) },
  { message: "config", why: "misspelt key", keyword: "additionalProperties", at: "/mqtt", data: change(espConfig, "mqtt.keep_alive", 60) },
  { message: "config", why: "backoff factor below 1", keyword: "minimum", at: "/mqtt/reconnect/backoff_factor", data: change(espConfig, "mqtt.reconnect.backoff_factor", 0.5) },
  { message: "config", why: "config_wait_time as a string", keyword: "type", at: "/mqtt/config_wait_time", data: change(espConfig, "mqtt.config_wait_time", "1.0") },
];

// Smart meter (004) ---------------------------------------------------------------------------

// 004 lines 34-37 (the payload of the message shown at 32-38) and 136-141
const meterCommand1: Json = { balance: 5.25, timestamp: 1698765432000 };
const meterCommand2: Json = { balance: 10.5, timestamp: 1698765432000 };
// 004 lines 63-69 and 167-174
const meterConsumption1: Json = { meterNo: "METER001", unitsConsumed: 0.0048, remainingBalance: 5.2452, totalConsumed: 0.0048, timestamp: 1698765432000 };
const meterConsumption2: Json = { meterNo: "METER001", unitsConsumed: 0.0048, remainingBalance: 10.4952, totalConsumed: 0.0048, timestamp: 1698765432000 };
// 004 lines 202-211
const meterStatus: Json = { meterNo: "METER001", status: "online", message: "Device operating normally", balance: 10.4952, wifi_rssi: -65, timestamp: 1698765432000 };
// 004 lines 235-240
const meterBalance: Json = { meterNo: "METER001", balance: 10.5, timestamp: 1698765432000 };
// Made up: our addition for 004 line 273.
const meterRequest: Json = { meterNo: "METER001", reason: "reconnect", balance: 10.4952, timestamp: 1698765462000 };

const METER_VALID: Valid[] = [
  { message: "command-balance", source: `${S004}:34-37`, data: meterCommand1 },
  { message: "command-balance", source: `${S004}:136-141`, data: meterCommand2 },
  { message: "consumption", source: `${S004}:63-69`, data: meterConsumption1 },
  { message: "consumption", source: `${S004}:167-174`, data: meterConsumption2 },
  { message: "status", source: `${S004}:202-211`, data: meterStatus },
  { message: "status", source: "made up: the will (status offline is our addition)", data: { ...(meterStatus as object), status: "offline", message: "Connection lost" } },
  { message: "balance", source: `${S004}:235-240`, data: meterBalance },
  { message: "balance-request", source: "made up: our addition for 004:273", data: meterRequest },
];

const METER_INVALID: Invalid[] = [
  { message: "command-balance", why: "negative balance", keyword: "minimum", at: "/balance", data: change(meterCommand2, "balance", -5) },
  { message: "command-balance", why: "timestamp in seconds where the seed says milliseconds", keyword: "minimum", at: "/timestamp", data: change(meterCommand2, "timestamp", 1698765432) },
  { message: "command-balance", why: "balance as a string", keyword: "type", at: "/balance", data: change(meterCommand2, "balance", "10.5") },
  { message: "command-balance", why: "misspelt field", keyword: "additionalProperties", data: { balanse: 10.5, balance: 10.5, timestamp: 1698765432000 } },
  // 004 lines 537-541: the seed's backend unit-test payload lacks totalConsumed and timestamp, which
  // the payload schema at 157-163 lists; we keep all five required, so this seed example is rejected.
  { message: "consumption", why: "seed 004:537-541 test payload lacks totalConsumed and timestamp", keyword: "required", data: { meterNo: "TEST001", unitsConsumed: 0.05, remainingBalance: 10.0 } },
  { message: "consumption", why: "negative consumption", keyword: "minimum", at: "/unitsConsumed", data: change(meterConsumption2, "unitsConsumed", -0.1) },
  { message: "status", why: "status not in the seed's list", keyword: "enum", at: "/status", data: change(meterStatus, "status", "low-balance") },
  { message: "status", why: "positive RSSI", keyword: "maximum", at: "/wifi_rssi", data: change(meterStatus, "wifi_rssi", 10) },
  { message: "balance", why: "meterNo missing", keyword: "required", data: change(meterBalance, "meterNo", REMOVE) },
  { message: "balance", why: "meterNo with a space", keyword: "pattern", at: "/meterNo", data: change(meterBalance, "meterNo", "METER 001") },
  { message: "balance-request", why: "unknown reason", keyword: "enum", at: "/reason", data: change(meterRequest, "reason", "startup") },
];

const FIXTURES: Record<Product, { valid: Valid[]; invalid: Invalid[] }> = {
  bess: { valid: BESS_VALID, invalid: BESS_INVALID },
  "battery-hawk": { valid: HAWK_VALID, invalid: HAWK_INVALID },
  dese: { valid: DESE_VALID, invalid: DESE_INVALID },
  "esp-sensors": { valid: ESP_VALID, invalid: ESP_INVALID },
  "smart-meter": { valid: METER_VALID, invalid: METER_INVALID },
};

// Concrete topics from the seeds (or built from an index placeholder's default and a seed
// example value) and the message each must resolve to; null: must match no message.
const TOPICS: Record<Product, { topic: string; direction: "publish" | "subscribe"; message: string | null; source: string }[]> = {
  bess: [
    { topic: "bess/telemetry", direction: "publish", message: "telemetry", source: `${S000}:35` },
    { topic: "bess/control/config", direction: "subscribe", message: "control-config", source: `${S000}:186` },
    { topic: "bess/system/reset", direction: "subscribe", message: "system-reset", source: `${S000}:47` },
  ],
  "battery-hawk": [
    { topic: "battery_hawk/device/AA:BB:CC:DD:EE:FF/reading", direction: "publish", message: "device-reading", source: `${S001}:20, 69` },
    { topic: "battery_hawk/device/AA:BB:CC:DD:EE:FF/status", direction: "publish", message: "device-status", source: `${S001}:21, 95` },
    { topic: "battery_hawk/vehicle/my_vehicle/summary", direction: "publish", message: "vehicle-summary", source: `${S001}:22, 135` },
    { topic: "battery_hawk/system/status", direction: "publish", message: "system-status", source: `${S001}:23` },
    { topic: "battery_hawk/discovery/found", direction: "publish", message: "discovery-found", source: `${S001}:24` },
    { topic: "batteryhawk/vehicle/my_vehicle/device_associated", direction: "publish", message: "vehicle-device-associated", source: `${S001}:284, 317` },
    { topic: "battery_hawk/command", direction: "subscribe", message: "command-*", source: "our addition (battery-hawk/README.md)" },
    { topic: "battery_hawk/command/response", direction: "publish", message: "command-response", source: "our addition (battery-hawk/README.md)" },
    // The non-PRD layout of the publishing sections is not used.
    { topic: "devices/AA:BB:CC:DD:EE:FF/readings", direction: "publish", message: null, source: `${S001}:76` },
    { topic: "vehicles/my_vehicle/summary", direction: "publish", message: null, source: `${S001}:138` },
  ],
  dese: [
    { topic: "devices/org-123/esp32-001/commands", direction: "subscribe", message: "command-*", source: `${S002}:295` },
    { topic: "devices/org-123/esp32-001/config", direction: "subscribe", message: "config", source: `${S002}:296` },
    { topic: "devices/org-123/esp32-001/telemetry", direction: "publish", message: "telemetry", source: `${S002}:301` },
    { topic: "devices/org-123/esp32-001/status", direction: "publish", message: "status", source: `${S002}:302` },
    { topic: "devices/org-123/esp32-001/command_response", direction: "publish", message: "command-response", source: `${S002}:303` },
    { topic: "devices/org-123/esp32-001/alert", direction: "publish", message: "alert", source: `${S002}:304` },
  ],
  "esp-sensors": [
    { topic: "/homecontrol/device/data/livingroom-dht22/data", direction: "publish", message: "sensor-data", source: `${S003}:168 + a sensor id` },
    { topic: "/homecontrol/device/config", direction: "subscribe", message: "config", source: `${S003}:169` },
    // The client API examples' topics are not product topics. (Only the publish side can be
    // checked: the configuration topic is wholly configurable, so any topic could be it.)
    { topic: "esp32/data", direction: "publish", message: null, source: `${S003}:91` },
  ],
  "smart-meter": [
    { topic: "smartmeter/METER001/command/balance", direction: "subscribe", message: "command-balance", source: `${S004}:33` },
    { topic: "smartmeter/METER001/consumption", direction: "publish", message: "consumption", source: `${S004}:62` },
    { topic: "smartmeter/METER001/status", direction: "publish", message: "status", source: `${S004}:110-111` },
    { topic: "smartmeter/METER001/balance", direction: "publish", message: "balance", source: `${S004}:112-113` },
  ],
};

// Topic filters from the seeds and the messages (of one direction) they must select, exactly.
const FILTERS: { product: Product; filter: string; direction: "publish" | "subscribe"; messages: string[]; source: string }[] = [
  { product: "bess", filter: "bess/logs/#", direction: "publish", messages: ["log-error", "log-info", "log-warning"], source: `${S000}:307 (CloudWatch rule)` },
  { product: "bess", filter: "bess/alarms/+", direction: "publish", messages: ["alarm-critical", "alarm-info", "alarm-warning"], source: `${S000}:39-41` },
  { product: "smart-meter", filter: "smartmeter/+/consumption", direction: "publish", messages: ["consumption"], source: `${S004}:102-103` },
  { product: "smart-meter", filter: "smartmeter/+/status", direction: "publish", messages: ["status"], source: `${S004}:104-105` },
  { product: "smart-meter", filter: "smartmeter/+/balance", direction: "publish", messages: ["balance"], source: `${S004}:106-107` },
  { product: "smart-meter", filter: "smartmeter/METER001/command/#", direction: "subscribe", messages: ["command-balance"], source: `${S004}:376 (ACL)` },
  { product: "dese", filter: "devices/org-123/esp32-001/+", direction: "subscribe", messages: ["command-calibrate-sensor", "command-reboot", "command-reset-config", "command-set-chlorine-target", "command-set-ph-target", "command-set-pump", "config"], source: `${S002}:287` },
];

// --- topic helpers ------------------------------------------------------------------------------

const PLACEHOLDER = /\{([A-Za-z_]+)\}/g;
function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
function unanchor(pattern: string): string {
  return pattern.replace(/^\^/, "").replace(/\$$/, "");
}
/** A RegExp matching the concrete topics of a pattern such as devices/{org_id}/{device_id}/telemetry. */
function topicRegExp(pattern: string, placeholders: Record<string, Placeholder>): RegExp {
  let out = "";
  let last = 0;
  for (const m of pattern.matchAll(PLACEHOLDER)) {
    out += escapeRegExp(pattern.slice(last, m.index));
    const p = placeholders[m[1]!];
    assert.ok(p, `placeholder {${m[1]}} is not declared`);
    out += `(?:${unanchor(p.pattern)})`;
    last = m.index! + m[0].length;
  }
  return new RegExp(`^${out}${escapeRegExp(pattern.slice(last))}$`, "u");
}
/** Whether an MQTT topic filter (with + and #) matches a topic name. */
function filterMatches(filter: string, topic: string): boolean {
  const f = filter.split("/");
  const t = topic.split("/");
  for (let i = 0; i < f.length; i++) {
    if (f[i] === "#") return true;
    if (i >= t.length) return false;
    if (f[i] !== "+" && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}
/** A concrete topic for a pattern: each placeholder's default or an example value. */
function exampleTopic(pattern: string, placeholders: Record<string, Placeholder>): string {
  const examples: Record<string, string> = { mac: "AA:BB:CC:DD:EE:FF", vehicle_id: "my_vehicle", org_id: "org-123", device_id: "esp32-001", meterNo: "METER001", sensor_id: "livingroom-dht22" };
  return pattern.replace(PLACEHOLDER, (_, name: string) => placeholders[name]?.default ?? examples[name] ?? assert.fail(`no example for {${name}}`));
}

// --- tests --------------------------------------------------------------------------------------

describe("product JSON schemas", () => {
  it("every product has a schemas directory with schemas and an index.json", () => {
    assert.deepEqual(fs.readdirSync(PRODUCTS_DIR).filter((d) => fs.existsSync(path.join(PRODUCTS_DIR, d, "schemas"))).sort(), [...PRODUCTS].sort());
    for (const product of PRODUCTS) {
      assert.ok(indexes.get(product), `${product}: index.json`);
      assert.ok(schemas.get(product)!.size > 0, `${product}: schemas`);
    }
  });

  for (const product of PRODUCTS) {
    describe(product, () => {
      const files = () => [...schemas.get(product)!.keys()];
      const index = () => indexes.get(product)!;

      it("every schema compiles under ajv strict mode and declares draft-07, $id, title, description, type, required, properties, additionalProperties", () => {
        for (const [file, schema] of schemas.get(product)!) {
          const name = file.replace(/\.schema\.json$/, "");
          assert.equal(schema.$schema, DRAFT_07, file);
          assert.equal(schema.$id, `https://schemas.local/${product}/${name}.json`, file);
          assert.equal(typeof schema.title, "string", file);
          assert.ok(typeof schema.description === "string" && schema.description.length > 40, file);
          assert.equal(schema.type, "object", file);
          assert.ok(Array.isArray(schema.required) && schema.required.length > 0, `${file}: required`);
          assert.equal(typeof schema.properties, "object", file);
          assert.equal(typeof schema.additionalProperties, "boolean", `${file}: additionalProperties chosen explicitly`);
          assert.equal(typeof validator(product, name), "function");
        }
      });

      it("inbound (subscribe) schemas reject unknown fields at the top level", () => {
        for (const e of index().messages.filter((m) => m.direction === "subscribe")) {
          assert.equal(schemas.get(product)!.get(e.schema)!.additionalProperties, false, e.schema);
        }
      });

      it("index.json lists every schema file, and every entry names an existing schema", () => {
        assert.equal(index().product, product);
        assert.equal(index().dialect, DRAFT_07);
        assert.match(index().seed, /^00[0-4]_[0-9a-f]{16}\.txt$/, "seed file name");
        const listed = new Set(index().messages.map((m) => m.schema));
        assert.deepEqual([...listed].sort(), files().sort(), "schema files and index entries");
        assert.equal(new Set(index().messages.map((m) => m.message)).size, index().messages.length, "message names are unique");
        for (const e of index().messages) assert.equal(e.schema, `${e.message}.schema.json`);
      });

      it("index entries are well-formed and their placeholders are declared and used", () => {
        const used = new Set<string>();
        for (const e of index().messages) {
          assert.ok(e.direction === "publish" || e.direction === "subscribe", `${e.message}: direction`);
          assert.ok(e.qos === 0 || e.qos === 1 || e.qos === 2, `${e.message}: qos`);
          assert.equal(typeof e.retain, "boolean", `${e.message}: retain`);
          assert.ok(typeof e.source === "string" && e.source.length > 0, `${e.message}: source`);
          assert.ok(!/[+#]/.test(e.topic.replace(PLACEHOLDER, "")), `${e.message}: no wildcards in a topic name`);
          for (const m of e.topic.matchAll(PLACEHOLDER)) used.add(m[1]!);
          topicRegExp(e.topic, index().placeholders); // throws on an undeclared placeholder
          const example = exampleTopic(e.topic, index().placeholders);
          assert.match(example, topicRegExp(e.topic, index().placeholders), `${e.message}: example topic`);
        }
        assert.deepEqual(Object.keys(index().placeholders).sort(), [...used].sort(), "declared placeholders are the used ones");
        for (const [name, p] of Object.entries(index().placeholders)) {
          new RegExp(p.pattern, "u");
          if (p.default !== undefined) assert.match(p.default, new RegExp(p.pattern, "u"), `{${name}} default`);
        }
      });

      it("each schema's description names its topic, QoS and retain flag as index.json does", () => {
        for (const e of index().messages) {
          const d = schemas.get(product)!.get(e.schema)!.description as string;
          assert.ok(d.includes(`Topic \`${e.topic}\``), `${e.message}: topic in description`);
          assert.ok(d.includes(`QoS ${e.qos}, retain ${e.retain}`), `${e.message}: QoS and retain in description`);
          assert.ok(d.includes(e.direction === "publish" ? "device publishes" : "device subscribes"), `${e.message}: direction in description`);
        }
      });

      it("messages sharing a topic are told apart by 'match' values their schemas pin", () => {
        const byTopic = new Map<string, IndexEntry[]>();
        for (const e of index().messages) byTopic.set(`${e.direction} ${e.topic}`, [...(byTopic.get(`${e.direction} ${e.topic}`) ?? []), e]);
        for (const [topic, entries] of byTopic) {
          if (entries.length === 1) continue;
          const keys = entries.map((e) => JSON.stringify(e.match ?? null));
          assert.equal(new Set(keys).size, entries.length, `${topic}: distinct match values`);
          for (const e of entries) {
            assert.ok(e.match, `${e.message}: match needed on a shared topic`);
            for (const [field, value] of Object.entries(e.match)) {
              const props = schemas.get(product)!.get(e.schema)!.properties as { [k: string]: { const?: Json } };
              assert.equal(props[field]?.const, value, `${e.message}: ${field} pinned by const`);
              assert.ok((schemas.get(product)!.get(e.schema)!.required as string[]).includes(field), `${e.message}: ${field} required`);
            }
          }
        }
      });

      it("concrete topics from the seed resolve to the right message", () => {
        for (const t of TOPICS[product]) {
          const hits = index().messages.filter((e) => e.direction === t.direction && topicRegExp(e.topic, index().placeholders).test(t.topic)).map((e) => e.message);
          if (t.message === null) assert.deepEqual(hits, [], `${t.topic} (${t.source}) matches nothing`);
          else if (t.message.endsWith("*")) {
            assert.ok(hits.length > 1 && hits.every((h) => h.startsWith(t.message!.slice(0, -1))), `${t.topic} (${t.source}): ${hits}`);
          } else assert.deepEqual(hits, [t.message], `${t.topic} (${t.source})`);
        }
      });

      it("every schema has at least one valid and one must-reject fixture", () => {
        for (const file of files()) {
          const name = file.replace(/\.schema\.json$/, "");
          assert.ok(FIXTURES[product].valid.some((f) => f.message === name), `${name}: a valid fixture`);
          assert.ok(FIXTURES[product].invalid.some((f) => f.message === name), `${name}: an invalid fixture`);
        }
      });

      for (const f of FIXTURES[product].valid) {
        it(`${f.message} accepts ${f.source}`, () => {
          const v = validator(product, f.message);
          assert.ok(v(f.data), errorsText(v.errors));
        });
      }

      for (const f of FIXTURES[product].invalid) {
        it(`${f.message} rejects: ${f.why} (${f.keyword}${f.at ? " at " + f.at : ""})`, () => {
          const v = validator(product, f.message);
          assert.equal(v(f.data), false, "must be rejected");
          const hit = (v.errors ?? []).some((e) => e.keyword === f.keyword && (f.at === undefined || e.instancePath === f.at));
          assert.ok(hit, `expected ${f.keyword}${f.at ? " at " + f.at : ""}, got: ${errorsText(v.errors)}`);
        });
      }
    });
  }

  it("seed topic filters select exactly the expected messages", () => {
    for (const f of FILTERS) {
      const index = indexes.get(f.product)!;
      const hits = index.messages
        .filter((e) => e.direction === f.direction && filterMatches(f.filter, exampleTopic(e.topic, index.placeholders)))
        .map((e) => e.message)
        .sort();
      assert.deepEqual(hits, f.messages, `${f.filter} (${f.source})`);
    }
  });

  it("each DESE command payload validates against exactly one of the command schemas", () => {
    const commandEntries = indexes.get("dese")!.messages.filter((e) => e.match?.command);
    assert.equal(commandEntries.length, 6, "the seed's six commands (002:125-132)");
    for (const f of DESE_VALID.filter((x) => x.message.startsWith("command-") && x.message !== "command-response")) {
      const ok = commandEntries.filter((e) => validator("dese", e.message)(f.data)).map((e) => e.message);
      assert.deepEqual(ok, [f.message], f.source);
    }
  });

  it("the DESE seed telemetry example stays under 1 KB serialized (002:386)", () => {
    assert.ok(JSON.stringify(deseTelemetry).length < 1024);
  });
});
