// The controller's options from the host's configuration text, parsed once (unknown keys are
// refused). Runtime values that a backend may change live in settings.ts instead.

import type { OptionsSpec } from "../../device/options.js";

export const OPTIONS = {
  root: {
    type: "string",
    default: "",
    pattern: /^$|^[^/+#\u0000]+(\/[^/+#\u0000]+)*$/,
    doc: "topic levels put in front of every bess/... topic so several controllers can share a broker (e.g. site-a gives site-a/bess/telemetry); empty gives the specified topics exactly",
  },
} as const satisfies OptionsSpec;
