// Each product's image (hosts/moddable/products/<name>/manifest.json) built for esp32 by
// mcconfig, as far as a machine without ESP-IDF can go. The image must hold the product, its
// drivers, the board's real buses and the platform, and nothing else: no emulator, nothing
// from tests/, no other product, not the companion's part (checked from the makefile's module
// list against what the entry imports). mcconfig processes the manifest (module map,
// resources, config) and writes the makefile,
// then stops at "$IDF_PATH not set". Everything on the JavaScript side (tsc per module,
// xsc, mcrez for the resources, xsl linking the archive) is host work in that makefile, so
// it is run next with a stand-in IDF_PATH (an empty git repository, which only satisfies the
// makefile's version probe) and SDKCONFIG_H emptied (ESP-IDF's cmake would make it): a type
// error, an unmapped import or a bad resource fails here. Compiling C for the Xtensa target
// needs ESP-IDF and is not attempted. Skipped, with the reason, when MODDABLE is unset.

import { strict as assert } from "node:assert";
import { execFile, execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { BUILD_TIMEOUT_MS, imageModules, importClosure, productManifest, repoSource } from "../harness/moddable.js";

const run = promisify(execFile);
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const PRODUCTS = ["bess", "battery-hawk", "dese", "esp-sensors", "smart-meter"];

function unavailable(): string | undefined {
  const sdk = process.env.MODDABLE;
  if (!sdk) return "MODDABLE is not set";
  if (!fs.existsSync(path.join(sdk, "build/bin/lin/release/mcconfig"))) return `mcconfig not found in ${sdk}/build/bin/lin/release: build the SDK's lin tools first`;
  return undefined;
}

interface Outcome { code: number; output: string }

async function exec(file: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }): Promise<Outcome> {
  try {
    const { stdout, stderr } = await run(file, args, { ...options, maxBuffer: 64 << 20 });
    return { code: 0, output: stdout + stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string; message: string };
    return { code: typeof err.code === "number" ? err.code : 1, output: `${err.stdout ?? ""}${err.stderr ?? ""}` || err.message };
  }
}

const why = unavailable();

describe("esp32 images (mcconfig -d -m -p esp32 hosts/moddable/products/<product>/manifest.json, up to ESP-IDF)", function () {
  this.timeout(BUILD_TIMEOUT_MS);
  let env: NodeJS.ProcessEnv;
  let fakeIdf: string;

  before(function () {
    if (why) {
      console.log(`      esp32 builds skipped: ${why}`);
      this.skip();
    }
    const sdk = process.env.MODDABLE as string;
    const { IDF_PATH: _unset, ...rest } = process.env;
    // mcconfig runs tsc from PATH: use this repo's TypeScript.
    env = { ...rest, PATH: `${path.join(REPO, "node_modules/.bin")}:${path.join(sdk, "build/bin/lin/release")}:${process.env.PATH}` };
    fakeIdf = fs.mkdtempSync(path.join(os.tmpdir(), "not-esp-idf-"));
    execFileSync("git", ["init", "-q", fakeIdf]);
    execFileSync("git", ["-C", fakeIdf, "-c", "user.name=test", "-c", "user.email=test@invalid", "commit", "-q", "--allow-empty", "-m", "stand-in"]);
  });
  after(() => {
    if (fakeIdf) fs.rmSync(fakeIdf, { recursive: true, force: true });
  });

  for (const product of PRODUCTS) {
    it(`${product}: only the product, its drivers, the board's buses and the platform; TypeScript, xsc, resources and xsl pass; the build stops at ESP-IDF`, async () => {
      const out = fs.mkdtempSync(path.join(os.tmpdir(), `esp32-${product}-`));
      try {
        const config = await exec("mcconfig", ["-d", "-m", "-p", "esp32", "-o", out, productManifest(product)], { cwd: REPO, env });
        // With no certificates in certs/ (a build for mqtt://), its wildcard matches nothing: that warning is expected.
        const errors = config.output.split("\n").filter((l) => /error|warning/i.test(l) && !/^# warning: no resources match: \S*\/certs\/\*!$/.test(l));
        assert.deepEqual(errors, ["### Error: $IDF_PATH not set. See set-up instructions at https://github.com/Moddable-OpenSource/moddable/blob/public/documentation/devices/esp32.md"],
          `mcconfig should stop at the missing ESP-IDF and nothing else:\n${config.output}`);
        assert.notEqual(config.code, 0);

        // mcconfig names the build after the manifest's folder: the product.
        const tmp = path.join(out, "tmp/esp32/debug", product);
        const makefile = fs.readFileSync(path.join(tmp, "makefile"), "utf8");
        const entry = `hosts/moddable/products/${product}/board`;
        assert.match(makefile, new RegExp(`^CREATION = .*,${entry},`, "m"), "the image's main is the product on its board");

        const modules = imageModules(makefile);
        const ours = new Map<string, string>();
        for (const [name, source] of modules) {
          const file = repoSource(source);
          if (file !== undefined) ours.set(name, file);
        }
        // Every repository module runs under its own path as name, so relative imports resolve.
        for (const [name, file] of ours) assert.equal(file, name, `module ${name} is built from ${file}`);
        const names = [...ours.keys()];
        const needed = importClosure(`${entry}.ts`);
        const missing = [...needed].filter((m) => !ours.has(m));
        assert.deepEqual(missing, [], `modules the entry imports but the image lacks: ${missing.join(", ")}`);
        // The product's and drivers' modules are exactly what the entry loads: its drivers and no one else's.
        for (const folder of ["modules/products/", "modules/drivers/", "hosts/moddable/"]) {
          assert.deepEqual(names.filter((n) => n.startsWith(folder)).sort(), [...needed].filter((n) => n.startsWith(folder)).sort(), `${folder} in the image`);
        }
        assert.ok(names.some((n) => n.startsWith("modules/drivers/")), "the product's drivers are in");
        assert.deepEqual(names.filter((n) => /^(modules\/emulators|tests|modules\/apps)\//.test(n) || /\/(simulation|emulated|simulator)$/.test(n)), [], "no emulator, simulation, test or platform app");
        assert.deepEqual(names.filter((n) => n.startsWith("modules/products/") && !n.startsWith(`modules/products/${product}/`)), [], "no other product");
        assert.ok(!names.includes(`modules/products/${product}/index`), "not the companion's part (index.ts)");
        // The board's real classes: the SDK's host provider and, per kind, BLEClient or deep sleep.
        assert.ok(modules.has("~.embedded/provider/builtin"), "embedded:provider/builtin (device.io) is in");
        assert.equal(modules.has("bleclient"), product === "battery-hawk", "BLEClient only where the board has a ble bus");
        assert.equal(ours.has("hosts/moddable/esp32/deepsleep"), product === "esp-sensors", "deep sleep only where the board has a sleep bus");
        // certs/ holds certificates only: its documentation lives in the README, and dotfiles
        // (certs/.gitignore) are skipped, so nothing from it is embedded in this build.
        const fromCerts = [...makefile.matchAll(/^\$\(RESOURCES_DIR\)\/\S+: (\S+)$/gm)].map((m) => m[1]).filter((source) => source.startsWith(path.join(REPO, "certs") + "/"));
        assert.deepEqual(fromCerts.filter((source) => !/\.(der|pem|crt|key)$/.test(source)), [], `non-certificate resources from certs/: ${fromCerts.join(", ")}`);

        const js = await exec("make", ["-f", "makefile", `IDF_PATH=${fakeIdf}`, "SDKCONFIG_H=", path.join(tmp, "mc.xs.c"), path.join(tmp, "mc.resources.c")], { cwd: tmp, env });
        assert.equal(js.code, 0, `the JavaScript half of the esp32 build failed:\n${js.output}`);
        assert.doesNotMatch(js.output, /^### Error|error TS\d+|: error:/m, js.output);
        assert.ok(fs.existsSync(path.join(tmp, "mc.xs.c")) && fs.existsSync(path.join(tmp, "mc.resources.c")));
      } finally {
        fs.rmSync(out, { recursive: true, force: true });
      }
    });
  }
});
