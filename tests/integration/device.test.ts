// The device runtime against real brokers: retained online status, the will marking the
// device offline on an abrupt loss, and commands answered (or refused) on the response topic.

import assert from "node:assert/strict";
import { startAedes } from "../harness/aedes.js";
import { Mosquitto } from "../harness/mosquitto.js";
import { Device } from "../../modules/device/device.js";
import type { ClientChoices, CommandRoute, StatusOptions } from "../../modules/device/device.js";
import { MemorySettingsStore } from "../../modules/device/settings.js";
import { nodeTimer } from "../../hosts/node/timer.js";
import type { NodeClientOptions } from "../../hosts/node/client.js";
import { CommandDispatcher } from "../../modules/device/commands.js";
import { client, closeAll, Inbox } from "./util.js";

/** A Device on a Node platform whose clients are the tests' (closed by closeAll). */
function deviceOn(port: number, id: string, extra: Partial<NodeClientOptions> = {}, maxPending?: number): Device {
  return new Device({
    deviceId: id, config: {}, timer: nodeTimer, now: Date.now, settings: new MemorySettingsStore(), random: Math.random, log: () => {},
    createClient: (choices: ClientChoices) => client(port, { ...choices, ...extra }),
  }, { maxPending });
}

/** Resolves on the device's next connect. */
function connected(dev: Device): Promise<void> {
  return new Promise((resolve) => {
    const listener = (): void => { dev.off("connected", listener); resolve(); };
    dev.on("connected", listener);
  });
}

const brokers: [string, () => Promise<{ port: number; stop(): Promise<void> }>][] = [
  ["aedes", async () => { const a = await startAedes(); return { port: a.port, stop: () => a.close() }; }],
  ["mosquitto", async () => { const m = await Mosquitto.start(); return { port: m.port, stop: () => m.dispose() }; }],
];

for (const [name, start] of brokers) {
  describe(`device layer on ${name}`, () => {
    let broker: { port: number; stop(): Promise<void> };
    before(async () => { broker = await start(); });
    after(async () => { await closeAll(); await broker.stop(); });

    async function device(id: string, reports: string[] = [], gate?: Promise<void>): Promise<Device> {
      const status: StatusOptions = { topic: `d/${id}/status`, qos: 1, online: () => ({ state: "online" }), offline: () => ({ state: "offline" }) };
      const dispatcher = new CommandDispatcher({ idField: "id", nameField: "command" })
        .register("echo", { run: (r) => ({ said: r.text ?? null }) })
        .register("slow", { run: async (r) => { await gate; return { n: r.n ?? null }; } });
      const dev = deviceOn(broker.port, id, {}, 8);
      dev.on("report", (e) => reports.push(`${e.kind} ${e.detail}`));
      dev.route({
        topic: `d/${id}/cmd`,
        qos: 1,
        dispatcher,
        respond: (o) => ({
          topic: `d/${id}/response`, qos: 1, retain: false,
          payload: { id: o.id, success: o.ok, response: o.result ?? null, error: o.error ? `${o.error.code}: ${o.error.message}` : null },
        }),
      });
      const up = connected(dev);
      dev.connect({ clientId: `dev-${id}-${process.pid}`, clean: true, keepalive: 30, status });
      await up;
      return dev;
    }

    it("publishes a retained online status on connect and the will marks it offline", async () => {
      const dev = await device("s1");
      const watcher = client(broker.port);
      await watcher.connect();
      const inbox = new Inbox(watcher);
      await watcher.subscribe("d/s1/status", { qos: 1 });
      await inbox.waitFor(1);
      assert.deepEqual(JSON.parse(inbox.texts()[0]), { state: "online" });
      assert.equal(inbox.messages[0].retain, true);
      dev.abort();
      await inbox.waitFor(2);
      assert.deepEqual(JSON.parse(inbox.texts()[1]), { state: "offline" });
    });

    it("asks the will at every connect, so each loss reports that connection's state", async () => {
      let connects = 0;
      const dev = deviceOn(broker.port, "w1", { reconnect: { initialMs: 20, maxMs: 50 } });
      const status: StatusOptions = {
        topic: "d/w1/status", qos: 1,
        online: () => ({ state: "online", connect: connects }),
        offline: () => ({ state: "offline", connect: ++connects }),
      };
      const watcher = client(broker.port);
      await watcher.connect();
      const inbox = new Inbox(watcher);
      await watcher.subscribe("d/w1/status", { qos: 1 });
      let up = connected(dev);
      dev.connect({ clientId: `dev-w1-${process.pid}`, clean: true, keepalive: 30, status });
      await up;
      // An abrupt loss: a second client with the same id takes the session over and the broker
      // publishes the first connection's will; our client then reconnects with a fresh will.
      up = connected(dev);
      const thief = client(broker.port, { clientId: `dev-w1-${process.pid}`, reconnect: false });
      await thief.connect();
      await thief.disconnect();
      await up;
      const states = async (n: number) => { await inbox.waitFor(n); return inbox.texts().map((t) => JSON.parse(t)); };
      const seen = await states(3);
      assert.deepEqual(seen.slice(0, 3), [{ state: "online", connect: 1 }, { state: "offline", connect: 1 }, { state: "online", connect: 2 }]);
      await dev.disconnect();
    });

    it("answers commands and every malformed one, and keeps running", async () => {
      const reports: string[] = [];
      const dev = await device("c1", reports);
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
      assert.equal(dev.connected, true);
    });

    it("answers a flood behind a slow command with busy errors instead of queueing without bound", async () => {
      let open!: () => void;
      const gate = new Promise<void>((resolve) => { open = resolve; });
      await device("b1", [], gate);
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
      const status: StatusOptions = { topic: "d/r1/status", qos: 1, online: () => ({ state: "online" }), offline: () => ({ state: "offline" }) };
      const dev = deviceOn(aedes.port, "r1", { resubscribe: { initialMs: 20, maxMs: 100 } });
      const route: CommandRoute = {
        topic: "d/r1/cmd", qos: 1,
        dispatcher: new CommandDispatcher({ idField: "id", nameField: "command" }).register("echo", { run: () => ({ ok: 1 }) }),
        respond: (o) => ({ topic: "d/r1/response", qos: 1, retain: false, payload: { id: o.id, success: o.ok } }),
      };
      dev.route(route);
      const refused = new Promise<void>((resolve) => dev.on("report", (e) => {
        reports.push(e.kind);
        if (e.kind === "subscribe_refused") resolve();
        if (e.kind === "subscribe_restored") reported();
      }));
      dev.connect({ clientId: `dev-r1-${process.pid}`, clean: true, status });
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
