// The meter's payloads, exactly as its schemas (schemas/*.schema.json) describe them.
// Timestamps are milliseconds since the epoch; energy is in kWh, carried as µkWh inside.

import type { JsonObject } from "../../device/commands.js";
import { kwh, round6 } from "./ledger.js";
import type { JournalEntry } from "./ledger.js";
import type { StatusInfo } from "./status.js";

/** A balance command as its schema admits it. */
export interface BalanceCommand {
  balance: number;
  timestamp: number;
}

/** wifi_rssi as the schema wants it: an integer dBm from -127 to 0. */
export function rssiField(dbm: number): number {
  return Number.isFinite(dbm) ? Math.max(-127, Math.min(0, Math.round(dbm))) : -127;
}

export function statusMessage(meterNo: string, info: StatusInfo, balance: number, rssi: number, timestamp: number): JsonObject {
  return { meterNo, status: info.status, message: info.message, balance: round6(balance), wifi_rssi: rssiField(rssi), timestamp };
}

/** A closed report from the journal: the same entry always gives the same payload (idempotence). */
export function consumptionMessage(meterNo: string, entry: JournalEntry): JsonObject {
  const [units, remaining, total, timestamp] = entry;
  return { meterNo, unitsConsumed: kwh(units), remainingBalance: remaining, totalConsumed: kwh(total), timestamp };
}

/** The answer to a balance command: the balance in force. */
export function balanceMessage(meterNo: string, balance: number, timestamp: number): JsonObject {
  return { meterNo, balance: round6(balance), timestamp };
}

/** Asks the backend to resend the balance (the source of truth) after a connect. */
export function balanceRequestMessage(meterNo: string, reason: "boot" | "reconnect", balance: number, timestamp: number): JsonObject {
  return { meterNo, reason, balance: round6(balance), timestamp };
}
