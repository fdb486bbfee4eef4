// The PRD-compliant topic layout (seed lines 19-25) under the configurable prefix (line 29),
// plus the event-table messages moved under the prefix and our command topic (index.json).
// Every level is filled through fillTopic, which refuses '/', '+', '#' and empty values.

import { fillTopic } from "../../device/topics.js";

export const TEMPLATES = {
  reading: "{prefix}/device/{mac}/reading",
  deviceStatus: "{prefix}/device/{mac}/status",
  summary: "{prefix}/vehicle/{vehicle_id}/summary",
  associated: "{prefix}/vehicle/{vehicle_id}/device_associated",
  systemStatus: "{prefix}/system/status",
  shutdown: "{prefix}/system/shutdown",
  discovery: "{prefix}/discovery/found",
  command: "{prefix}/command",
  commandResponse: "{prefix}/command/response",
} as const;

export class HawkTopics {
  readonly prefix: string;
  readonly systemStatus: string;
  readonly shutdown: string;
  readonly discovery: string;
  readonly command: string;
  readonly commandResponse: string;

  constructor(prefix: string) {
    this.prefix = prefix;
    this.systemStatus = fillTopic(TEMPLATES.systemStatus, { prefix });
    this.shutdown = fillTopic(TEMPLATES.shutdown, { prefix });
    this.discovery = fillTopic(TEMPLATES.discovery, { prefix });
    this.command = fillTopic(TEMPLATES.command, { prefix });
    this.commandResponse = fillTopic(TEMPLATES.commandResponse, { prefix });
  }

  /** mac must come from normalizeMac(). */
  reading(mac: string): string {
    return fillTopic(TEMPLATES.reading, { prefix: this.prefix, mac });
  }

  deviceStatus(mac: string): string {
    return fillTopic(TEMPLATES.deviceStatus, { prefix: this.prefix, mac });
  }

  /** vehicleId must pass isVehicleId(). */
  summary(vehicleId: string): string {
    return fillTopic(TEMPLATES.summary, { prefix: this.prefix, vehicle_id: vehicleId });
  }

  associated(vehicleId: string): string {
    return fillTopic(TEMPLATES.associated, { prefix: this.prefix, vehicle_id: vehicleId });
  }

  /** One filter for all of the gateway's traffic. */
  get all(): string {
    return `${this.prefix}/#`;
  }

  /** Wildcard subscriptions for monitoring many monitors and vehicles at once (seed line 30). */
  get filters(): { readings: string; deviceStatuses: string; summaries: string; associations: string } {
    return {
      readings: `${this.prefix}/device/+/reading`,
      deviceStatuses: `${this.prefix}/device/+/status`,
      summaries: `${this.prefix}/vehicle/+/summary`,
      associations: `${this.prefix}/vehicle/+/device_associated`,
    };
  }
}
