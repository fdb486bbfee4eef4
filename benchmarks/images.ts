// What each product's image costs. On the XS engine (xsnap), the image's modules as the lin
// build holds them (the product, its drivers, its emulators and the platform; no companion,
// no tests, no other product: ./images/worker.ts) booted against aedes on a virtual clock:
// live heap slots after the bundle is evaluated, after boot (connected, first messages out)
// and after a simulated hour, each right after a full garbage collection. Then, with MODDABLE
// set, each product's lin build (hosts/moddable/products/<name>/manifest.json): the size of
// its mc.so and of its modules' XS bytecode (.xsb). Without MODDABLE the lin part is skipped
// with a note.
//
//   npm run bench:images
//   (or: npx tsc -p tsconfig.json && node build/benchmarks/images.js [product...])
//
// A slot is 32 bytes on a 64-bit host (xsnap) and 16 bytes on the ESP32; strings and buffers
// live in XS's chunk heap, which xsnap does not meter, so the slot figures are a floor.

import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { startAedes } from "../tests/harness/aedes.js";
import { XsWorker, bundleForXs } from "../tests/harness/xsnap.js";
import { buildLin, productManifest } from "../tests/harness/moddable.js";
import { products } from "../modules/products/index.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const HOUR_MS = 3_600_000;

interface XsFigures {
  bundleBytes: number;
  loaded: number;
  boot: number;
  hour: number;
  published: number;
  allocate: number;
}

/** A product with no parts and no behaviour: the platform alone (bridge, client, device runtime). */
const NO_PRODUCT = `export const emulated = { name: "none", defaults: {}, deviceId: () => "none", board: {},
  hardware: () => ({}), emulate: () => ({ buses: {} }), create: () => ({ start() {}, async stop() {} }) };`;

/** The worker with ./product.js as that product's emulated.ts (or NO_PRODUCT for undefined). */
function bundle(product: string | undefined): Promise<string> {
  const worker = path.join(root, "benchmarks/images/worker.ts");
  return bundleForXs("benchmarks/images/worker.ts", [{
    name: "image-product",
    setup(build) {
      build.onResolve({ filter: /^\.\/product\.js$/ }, (a) => {
        if (a.importer !== worker) return undefined;
        return product ? { path: path.join(root, `modules/products/${product}/emulated.ts`) } : { path: "none", namespace: "no-product" };
      });
      build.onLoad({ filter: /.*/, namespace: "no-product" }, () => ({ contents: NO_PRODUCT, loader: "js" }));
    },
  }]);
}

/** Live slots once the platform alone is evaluated: what every image's figures include. */
async function platformOnly(): Promise<{ bundleBytes: number; loaded: number }> {
  const code = await bundle(undefined);
  const xs = await XsWorker.start({ clock: "virtual", bundle: code });
  try {
    return { bundleBytes: Buffer.byteLength(code), loaded: await live(xs) };
  } finally {
    await xs.dispose();
  }
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Virtual time in steps, with a real pause after each for the broker's answers. */
async function run(xs: XsWorker, ms: number, step: number, until?: () => boolean): Promise<void> {
  for (let t = 0; t < ms && !until?.(); t += step) {
    await xs.advance(step);
    await pause(2);
    await xs.until();
  }
}

async function live(xs: XsWorker): Promise<number> {
  await xs.job("gc");
  return xs.cranks[xs.cranks.length - 1]!.currentHeapCount;
}

async function measureXs(product: string): Promise<XsFigures> {
  const code = await bundle(product);
  const broker = await startAedes();
  let published = 0;
  broker.broker.on("publish", (_packet, client) => { if (client) published++; });
  const xs = await XsWorker.start({ clock: "virtual", bundle: code });
  try {
    const loaded = await live(xs);
    await xs.job("boot", { port: broker.port });
    // Boot: until its first messages are out (at most a virtual minute).
    await run(xs, 60_000, 500, () => published >= 2);
    if (published === 0) throw new Error(`${product} published nothing within a minute; logs:\n${xs.logs.join("\n")}`);
    const boot = await live(xs);
    await run(xs, HOUR_MS, 5_000);
    const hour = await live(xs);
    if (xs.errors.length) throw new Error(`${product}: XS reported ${xs.errors.join("; ")}`);
    return { bundleBytes: Buffer.byteLength(code), loaded, boot, hour, published, allocate: xs.cranks[xs.cranks.length - 1]!.allocate };
  } finally {
    await xs.dispose();
    await broker.close();
  }
}

function sizeOfXsb(dir: string): number {
  let total = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) total += sizeOfXsb(p);
    else if (entry.name.endsWith(".xsb")) total += fs.statSync(p).size;
  }
  return total;
}

const kb = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KB`;
const n = (v: number): string => v.toLocaleString("en-US");

async function main(): Promise<void> {
  const names = process.argv.slice(2).length ? process.argv.slice(2) : products.map((p) => p.name);
  console.log("XS heap of each image on xsnap (live slots after a full GC; a slot is 32 B here, 16 B on ESP32):\n");
  console.log("| image | bundle | loaded | after boot | after 1 h (growth) | after 1 h x 16 B (ESP32) | messages published (boot + 1 h) |");
  console.log("|---|---:|---:|---:|---:|---:|---:|");
  const base = await platformOnly();
  console.log(`| platform alone (no product) | ${kb(base.bundleBytes)} | ${n(base.loaded)} | - | - | ${kb(base.loaded * 16)} | - |`);
  for (const name of names) {
    const f = await measureXs(name);
    console.log(`| ${name} | ${kb(f.bundleBytes)} | ${n(f.loaded)} | ${n(f.boot)} | ${n(f.hour)} (${f.hour >= f.boot ? "+" : ""}${n(f.hour - f.boot)}) | ${kb(f.hour * 16)} | ${n(f.published)} |`);
  }
  if (!process.env.MODDABLE) {
    console.log("\nlin builds: skipped (MODDABLE is not set; set it to a Moddable SDK with its lin tools built)");
    return;
  }
  console.log("\nlin builds (mcconfig -m -p lin, release):\n");
  console.log("| image | mc.so | modules' XS bytecode (.xsb) |");
  console.log("|---|---:|---:|");
  for (const name of names) {
    const build = await buildLin(`image-${name}`, {}, productManifest(name));
    console.log(`| ${name} | ${kb(fs.statSync(build.so).size)} | ${kb(sizeOfXsb(path.join(build.tmp, "modules")))} |`);
    fs.rmSync(path.resolve(build.tmp, "../../../../../.."), { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
