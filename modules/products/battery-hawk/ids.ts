// MAC address, vehicle id and gateway id validation. Only values that pass are ever put into
// a topic or a message; the patterns are the schemas' (schemas/index.json placeholders).

const MAC = /^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$/;
const VEHICLE_ID = /^[A-Za-z0-9_-]{1,64}$/;
/** The gateway's own id (its MQTT client id), as commands and responses carry it. */
const GATEWAY_ID = /^[A-Za-z0-9._:-]{1,64}$/;
const DEVICE_TYPE = /^[A-Za-z0-9_-]{1,32}$/;

/**
 * The canonical (upper-case) form of a Bluetooth MAC such as aa:bb:cc:dd:ee:ff, or undefined
 * when the value is not six colon-separated hex pairs. BLE stacks differ in case only.
 */
export function normalizeMac(value: unknown): string | undefined {
  return typeof value === "string" && MAC.test(value) ? value.toUpperCase() : undefined;
}

export function isVehicleId(value: unknown): value is string {
  return typeof value === "string" && VEHICLE_ID.test(value);
}

export function isGatewayId(value: unknown): value is string {
  return typeof value === "string" && GATEWAY_ID.test(value);
}

export function isDeviceType(value: unknown): value is string {
  return typeof value === "string" && DEVICE_TYPE.test(value);
}
