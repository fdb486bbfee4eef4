// The seed's multi-tenant topics devices/{org_id}/{device_id}/{message_type} (seed lines
// 30-43, 291-305). Both ids are checked as single topic levels, so no id can widen a
// subscription with a wildcard or reach another tenant's tree.

import { fillTopic } from "../../device/topics.js";

/** The organisation used when the host's configuration names none (the seed's examples use org-123). */
export const DEFAULT_ORG = "org-123";

const TEMPLATE = "devices/{org_id}/{device_id}/";

export interface DeseTopics {
  telemetry: string;
  commands: string;
  commandResponse: string;
  status: string;
  config: string;
  alert: string;
  /** Every topic of this device, for a live view (never subscribed to by the device). */
  all: string;
}

/** Topics of one device; throws RangeError when an id is empty or holds '/', '+', '#' or NUL. */
export function deseTopics(org: string, deviceId: string): DeseTopics {
  const t = (type: string) => fillTopic(TEMPLATE + type, { org_id: org, device_id: deviceId });
  return {
    telemetry: t("telemetry"),
    commands: t("commands"),
    commandResponse: t("command_response"),
    status: t("status"),
    config: t("config"),
    alert: t("alert"),
    all: t("#"),
  };
}
