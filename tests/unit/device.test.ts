// The device layer's pure parts: command dispatch, topic templates, atomic settings and
// the re-schedulable periodic task (on a fake clock).

import { strict as assert } from "node:assert";
import { CommandDispatcher } from "../../modules/device/commands.js";
import type { JsonObject } from "../../modules/device/commands.js";
import { resolveTable } from "../../modules/device/topics.js";
import { Settings, MemorySettingsStore } from "../../modules/device/settings.js";
import { Periodic } from "../../modules/device/scheduler.js";
import { FakeClock, bytes } from "./fakes.js";

function dispatcher(): { d: CommandDispatcher; ran: JsonObject[] } {
  const ran: JsonObject[] = [];
  const d = new CommandDispatcher({ idField: "command_id", nameField: "command" })
    .register("set_pump", {
      validate: (v) => {
        const p = (v as { parameters?: { state?: unknown } }).parameters;
        return p?.state === "on" || p?.state === "off" ? undefined : "parameters.state must be \"on\" or \"off\"";
      },
      run: (r) => {
        ran.push(r);
        return { pump_state: (r.parameters as JsonObject).state };
      },
    })
    .register("reboot", { run: async () => { await Promise.resolve(); } })
    .register("explode", { run: () => { throw new Error("pump driver not responding"); } });
  return { d, ran };
}

describe("device: command dispatch", () => {
  it("dispatchAs runs the command a topic names, with the same outcomes", async () => {
    const { d, ran } = dispatcher();
    const ok = await d.dispatchAs("set_pump", bytes('{"command_id":"t1","parameters":{"state":"off"}}'));
    assert.deepEqual([ok.ok, ok.id, ok.command, ok.result], [true, "t1", "set_pump", { pump_state: "off" }]);
    assert.equal(ran.length, 1);
    const bad = await d.dispatchAs("set_pump", bytes('{"command_id":"t2","command":"reboot","parameters":{"state":"up"}}'));
    assert.deepEqual([bad.ok, bad.command, bad.error?.code], [false, "set_pump", "invalid_parameters"]);
    const garbled = await d.dispatchAs("set_pump", bytes("{nope"));
    assert.deepEqual([garbled.command, garbled.error?.code], ["set_pump", "malformed_json"]);
    assert.equal((await d.dispatchAs("launch", bytes('{"command_id":"t3"}'))).error?.code, "unknown_command");
    assert.equal(ran.length, 1);
  });

  it("runs a valid command and echoes its id with the result", async () => {
    const { d, ran } = dispatcher();
    const out = await d.dispatch(bytes('{"command_id":"c1","command":"set_pump","parameters":{"state":"on"}}'));
    assert.deepEqual({ ...out, request: undefined }, { id: "c1", command: "set_pump", ok: true, result: { pump_state: "on" }, request: undefined });
    assert.equal(ran.length, 1);
  });

  it("awaits async handlers and omits an empty result", async () => {
    const { d } = dispatcher();
    const out = await d.dispatch(bytes('{"command_id":7,"command":"reboot"}'));
    assert.equal(out.ok, true);
    assert.equal(out.id, "7");
    assert.equal("result" in out, false);
  });

  const bad: [string, string | Uint8Array, string, string | null][] = [
    ["malformed JSON", "{not json", "malformed_json", null],
    ["invalid UTF-8", new Uint8Array([0x7b, 0xff, 0x7d]), "malformed_json", null],
    ["a JSON array", "[1,2]", "invalid_request", null],
    ["a JSON string", "\"set_pump\"", "invalid_request", null],
    ["no command name", '{"command_id":"c2"}', "unknown_command", "c2"],
    ["an unknown command", '{"command_id":"c3","command":"launch"}', "unknown_command", "c3"],
    ["an out-of-range parameter", '{"command_id":"c4","command":"set_pump","parameters":{"state":"sideways"}}', "invalid_parameters", "c4"],
    ["a handler that throws", '{"command_id":"c5","command":"explode"}', "failed", "c5"],
  ];
  for (const [what, payload, code, id] of bad) {
    it(`answers ${what} with ${code} and runs nothing`, async () => {
      const { d, ran } = dispatcher();
      const out = await d.dispatch(typeof payload === "string" ? bytes(payload) : payload);
      assert.equal(out.ok, false);
      assert.equal(out.error?.code, code);
      assert.ok(out.error?.message.length, "an error says why");
      assert.equal(out.id, id);
      assert.equal(ran.length, 0);
    });
  }

  it("checks the envelope before looking the command up", async () => {
    const d = new CommandDispatcher({
      idField: "request_id", nameField: "command",
      validateEnvelope: (v) => (typeof (v as JsonObject).request_id === "string" ? undefined : "request_id is required"),
    }).register("set_mode", { run: () => {} });
    const out = await d.dispatch(bytes('{"command":"set_mode"}'));
    assert.deepEqual(out.error, { code: "invalid_request", message: "request_id is required" });
  });
});

describe("device: topic levels from a table", () => {
  const TABLE = { status: { topic: "devices/{id}/status", qos: 1, retain: true, direction: "publish" } } as const;
  it("fills every placeholder", () => {
    assert.equal(resolveTable(TABLE, {}, { id: "esp32-001" }).status.topic, "devices/esp32-001/status");
  });
  for (const value of ["", "a/b", "+", "#", "a\u0000"]) {
    it(`refuses ${JSON.stringify(value)} as a topic level`, () => {
      assert.throws(() => resolveTable(TABLE, {}, { id: value }), RangeError);
    });
  }
});

describe("device: settings", () => {
  type Config = { telemetry_interval: number; mqtt_keepalive: number };
  const validate = (v: unknown): string | undefined => {
    const c = v as Config;
    if (!Number.isInteger(c.telemetry_interval) || c.telemetry_interval < 1 || c.telemetry_interval > 3600) return "telemetry_interval must be 1..3600";
    if (!Number.isInteger(c.mqtt_keepalive) || c.mqtt_keepalive < 10) return "mqtt_keepalive must be >= 10";
    return undefined;
  };
  const defaults: Config = { telemetry_interval: 60, mqtt_keepalive: 60 };

  it("applies a valid patch, persists it, and reports what changed", () => {
    const store = new MemorySettingsStore();
    const s = new Settings(store, "cfg", defaults, validate);
    const seen: string[][] = [];
    s.onChange((_v, changed) => seen.push(changed as string[]));
    const r = s.update({ telemetry_interval: 30 });
    assert.deepEqual(r, { ok: true, value: { telemetry_interval: 30, mqtt_keepalive: 60 }, changed: ["telemetry_interval"] });
    assert.deepEqual(seen, [["telemetry_interval"]]);
    assert.deepEqual(new Settings(store, "cfg", defaults, validate).value, { telemetry_interval: 30, mqtt_keepalive: 60 });
  });

  it("rejects a patch with any invalid value and changes nothing", () => {
    const store = new MemorySettingsStore();
    const s = new Settings(store, "cfg", defaults, validate);
    const r = s.update({ telemetry_interval: 30, mqtt_keepalive: 2 });
    assert.deepEqual(r, { ok: false, error: "mqtt_keepalive must be >= 10" });
    assert.deepEqual(s.value, defaults);
    assert.equal(store.values.size, 0);
  });

  it("does not apply what it could not persist", () => {
    const store = new MemorySettingsStore();
    store.set = () => { throw new Error("flash full"); };
    const s = new Settings(store, "cfg", defaults, validate);
    const r = s.update({ telemetry_interval: 5 });
    assert.equal(r.ok, false);
    assert.deepEqual(s.value, defaults);
  });

  it("falls back to the defaults when the stored value is invalid or unreadable", () => {
    const store = new MemorySettingsStore();
    store.set("cfg", { telemetry_interval: -1, mqtt_keepalive: 60 });
    assert.deepEqual(new Settings(store, "cfg", defaults, validate).value, defaults);
    store.values.set("cfg", "{corrupt");
    assert.deepEqual(new Settings(store, "cfg", defaults, validate).value, defaults);
  });

  it("refuses a non-object patch", () => {
    const s = new Settings(new MemorySettingsStore(), "cfg", defaults, validate);
    assert.equal(s.update([] as unknown as Partial<Config>).ok, false);
  });
});

describe("device: periodic task", () => {
  it("runs every interval, and a new interval takes effect at once", () => {
    const clock = new FakeClock();
    const runs: number[] = [];
    const p = new Periodic(clock.timer, 5_000, () => runs.push(clock.now));
    p.start();
    clock.advance(12_000);
    assert.deepEqual(runs, [5_000, 10_000]);
    p.setInterval(1_000);
    clock.advance(2_500);
    assert.deepEqual(runs, [5_000, 10_000, 13_000, 14_000]);
    p.stop();
    clock.advance(10_000);
    assert.equal(runs.length, 4);
  });

  it("keeps its schedule when the task throws", () => {
    const clock = new FakeClock();
    let n = 0;
    const p = new Periodic(clock.timer, 1_000, () => { n++; throw new Error("sensor"); });
    p.start();
    assert.throws(() => clock.advance(1_000), /sensor/);
    assert.throws(() => clock.advance(1_000), /sensor/);
    assert.equal(n, 2);
  });

  it("refuses intervals below 100 ms", () => {
    const clock = new FakeClock();
    assert.throws(() => new Periodic(clock.timer, 50, () => {}), RangeError);
    const p = new Periodic(clock.timer, 1_000, () => {});
    assert.throws(() => p.setInterval(0), RangeError);
    assert.equal(p.intervalMs, 1_000);
  });
});
