// The gateway's options from the host's configuration text, parsed once by the shared
// readOptions: an unknown key, an unusable interval or limit is a RangeError at start (the
// gateway would misbehave silently). The specification's own key `topic_prefix` is accepted
// for `prefix`. Association entries with an invalid MAC or vehicle id are skipped and
// reported, never used.

import { readOptions } from "../../device/options.js";
import type { OptionsOf, OptionsSpec } from "../../device/options.js";
import { checkRoot } from "../../device/topics.js";
import { isVehicleId, normalizeMac } from "./ids.js";
import { PLACEHOLDERS } from "./table.js";

const DAY_MS = 86_400_000;

export const OPTIONS = {
  // The text's default; its YAML sample shows batteryhawk, which works too.
  prefix: {
    type: "string", default: "battery_hawk", pattern: new RegExp(PLACEHOLDERS.prefix), aliases: ["topic_prefix"],
    doc: "topic prefix, one level of 1-64 letters, digits, _ or -",
  },
  root: {
    type: "string", default: "",
    doc: "topic levels put in front of every topic (\"\" = exactly the specified topics); gives each gateway its own system status on a shared broker",
  },
  poll_interval_ms: { type: "number", default: 10_000, min: 100, max: DAY_MS, integer: true, doc: "every tracked monitor is read once per interval, ms" },
  scan_interval_ms: { type: "number", default: 30_000, min: 100, max: DAY_MS, integer: true, doc: "BLE scan for monitors (discovery), ms" },
  status_interval_ms: { type: "number", default: 60_000, min: 100, max: DAY_MS, integer: true, doc: "system status heartbeat while connected, ms" },
  max_monitors: { type: "number", default: 32, min: 1, max: 1000, integer: true, doc: "most monitors tracked; also bounds vehicles and caches" },
  associations: { type: "string", default: "", doc: "monitor-to-vehicle assignments MAC=vehicle_id,...; commands may change them (persisted)" },
  outbox_max_messages: { type: "number", default: 200, min: 1, max: 100_000, integer: true, doc: "messages kept while offline (oldest dropped)" },
  outbox_max_bytes: { type: "number", default: 65_536, min: 1024, max: 16 * 1024 * 1024, integer: true, doc: "bytes kept while offline" },
  version: { type: "string", default: "1.0.0", pattern: /^[0-9]+\.[0-9]+\.[0-9]+$/, doc: "firmware version in the system status (x.y.z)" },
  keepalive: { type: "number", default: 60, min: 5, max: 65_535, integer: true, doc: "MQTT keepalive, s" },
  timeout: { type: "number", default: 10, min: 1, max: 600, integer: true, doc: "how long to wait for the broker to accept a connection, s" },
} satisfies OptionsSpec;

export type HawkOptions = Omit<OptionsOf<typeof OPTIONS>, "associations"> & {
  /** Validated associations, MAC (upper case) -> vehicle id. */
  associations: Map<string, string>;
};

/** Throws a RangeError for an unknown key or an unusable value; reports skipped associations. */
export function readHawkOptions(text: Readonly<Record<string, string>>, report: (problem: string) => void = () => {}): HawkOptions {
  const o = readOptions(OPTIONS, text);
  if (o.root !== "") checkRoot(o.root);
  return { ...o, associations: parseAssociations(o.associations, o.max_monitors, report) };
}

/** "MAC=vehicle,MAC=vehicle" -> Map; bad entries are reported and left out. */
export function parseAssociations(text: string, max: number, report: (problem: string) => void): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split(",")) {
    const entry = raw.trim();
    if (entry === "") continue;
    const [macText, vehicle, extra] = entry.split("=");
    const mac = normalizeMac(macText?.trim());
    const vehicleId = vehicle?.trim();
    if (!mac || !isVehicleId(vehicleId) || extra !== undefined) {
      report(`association "${entry}" ignored: expected AA:BB:CC:DD:EE:FF=vehicle_id (vehicle id: 1-64 letters, digits, _ or -)`);
    } else if (out.size >= max && !out.has(mac)) {
      report(`association "${entry}" ignored: more than max_monitors (${max})`);
    } else {
      out.set(mac, vehicleId);
    }
  }
  return out;
}
