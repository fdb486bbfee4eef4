// Vehicle summary aggregation and the health score, defined from the specification's own
// fields:
//   connected share = connected_devices / total_devices
//   charge          = mean over connected monitors with a reading of state_of_charge / 100,
//                     or, when a monitor reports none, (voltage - 11.8) / 0.9 clamped to 0..1
//                     (12 V lead-acid: 11.8 V empty, 12.7 V full)
//   health_score    = 0.5 x connected share + 0.5 x charge, rounded to 0.01 (0 without monitors)
//   overall_health  = excellent >= 0.85, good >= 0.6, fair >= 0.35, else poor
// The specification's example (2 of 3 connected at 12.6 V and 12.2 V) scores 0.67: "good", as it says.

import type { JsonObject } from "../../device/commands.js";
import type { MonitorState } from "./registry.js";
import { round } from "./messages.js";

export type HealthClass = "excellent" | "good" | "fair" | "poor";

/** A monitor's charge, 0..1, from its reading. */
export function chargeOf(reading: { voltage: number; state_of_charge?: number }): number {
  const fraction = reading.state_of_charge !== undefined ? reading.state_of_charge / 100 : (reading.voltage - 11.8) / 0.9;
  return Math.min(1, Math.max(0, fraction));
}

export function healthScore(total: number, connected: number, charges: number[]): number {
  if (total === 0) return 0;
  const charge = charges.length ? charges.reduce((a, b) => a + b, 0) / charges.length : 0;
  return round(0.5 * (connected / total) + 0.5 * charge, 2);
}

export function healthClass(score: number): HealthClass {
  return score >= 0.85 ? "excellent" : score >= 0.6 ? "good" : score >= 0.35 ? "fair" : "poor";
}

/**
 * The summary of one vehicle without its timestamp: the gateway publishes it only when this
 * differs from the last one published (summaries are cached). Voltages of disconnected monitors are
 * stale and left out; capacities are properties of the battery and kept.
 */
export function vehicleSummary(vehicleId: string, monitors: MonitorState[]): JsonObject {
  const devices: JsonObject[] = [];
  const voltages: number[] = [];
  const charges: number[] = [];
  let connected = 0;
  let capacity = 0;
  for (const m of [...monitors].sort((a, b) => (a.mac < b.mac ? -1 : 1))) {
    const entry: JsonObject = { id: m.mac, status: m.connected ? "connected" : "disconnected" };
    if (m.deviceType) entry.device_type = m.deviceType;
    if (m.connected) connected++;
    if (m.reading?.capacity !== undefined) {
      capacity += m.reading.capacity;
      entry.capacity = m.reading.capacity;
    }
    if (m.connected && m.reading) {
      entry.voltage = m.reading.voltage;
      if (m.reading.state_of_charge !== undefined) entry.state_of_charge = m.reading.state_of_charge;
      voltages.push(m.reading.voltage);
      charges.push(chargeOf(m.reading));
    }
    devices.push(entry);
  }
  const score = healthScore(monitors.length, connected, charges);
  return {
    vehicle_id: vehicleId,
    total_devices: monitors.length,
    connected_devices: connected,
    average_voltage: voltages.length ? round(voltages.reduce((a, b) => a + b, 0) / voltages.length, 2) : 0,
    total_capacity: round(capacity, 1),
    overall_health: healthClass(score),
    health_score: score,
    devices,
  };
}
