// Firmware code (everything outside hosts/node and tests/) must compile against the ES
// library and @moddable/typings alone, so a Node API there is a compile error.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const tsc = path.join(root, "node_modules/typescript/bin/tsc");

function typeCheck(project: string): { status: number | null; output: string } {
  const r = spawnSync(process.execPath, [tsc, "-p", project], { cwd: root, encoding: "utf8" });
  return { status: r.status, output: r.stdout + r.stderr };
}

describe("firmware portability", function () {
  this.timeout(60_000);

  it("modules/ type-check against the ES library and @moddable/typings only", () => {
    const r = typeCheck(path.join(root, "tsconfig.firmware.json"));
    assert.equal(r.status, 0, r.output);
  });

  it("the same check fails for a module that uses Node APIs", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "portability-"));
    try {
      const planted = path.join(dir, "uses-node.ts");
      fs.writeFileSync(planted, [
        'import { readFileSync } from "node:fs";',
        "export const a = Buffer.from(readFileSync(\"x\"));",
        "export const b = process.env.HOME;",
        "export const c = setTimeout(() => {}, 1);",
      ].join("\n"));
      const config = path.join(dir, "tsconfig.json");
      fs.writeFileSync(config, JSON.stringify({
        extends: path.join(root, "tsconfig.firmware.json"),
        include: [path.join(root, "node_modules/@moddable/typings/**/*.d.ts"), planted],
      }));
      const r = typeCheck(config);
      assert.notEqual(r.status, 0);
      for (const name of ["node:fs", "Buffer", "process", "setTimeout"]) {
        assert.match(r.output, new RegExp(`uses-node\\.ts.*${name}`), `${name} not caught:\n${r.output}`);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
