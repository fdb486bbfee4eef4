// The gateway's topics: the generated table (schemas/index.json) filled through resolveTable
// with the prefix (and the optional root in front), plus a monitor's MAC or a vehicle id for
// the per-monitor and per-vehicle messages. resolveTable refuses any value that is not a
// valid level for its placeholder, so no id can inject '/', '+' or '#' into a topic.

import { resolveTable } from "../../device/topics.js";
import type { Route, TableEntry } from "../../device/topics.js";
import { PLACEHOLDERS, TABLE } from "./table.js";

const { deviceReading, deviceStatus, vehicleSummary, vehicleDeviceAssociated } = TABLE;
const { systemStatus, systemShutdown, discoveryFound, commandReadData, commandResponse } = TABLE;
const GATEWAY = { systemStatus, systemShutdown, discoveryFound, commandReadData, commandResponse };
const MONITOR = { deviceReading, deviceStatus };
const VEHICLE = { vehicleSummary, vehicleDeviceAssociated };

export type GatewayRoutes = { [K in keyof typeof GATEWAY]: Route };

export class HawkTopics {
  readonly prefix: string;
  readonly root: string;
  /** The gateway's own messages; commandReadData is the command topic both commands share. */
  readonly gateway: GatewayRoutes;

  /** Throws RangeError for a prefix or root the table refuses. */
  constructor(prefix: string, root = "") {
    this.prefix = prefix;
    this.root = root;
    this.gateway = resolveTable(GATEWAY, PLACEHOLDERS, { prefix }, root);
  }

  /** A monitor's reading and status; mac must come from normalizeMac(). */
  monitor(mac: string): { deviceReading: Route; deviceStatus: Route } {
    return resolveTable(MONITOR, PLACEHOLDERS, { prefix: this.prefix, mac }, this.root);
  }

  /** A vehicle's summary and association event; vehicleId must pass isVehicleId(). */
  vehicle(vehicleId: string): { vehicleSummary: Route; vehicleDeviceAssociated: Route } {
    return resolveTable(VEHICLE, PLACEHOLDERS, { prefix: this.prefix, vehicle_id: vehicleId }, this.root);
  }

  /** One filter for all of the gateway's traffic (the root and the prefix, then #). */
  get all(): string {
    return `${this.#base()}/#`;
  }

  /** Wildcard subscriptions for monitoring many monitors and vehicles at once, from the table. */
  get filters(): { readings: string; deviceStatuses: string; summaries: string; associations: string } {
    return {
      readings: this.#wildcard(deviceReading),
      deviceStatuses: this.#wildcard(deviceStatus),
      summaries: this.#wildcard(vehicleSummary),
      associations: this.#wildcard(vehicleDeviceAssociated),
    };
  }

  #base(): string {
    return this.root === "" ? this.prefix : `${this.root}/${this.prefix}`;
  }

  /** The entry's topic with the prefix filled in and `+` for every other placeholder. */
  #wildcard(entry: TableEntry): string {
    return `${this.root === "" ? "" : `${this.root}/`}${entry.topic.replace(/\{([a-z_]+)\}/g, (_, name: string) => (name === "prefix" ? this.prefix : "+"))}`;
  }
}
