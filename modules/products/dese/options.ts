// The controller's options from the host's configuration text, parsed once by the shared
// readOptions (unknown keys refused). Timing knobs exist so tests and demos can run the same
// code faster; every bound is stated here.

import type { OptionsOf, OptionsSpec } from "../../device/options.js";
import { PLACEHOLDERS } from "./table.js";

export const OPTIONS = {
  org: {
    type: "string", default: "org-123", pattern: new RegExp(PLACEHOLDERS.org_id),
    doc: "organisation id, the {org_id} topic level (the specification's examples use org-123)",
  },
  control_interval_ms: {
    type: "number", default: 5_000, min: 100, max: 3_600_000, integer: true,
    doc: "how often the probes are sampled for alerts and the dosing interlock, ms",
  },
  status_interval_ms: { type: "number", default: 60_000, min: 100, max: 3_600_000, integer: true, doc: "status period, ms" },
  calibration_ms: { type: "number", default: 5_000, min: 0, max: 600_000, integer: true, doc: "how long calibrate_sensor averages the probe, ms" },
  // About 50 minutes of telemetry at the default 30 s, in ~48 KB of the ESP32's RAM.
  outbox_max_messages: { type: "number", default: 100, min: 1, max: 10_000, integer: true, doc: "messages kept while offline (oldest dropped)" },
  outbox_max_bytes: { type: "number", default: 48 * 1024, min: 1024, max: 4 * 1024 * 1024, integer: true, doc: "bytes kept while offline" },
  alert_burst: { type: "number", default: 10, min: 1, max: 1000, integer: true, doc: "alerts sent back to back before the rate limit" },
  alert_refill_ms: { type: "number", default: 6_000, min: 1, max: 3_600_000, integer: true, doc: "one more alert per this many ms" },
} satisfies OptionsSpec;

export type DeseOptions = OptionsOf<typeof OPTIONS>;
