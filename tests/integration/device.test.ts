// The device layer against real brokers: retained online status, the will marking the
// device offline on an abrupt loss, and commands answered (or refused) on the response topic.

import assert from "node:assert/strict";
import { startAedes } from "../harness/aedes.js";
import { Mosquitto } from "../harness/mosquitto.js";
import { Device, willFor } from "../../modules/device/device.js";
import type { StatusOptions } from "../../modules/device/device.js";
import { CommandDispatcher } from "../../modules/device/commands.js";
import { client, closeAll, Inbox } from "./util.js";

const brokers: [string, () => Promise<{ port: number; stop(): Promise<void> }>][] = [
  ["aedes", async () => { const a = await startAedes(); return { port: a.port, stop: () => a.close() }; }],
  ["mosquitto", async () => { const m = await Mosquitto.start(); return { port: m.port, stop: () => m.dispose() }; }],
];

for (const [name, start] of brokers) {
  describe(`device layer on ${name}`, () => {
    let broker: { port: number; stop(): Promise<void> };
    before(async () => { broker = await start(); });
    after(async () => { await closeAll(); await broker.stop(); });

    function device(id: string, reports: string[] = [], gate?: Promise<void>): Device {
      const status: StatusOptions = { topic: `d/${id}/status`, qos: 1, online: () => ({ state: "online" }), offline: { state: "offline" } };
      const dispatcher = new CommandDispatcher({ idField: "id", nameField: "command" })
        .register("echo", { run: (r) => ({ said: r.text ?? null }) })
        .register("slow", { run: async (r) => { await gate; return { n: r.n ?? null }; } });
      const c = client(broker.port, { will: willFor(status), keepalive: 30 });
      return new Device(c, {
        status,
        commands: {
          topic: `d/${id}/cmd`,
          qos: 1,
          dispatcher,
          maxPending: 8,
          respond: (o) => ({
            topic: `d/${id}/response`, qos: 1, retain: false,
            payload: { id: o.id, success: o.ok, response: o.result ?? null, error: o.error ? `${o.error.code}: ${o.error.message}` : null },
          }),
        },
        report: (e) => reports.push(`${e.kind} ${e.detail}`),
      });
    }

    it("publishes a retained online status on connect and the will marks it offline", async () => {
      const dev = device("s1");
      await dev.client.connect();
      const watcher = client(broker.port);
      await watcher.connect();
      const inbox = new Inbox(watcher);
      await watcher.subscribe("d/s1/status", { qos: 1 });
      await inbox.waitFor(1);
      assert.deepEqual(JSON.parse(inbox.texts()[0]), { state: "online" });
      assert.equal(inbox.messages[0].retain, true);
      dev.client.abort();
      await inbox.waitFor(2);
      assert.deepEqual(JSON.parse(inbox.texts()[1]), { state: "offline" });
    });

    it("answers commands and every malformed one, and keeps running", async () => {
      const reports: string[] = [];
      const dev = device("c1", reports);
      await dev.client.connect();
      const backend = client(broker.port);
      await backend.connect();
      const responses = new Inbox(backend);
      await backend.subscribe("d/c1/response", { qos: 1 });
      for (const payload of ['{"id":"1","command":"echo","text":"hi"}', "{oops", '{"id":"3","command":"fly"}', "42", '{"id":"5","command":"echo"}']) {
        await backend.publish("d/c1/cmd", payload, { qos: 1 });
      }
      await responses.waitFor(5);
      assert.deepEqual(responses.texts().map((t) => JSON.parse(t)), [
        { id: "1", success: true, response: { said: "hi" }, error: null },
        { id: null, success: false, response: null, error: responses.texts().map((t) => JSON.parse(t))[1].error },
        { id: "3", success: false, response: null, error: 'unknown_command: unknown command "fly"' },
        { id: null, success: false, response: null, error: "invalid_request: payload must be a JSON object" },
        { id: "5", success: true, response: { said: null }, error: null },
      ]);
      assert.match(JSON.parse(responses.texts()[1]).error, /^malformed_json: payload is not JSON/);
      assert.equal(reports.filter((r) => r.startsWith("command_rejected")).length, 3);
      assert.equal(dev.client.connected, true);
    });

    it("answers a flood behind a slow command with busy errors instead of queueing without bound", async () => {
      let open!: () => void;
      const gate = new Promise<void>((resolve) => { open = resolve; });
      const dev = device("b1", [], gate);
      await dev.client.connect();
      const backend = client(broker.port);
      await backend.connect();
      const responses = new Inbox(backend);
      await backend.subscribe("d/b1/response", { qos: 1 });
      for (let n = 1; n <= 12; n++) await backend.publish("d/b1/cmd", JSON.stringify({ id: `s${n}`, command: "slow", n }), { qos: 1 });
      await responses.waitFor(4);
      assert.deepEqual(responses.texts().map((t) => JSON.parse(t)).map((r) => [r.id, r.error]),
        [9, 10, 11, 12].map((n) => [`s${n}`, "failed: device busy: 8 commands pending"]));
      open();
      await responses.waitFor(12);
      assert.deepEqual(responses.texts().slice(4).map((t) => JSON.parse(t)).map((r) => [r.id, r.success]),
        [1, 2, 3, 4, 5, 6, 7, 8].map((n) => [`s${n}`, true]));
    });
  });
}

describe("device layer: a command topic the broker refuses", () => {
  it("reports the device deaf, then heard again once the broker allows it, and runs the command", async () => {
    let allow = false;
    const aedes = await startAedes({ authorizeSubscribe: (_c, sub, done) => done(null, allow ? sub : null) });
    try {
      const reports: string[] = [];
      let reported!: () => void;
      const restored = new Promise<void>((resolve) => { reported = resolve; });
      const status: StatusOptions = { topic: "d/r1/status", qos: 1, online: () => ({ state: "online" }), offline: { state: "offline" } };
      const c = client(aedes.port, { resubscribe: { initialMs: 20, maxMs: 100 } });
      const dev = new Device(c, {
        status,
        commands: {
          topic: "d/r1/cmd", qos: 1,
          dispatcher: new CommandDispatcher({ idField: "id", nameField: "command" }).register("echo", { run: () => ({ ok: 1 }) }),
          respond: (o) => ({ topic: "d/r1/response", qos: 1, retain: false, payload: { id: o.id, success: o.ok } }),
        },
        report: (e) => {
          reports.push(e.kind);
          if (e.kind === "subscribe_restored") reported();
        },
      });
      const refused = new Promise<void>((resolve) => c.on("suback", (e) => { if (e.code === 128) resolve(); }));
      await c.connect();
      await refused;
      assert.deepEqual([...dev.refusedFilters], ["d/r1/cmd"]);
      allow = true;
      await restored;
      assert.equal(reports[0], "subscribe_refused");
      assert.equal(reports.at(-1), "subscribe_restored");
      assert.equal(dev.refusedFilters.size, 0);
      const backend = client(aedes.port);
      await backend.connect();
      const responses = new Inbox(backend);
      await backend.subscribe("d/r1/response", { qos: 1 });
      await backend.publish("d/r1/cmd", '{"id":"x1","command":"echo"}', { qos: 1 });
      await responses.waitFor(1);
      assert.deepEqual(JSON.parse(responses.texts()[0]), { id: "x1", success: true });
    } finally {
      await closeAll();
      await aedes.close();
    }
  });
});
