// The multi-tenant topics devices/{org_id}/{device_id}/{message_type}, with their QoS and
// retain flags, from the generated table. Both ids are checked against the table's patterns,
// so no id can widen a subscription with a wildcard or reach another tenant's tree. The
// topics are per device already: no root option.

import { resolveTable } from "../../device/topics.js";
import type { Route } from "../../device/topics.js";
import { PLACEHOLDERS, TABLE } from "./table.js";

export interface DeseTopics {
  telemetry: Route;
  /** The one topic all six commands share. */
  commands: Route;
  commandResponse: Route;
  status: Route;
  config: Route;
  alert: Route;
  /** Every topic of this device, for a live view (never subscribed to by the device). */
  all: string;
}

/** Topics of one device; throws RangeError when an id does not fit its placeholder's pattern. */
export function deseTopics(org: string, deviceId: string): DeseTopics {
  const t = resolveTable(TABLE, PLACEHOLDERS, { org_id: org, device_id: deviceId });
  const device = t.status.topic.slice(0, t.status.topic.lastIndexOf("/"));
  return {
    telemetry: t.telemetry,
    commands: t.commandSetPump,
    commandResponse: t.commandResponse,
    status: t.status,
    config: t.config,
    alert: t.alert,
    all: `${device}/#`,
  };
}
