// Stands for the product an image benchmark bundles: benchmarks/images.ts resolves this module
// to modules/products/<name>/emulated.ts when it bundles ./worker.ts for XS.

import type { EmulatedProduct } from "../../modules/device/product.js";

export declare const emulated: EmulatedProduct;
