// A product on emulated buses (the lin simulator, and any platform but esp32): `simulate()`
// runs its drivers over its emulators. Only images built for the simulator hold this module
// and the emulators (see hosts/moddable/products/<name>/manifest.json).

import { simulate } from "../../modules/device/product.js";
import type { EmulatedProduct } from "../../modules/device/product.js";
import { bootProduct } from "./boot.js";

export function runSimulated(definition: EmulatedProduct): void {
  bootProduct(definition, (device) => simulate(definition, device).product);
}
