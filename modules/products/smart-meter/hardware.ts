// What the meter reads and drives, and the drivers that do it: a PZEM-004T v3.0 energy
// monitor on a UART (Modbus-RTU) and the supply relay on a GPIO with its feedback contact on a
// second one. The same drivers run on a board's buses and on the emulated ones (simulation.ts).

import type { Device } from "../../device/device.js";
import type { BoardSpec, Buses, Digital419, IoProvider, Serial419 } from "../../drivers/io.js";
import { PZEM_GENERAL_ADDRESS, Pzem004t } from "../../drivers/pzem004t.js";
import type { PzemSample } from "../../drivers/pzem004t.js";
import { SensedRelay } from "../../drivers/relay.js";

/** One reading of the meter: V, A, W, the energy register in Wh, Hz, power factor, alarm. */
export type MeterReading = PzemSample;

export interface SupplyRelay {
  /** What was last commanded: closed (on) lets the load draw power. */
  readonly on: boolean;
  set(on: boolean): void;
  /** Where the contact is when it did not follow the command (read-back), else undefined. */
  readonly stuck: "closed" | "open" | undefined;
}

export interface MeterHardware {
  readonly relay: SupplyRelay;
  /** A reading; rejects with a typed error when the meter does not answer or reports nonsense. */
  read(): Promise<MeterReading>;
  /** Wi-Fi signal strength in dBm; may throw when the host gives none. */
  rssi(): number;
}

/**
 * The buses on a common ESP32 dev board. The PZEM-004T is a 5 V module: its TX drives the
 * ESP32's RX through a divider or level shifter. The relay's feedback is an auxiliary contact
 * (or an optocoupler on the switched side) pulling the sense pin high while the contact is closed.
 */
export const BOARD: BoardSpec = {
  meter: { kind: "serial", options: { port: 2, receive: 16, transmit: 17, baud: 9600, address: PZEM_GENERAL_ADDRESS }, doc: "PZEM-004T v3.0 TTL UART, Modbus-RTU slave address (248 = 0xF8: the only meter on the line)" },
  relay: { kind: "digital", options: { pin: 23, mode: "output" }, doc: "supply relay coil driver input (high = closed)" },
  relaySense: { kind: "digital", options: { pin: 22, mode: "input" }, doc: "relay feedback contact to 3.3 V with a pull-down (high = closed)" },
};

/** The drivers on the given buses. `wifi` (optional, not a 419 bus) is an object with an `rssi` in dBm. */
export function meterHardware(buses: Buses, device: Device): MeterHardware {
  const meter = buses.meter as IoProvider<Serial419>;
  const pzem = new Pzem004t({ sensor: meter, timer: device.timer, address: Number(meter.address ?? PZEM_GENERAL_ADDRESS) });
  const relay = new SensedRelay({
    coil: buses.relay as IoProvider<Digital419>,
    sense: buses.relaySense as IoProvider<Digital419>,
    now: () => device.now(),
  });
  const wifi = buses.wifi ? new buses.wifi.io({ ...buses.wifi }) as { readonly rssi: number } : undefined;
  return {
    relay,
    read: () => pzem.sample(),
    rssi: () => {
      if (!wifi) throw new Error("no Wi-Fi signal source");
      return wifi.rssi;
    },
  };
}
