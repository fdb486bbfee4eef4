// A product on its board (esp32 only): every bus of its BoardSpec opened with the real class
// for its kind, from the SDK's host provider (`embedded:provider/builtin`, whose `io` holds the
// ECMA-419 Serial, I2C, Analog, Digital and PulseCount of this chip), plus the classes an
// image adds for its own kinds (BLEClient for "ble", RtcDeepSleep for "sleep"), and a `wifi`
// provider whose rssi is the station's. Options come from the board spec, each overridable by
// config `<bus>_<option>`. Nothing here creates emulated hardware, and no emulator is in an
// esp32 image (hosts/moddable/products/<name>/manifest.json).

import device from "embedded:provider/builtin";
import Net from "net";
import config from "mc/config";
import { openBoard } from "../board.js";
import type { BusClass, BusClasses } from "../board.js";
import { bootProduct } from "../boot.js";
import type { ProductFirmware } from "../../../modules/device/product.js";

/** The station's signal strength in dBm, as products read it (`new buses.wifi.io({}).rssi`); -127 (none) while not associated. */
class WiFiSignal {
  get rssi(): number {
    const rssi = Net.get("RSSI") as number | undefined;
    return typeof rssi === "number" ? rssi : -127;
  }
}

/** The ECMA-419 classes every esp32 image has (modules/io). */
export const BUILTIN: BusClasses = {
  serial: device.io.Serial as unknown as BusClass,
  i2c: device.io.I2C as unknown as BusClass,
  analog: device.io.Analog as unknown as BusClass,
  digital: device.io.Digital as unknown as BusClass,
  pulsecount: device.io.PulseCount as unknown as BusClass,
};

/** Boots the product on its board's buses; `classes` adds the kinds beyond the built-in ones. */
export function runOnBoard(firmware: ProductFirmware, classes: BusClasses = {}): void {
  bootProduct(firmware, (dev) => {
    const buses = openBoard(firmware.board, { ...BUILTIN, ...classes }, config as Record<string, unknown>);
    buses.wifi = { io: WiFiSignal as unknown as BusClass };
    return firmware.create(dev, firmware.hardware(buses, dev));
  });
}
