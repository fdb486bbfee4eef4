// The meter's topics: the generated table (from schemas/index.json) filled with its meter
// number, which must match the schemas' meterNo pattern, so it can never inject a topic
// level or a wildcard.

import { resolveTable } from "../../device/topics.js";
import type { Route } from "../../device/topics.js";
import { PLACEHOLDERS, TABLE } from "./table.js";

export type MeterRoutes = { [K in keyof typeof TABLE]: Route };

/** Throws RangeError for a meter number the schemas would reject. */
export function meterRoutes(meterNo: string): MeterRoutes {
  return resolveTable(TABLE, PLACEHOLDERS, { meterNo });
}

/**
 * The command filter: the balance command's topic with `+` for its last level, so a command
 * the meter does not know (command/reboot) is heard and answered too.
 */
export function commandFilter(routes: MeterRoutes): string {
  const topic = routes.commandBalance.topic;
  return `${topic.slice(0, topic.lastIndexOf("/"))}/+`;
}

/** The last level of a command topic: "balance" for smartmeter/METER001/command/balance. */
export function commandName(topic: string): string {
  return topic.slice(topic.lastIndexOf("/") + 1);
}

/** All of one meter's traffic: the levels every topic of its table shares, then `#`. */
export function meterFilter(routes: MeterRoutes): string {
  const all = Object.values(routes).map((r) => r.topic.split("/"));
  const common: string[] = [];
  for (let i = 0; all.every((levels) => i < levels.length - 1 && levels[i] === all[0][i]); i++) common.push(all[0][i]);
  return [...common, "#"].join("/");
}
