// Moddable preloads modules into ROM and freezes the intrinsics; assigning a property that
// a frozen prototype defines then throws ("override mistake"). The simulator caught
// MqttError doing this; this checks the same under Node with frozen intrinsics.

import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

describe("frozen intrinsics (as XS preloading leaves them)", () => {
  it("creates and throws MqttError when Error.prototype is frozen", () => {
    const errors = fileURLToPath(new URL("../../modules/mqtt/errors.js", import.meta.url));
    const script = `
      for (const C of [Object, Error, TypeError, RangeError, Array, Promise, Uint8Array, Map, Set]) {
        Object.freeze(C.prototype);
        Object.freeze(C);
      }
      const { MqttError } = await import(${JSON.stringify(errors)});
      const e = new MqttError("CLOSED", "x", "MQTT-1", new Error("cause"));
      console.log(e.name, e.code, e.clause, e.message, e instanceof Error);
    `;
    const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
    assert.equal(out.trim(), "MqttError CLOSED MQTT-1 x [MQTT-1] true");
  });
});
