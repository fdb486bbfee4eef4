// The thermostat's options from the host's configuration text.

import type { OptionsSpec } from "../../modules/device/options.js";

export const OPTIONS = {
  interval: { type: "number", default: 60, min: 1, max: 3600, integer: true, doc: "seconds between telemetry messages" },
  set_point: { type: "number", default: 20, min: 5, max: 30, aliases: ["target"], doc: "°C to heat to until a command changes it" },
} as const satisfies OptionsSpec;
