// The battery system behind an emulated RS-485 line: a BMS model (address 1) over a battery
// pack's physics, and a power converter model (address 2) whose set-points drive the pack's
// current. The controller's drivers (hardware.ts) read and command them over Modbus-RTU, as
// on a board; tests reach the models and the line's faults through the returned handles.

import type { HardwareFault } from "../../device/product.js";
import type { Device } from "../../device/device.js";
import type { Buses } from "../../drivers/io.js";
import { BatteryPack } from "../../emulators/battery-pack.js";
import type { PackOptions } from "../../emulators/battery-pack.js";
import { EmulatedBms } from "../../emulators/bms.js";
import { EmulatedConverter } from "../../emulators/power-converter.js";
import { ModbusLine } from "../../emulators/modbus.js";
import { BOARD } from "./hardware.js";

export interface SimulationOptions extends PackOptions {
  /** The converter's rating, kW. */
  maxPowerKw: number;
}

export interface EmulatedBess {
  buses: Buses;
  line: ModbusLine;
  pack: BatteryPack;
  bms: EmulatedBms;
  converter: EmulatedConverter;
}

/** What the dashboard may do to a simulated BESS. */
export function bessFaults(e: EmulatedBess): Record<string, HardwareFault> {
  return {
    overheat: { label: "Overheat module 1 to 65 °C", apply: () => e.pack.overheat(0, 65) },
    silent: { label: "BMS stops answering / answers again", apply: () => { e.line.faults.unplugged = !e.line.faults.unplugged; } },
    refuse: { label: "Converter refuses writes / accepts again", apply: () => { e.converter.refuse = e.converter.refuse ? 0 : 4; } },
  };
}

export function emulateBess(device: Device, options: Partial<SimulationOptions> = {}): EmulatedBess {
  const { maxPowerKw = 30, ...packOptions } = options;
  const pack = new BatteryPack(device, packOptions);
  const bms = new EmulatedBms(pack);
  const converter = new EmulatedConverter(pack, maxPowerKw);
  const line = new ModbusLine(device.timer);
  const board = BOARD.bms.options;
  line.attach(Number(board.address), bms).attach(Number(board.converter_address), converter);
  return { buses: { bms: { ...board, io: line.io } }, line, pack, bms, converter };
}
