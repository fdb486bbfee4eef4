// The smart-meter image's entry on lin (and any platform but esp32): the product on its emulated buses.

import { emulated } from "../../../../modules/products/smart-meter/emulated.js";
import { runSimulated } from "../../simulator.js";

runSimulated(emulated);
