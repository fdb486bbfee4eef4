// The worked example of modules/products/README.md, tested the way every product is: on the
// kit (the real client, a scripted broker, a fake clock), every message it publishes checked
// against its table and schemas.

import assert from "node:assert/strict";
import { Kit } from "../kit/index.js";
import { ProductSchemas } from "../products/harness.js";
import { definition } from "../example-product/index.js";
import { simulate } from "../../modules/device/product.js";
import { createThermostat } from "../example-product/product.js";
import type { ThermostatHardware } from "../example-product/hardware.js";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const schemas = new ProductSchemas(path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../tests/example-product"));

class ScriptedRoom implements ThermostatHardware {
  celsius = 18;
  heater: boolean[] = [];
  temperature(): number {
    return this.celsius;
  }
  heat(on: boolean): void {
    this.heater.push(on);
  }
}

function check(ok: boolean, message: string): void {
  assert.ok(ok, message);
}

function checkAll(kit: Kit): void {
  for (const m of kit.broker.published) {
    const problem = schemas.check({ topic: m.topic, payload: new TextEncoder().encode(m.text), qos: m.qos, retain: m.retain });
    assert.equal(problem, undefined, problem);
  }
}

describe("worked example product: thermostat", () => {
  it("announces itself retained, reports on schedule and heats towards its set point", async () => {
    const kit = new Kit({ deviceId: "t001", config: { interval: "60" } });
    const room = new ScriptedRoom();
    createThermostat(kit.device, room).start();
    await kit.run(180_000, 10_000);
    assert.deepEqual(kit.broker.retained.get("thermostat/t001/status")?.json, { state: "online", set_point: 20 });
    assert.deepEqual(kit.broker.payloads("thermostat/t001/telemetry").map((t) => t.heating), [true, true, true]);
    assert.equal(room.heater.at(-1), true);
    checkAll(kit);
  });

  it("takes a set point command, refuses an out-of-range one with the schema's reason, and its will marks it offline", async () => {
    const kit = new Kit({ deviceId: "t001" });
    const room = new ScriptedRoom();
    createThermostat(kit.device, room).start();
    await kit.settle();
    kit.broker.deliver("thermostat/t001/command", { id: "a", command: "set_point", celsius: 16 });
    kit.broker.deliver("thermostat/t001/command", { id: "b", command: "set_point", celsius: 40 });
    await kit.settle();
    const [ok, refused] = kit.broker.payloads("thermostat/t001/response");
    assert.deepEqual(ok, { id: "a", ok: true, set_point: 16 });
    assert.match(refused.error, /^invalid_parameters: celsius/);
    assert.equal(room.heater.at(-1), false, "18 °C is above the new set point");
    kit.broker.cut();
    assert.deepEqual(kit.broker.retained.get("thermostat/t001/status")?.json, { state: "offline" });
    checkAll(kit);
  });

  it("runs its drivers on the emulated room: the heater warms it towards the set point", async () => {
    const kit = new Kit({ deviceId: "t001", config: { interval: "600" } });
    simulate(definition, kit.device).product.start();
    await kit.run(4 * 3_600_000, 60_000);
    const readings = kit.broker.payloads("thermostat/t001/telemetry");
    check(readings.length >= 20, "a reading every 10 minutes");
    const last = readings.at(-1);
    check(last.temperature > 18.5 && last.temperature < 21.5, `holds near 20 °C: ${last.temperature}`);
    check(readings.some((r) => r.heating) && readings.some((r) => !r.heating), "switches the heater both ways");
    checkAll(kit);
  });

  it("refuses an unknown option, and accepts the alias", () => {
    const kit = new Kit({ deviceId: "t001", config: { intervall: "5" } });
    assert.throws(() => simulate(definition, kit.device).product, /unknown option "intervall"/);
    const aliased = new Kit({ deviceId: "t001", config: { target: "22" } });
    assert.doesNotThrow(() => simulate(definition, aliased.device).product);
  });
});
