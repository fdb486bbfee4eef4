// The smart-meter image's entry on esp32: the product on its board's buses (esp32/board.ts).

import { firmware } from "../../../../modules/products/smart-meter/firmware.js";
import { runOnBoard } from "../../esp32/board.js";

runOnBoard(firmware);
