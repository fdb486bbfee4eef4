// The battery-hawk image's entry on esp32: the gateway on its board, the on-chip BLE radio
// through Moddable's BLEClient (bleclient) as the "ble" bus (esp32/board.ts).

import BLEClient from "bleclient";
import { firmware } from "../../../../modules/products/battery-hawk/firmware.js";
import { runOnBoard } from "../../esp32/board.js";
import type { BusClass } from "../../board.js";

runOnBoard(firmware, { ble: BLEClient as unknown as BusClass });
