// The five products, by folder name: what the hosts boot and the companion commands.

import type { ProductDefinition } from "../device/product.js";
import { definition as bess } from "./bess/index.js";
import { definition as batteryHawk } from "./battery-hawk/index.js";
import { definition as dese } from "./dese/index.js";
import { definition as espSensors } from "./esp-sensors/index.js";
import { definition as smartMeter } from "./smart-meter/index.js";

export const products: readonly ProductDefinition[] = [bess, batteryHawk, dese, espSensors, smartMeter];

export function productNamed(name: string): ProductDefinition {
  const found = products.find((p) => p.name === name);
  if (!found) throw new RangeError(`unknown product "${name}"; products: ${products.map((p) => p.name).join(", ")}`);
  return found;
}
