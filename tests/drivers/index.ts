// Every driver suite, for the Node and XS runners.

import type { DriverSuite } from "./suite.js";
import { suites as modbus } from "./modbus.js";
import { suites as smartMeter } from "./smart-meter.js";
import { suites as espSensors } from "./esp-sensors.js";
import { suites as dese } from "./dese.js";
import { suites as bess } from "./bess.js";
import { suites as batteryHawk } from "./battery-hawk.js";

export const suites: DriverSuite[] = [...modbus, ...smartMeter, ...espSensors, ...dese, ...bess, ...batteryHawk];
