// The node's options from the host's configuration text, parsed once by the shared
// readOptions (an unknown key or an unusable value is a RangeError at creation). The first
// five seed the persisted configuration (settings.ts) until a config message replaces them;
// the rest are the host's alone. Every bound is stated here.

import type { OptionsOf, OptionsSpec } from "../../device/options.js";
import { MAX_BACKLOG } from "./backlog.js";
import { PLACEHOLDERS } from "./table.js";

export const OPTIONS = {
  topic_data_prefix: {
    type: "string", default: "/homecontrol/device/data", pattern: new RegExp(PLACEHOLDERS.topic_data_prefix),
    doc: "readings go to {topic_data_prefix}/{sensor_id}/data; may span levels",
  },
  topic_config: {
    type: "string", default: "/homecontrol/device/config", pattern: new RegExp(PLACEHOLDERS.topic_config),
    doc: "the retained configuration topic; may span levels; {sensor_id} in it is replaced by the sensor id",
  },
  // The specification gives none; 5 s makes `npm start` show traffic at once. A battery node sets minutes.
  update_interval: { type: "number", default: 5, min: 1, max: 86_400, integer: true, doc: "seconds asleep between wakes" },
  config_wait_time: { type: "number", default: 1, min: 0, max: 60, doc: "seconds a wake waits for a configuration" },
  load_config_from_mqtt: { type: "boolean", default: true, doc: "read the configuration topic each wake" },
  keepalive: { type: "number", default: 60, min: 0, max: 65_535, integer: true, doc: "MQTT keepalive, s" },
  root: {
    type: "string", default: "", pattern: /^(?:[^/+#\u0000]+(?:\/[^/+#\u0000]+)*)?$/,
    doc: "topic levels put in front of every topic (\"\" = exactly the specified topics); gives each node its own configuration on a shared broker",
  },
  unit: { type: "string", default: "C", pattern: /^[CF]$/, doc: "temperature unit, C or F" },
  backlog_limit: { type: "number", default: 48, min: 1, max: MAX_BACKLOG, integer: true, doc: "unpublished readings kept across sleeps (oldest dropped)" },
  // A broker that accepts TCP and never answers must not drain the battery.
  max_awake: { type: "number", default: 30, min: 1, max: 600, doc: "seconds a wake may last before the node gives up and sleeps" },
  connect_timeout: { type: "number", default: 5, min: 0.1, max: 60, doc: "seconds per connection attempt" },
} satisfies OptionsSpec;

export type EspOptions = OptionsOf<typeof OPTIONS>;
