// The esp-sensors image's entry on esp32: the node on its board, deep sleep and RTC memory
// (esp32/sleep.ts) as its "sleep" bus (esp32/board.ts).

import { firmware } from "../../../../modules/products/esp-sensors/firmware.js";
import { runOnBoard } from "../../esp32/board.js";
import { RtcDeepSleep } from "../../esp32/sleep.js";

runOnBoard(firmware, { sleep: RtcDeepSleep });
