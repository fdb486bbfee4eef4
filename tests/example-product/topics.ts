// The thermostat's topics, from its generated table (schemas/index.json).

import { resolveTable } from "../../modules/device/topics.js";
import { PLACEHOLDERS, TABLE } from "./table.js";

export const topicsFor = (id: string) => resolveTable(TABLE, PLACEHOLDERS, { id });
