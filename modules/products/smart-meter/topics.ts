// The meter's topics (seed lines 78-115, index.json), filled from its meter number. The
// prefix is fixed by the seed and the topic table, so only {meterNo} varies.

import { fillTopics } from "../../device/topics.js";

export const TOPIC_TEMPLATES = {
  /** Balance commands from the backend (seed line 125); `+` also catches unknown commands. */
  commands: "smartmeter/{meterNo}/command/+",
  commandBalance: "smartmeter/{meterNo}/command/balance",
  consumption: "smartmeter/{meterNo}/consumption",
  status: "smartmeter/{meterNo}/status",
  balance: "smartmeter/{meterNo}/balance",
  /** Our addition (index.json balance-request): the resync request of seed line 273. */
  balanceRequest: "smartmeter/{meterNo}/request/balance",
} as const;

export type MeterTopics = { [K in keyof typeof TOPIC_TEMPLATES]: string };

/** Same pattern as the schemas' meterNo: a safe topic level and a valid payload field. */
export const METER_NO = /^[A-Za-z0-9_-]{1,32}$/;

/** Throws RangeError for a meter number the schemas would reject. */
export function meterTopics(meterNo: string): MeterTopics {
  if (!METER_NO.test(meterNo)) throw new RangeError(`meter number must match ${METER_NO.source}: "${meterNo}"`);
  return fillTopics(TOPIC_TEMPLATES, { meterNo });
}

/** The last level of a command topic: "balance" for smartmeter/METER001/command/balance. */
export function commandName(topic: string): string {
  return topic.slice(topic.lastIndexOf("/") + 1);
}
