// The seed's fourteen topics (lines 33-48) under one root. The root defaults to "bess", which
// gives the seed's topics exactly; a host may set another (e.g. "site-a/bess") so several
// controllers can share a broker without overwriting each other's retained connection status.

import { checkSegment } from "../../device/topics.js";

export const DEFAULT_ROOT = "bess";

export interface BessTopics {
  telemetry: string;
  statusInfo: string;
  statusError: string;
  statusConnection: string;
  alarmInfo: string;
  alarmWarning: string;
  alarmCritical: string;
  logInfo: string;
  logWarning: string;
  logError: string;
  controlCommands: string;
  controlConfig: string;
  systemReset: string;
  firmwareUpdate: string;
  /** Every topic of this controller, for a live view. */
  all: string;
}

/** Topics under `root`; throws RangeError when a level of the root is empty or holds a wildcard. */
export function bessTopics(root: string = DEFAULT_ROOT): BessTopics {
  root.split("/").forEach((level) => checkSegment("root", level));
  const t = (suffix: string) => `${root}/${suffix}`;
  return {
    telemetry: t("telemetry"),
    statusInfo: t("status/info"),
    statusError: t("status/error"),
    statusConnection: t("status/connection"),
    alarmInfo: t("alarms/info"),
    alarmWarning: t("alarms/warning"),
    alarmCritical: t("alarms/critical"),
    logInfo: t("logs/info"),
    logWarning: t("logs/warning"),
    logError: t("logs/error"),
    controlCommands: t("control/commands"),
    controlConfig: t("control/config"),
    systemReset: t("system/reset"),
    firmwareUpdate: t("firmware/update"),
    all: t("#"),
  };
}
