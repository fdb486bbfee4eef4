// `npm start` as a user runs it: the built simulator process with its embedded aedes broker.
// Within 10 s of launch every product must be connected and have published, and the
// companion (`npm run cmd`) must get a response from a device of each product.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { products } from "../../modules/products/index.js";

import { CMD, MAIN, Output, run } from "./sim-process.js";

describe("npm start: the desktop simulator", function () {
  this.timeout(60_000);
  let child: ChildProcess;
  let output: Output;
  let cwd: string;
  let started: number;

  before(() => {
    cwd = fs.mkdtempSync(path.join(os.tmpdir(), "sim-"));
    started = Date.now();
    child = spawn(process.execPath, [MAIN, "--port", "0", "--no-web", "--duration", "120"], { cwd, stdio: ["ignore", "pipe", "inherit"] });
    output = new Output(child);
  });

  after(async () => {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGINT");
      await exited;
    }
    fs.rmSync(cwd, { recursive: true, force: true });
  });

  it("shows every product connected and publishing within 10 s", async () => {
    await Promise.all(products.map(async (p) => {
      const label = `${p.name}/${p.deviceId(0)}`;
      await output.waitFor((l) => l.includes(` ${label} connected`), 10_000 - (Date.now() - started), `${label} connected`);
      await output.waitFor((l) => l.includes(` ${label} > `), 10_000 - (Date.now() - started), `a message published by ${label}`);
    }));
    assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
  });

  for (const p of products) {
    it(`the companion gets a response from ${p.name}`, async () => {
      const { command, params } = p.example;
      const pairs = Object.entries(params).map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`);
      const result = await run(CMD, [p.name, p.deviceId(0), command, ...pairs], cwd);
      assert.equal(result.code, 0, `cmd ${p.name} ${command} exited ${result.code}: ${result.stdout}${result.stderr}`);
      assert.match(result.stdout, /^< /m, result.stdout);
      // The simulator saw the command reach the device.
      assert.ok(output.lines.some((l) => l.includes(`${p.name}/${p.deviceId(0)} < `)), `no command shown for ${p.name}`);
    });
  }

  it("the companion explains a bad command without sending it", async () => {
    const result = await run(CMD, ["dese", "esp32-001", "no_such_command"], cwd);
    assert.equal(result.code, 2, result.stdout + result.stderr);
    assert.match(result.stderr, /no_such_command|unknown/i);
  });
});

describe("npm start --count 3: many devices per broker", function () {
  this.timeout(90_000);
  let child: ChildProcess;
  let output: Output;
  let cwd: string;
  let url = "";

  before(async () => {
    cwd = fs.mkdtempSync(path.join(os.tmpdir(), "sim3-"));
    child = spawn(process.execPath, [MAIN, "--port", "0", "--no-web", "--count", "3", "--duration", "120"], { cwd, stdio: ["ignore", "pipe", "inherit"] });
    output = new Output(child);
    await output.waitFor((l) => l.startsWith("broker mqtt://"), 10_000, "the broker line");
    url = output.lines.find((l) => l.startsWith("broker mqtt://"))!.split(" ")[1];
  });

  after(async () => {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGINT");
      await exited;
    }
    fs.rmSync(cwd, { recursive: true, force: true });
  });

  it("runs 15 devices, each connected and publishing under its own label", async () => {
    for (const p of products) {
      for (let i = 0; i < 3; i++) {
        const label = `${p.name}/${p.deviceId(i)}`;
        await output.waitFor((l) => l.includes(` ${label} connected`), 20_000, `${label} connected`);
        await output.waitFor((l) => l.includes(` ${label} > `), 20_000, `a message published by ${label}`);
      }
    }
  });

  it("each device's retained state is its own: no retained topic is shared, and every retaining product has it per device", async () => {
    const session = JSON.parse(fs.readFileSync(path.join(cwd, ".state/session.json"), "utf8")) as { devices: Record<string, Record<string, Record<string, string>>> };
    const { createNodeClient } = await import("../../hosts/node/client.js");
    const u = new URL(url);
    const watcher = createNodeClient({ host: u.hostname, port: Number(u.port), clientId: `retained-${process.pid}`, reconnect: false });
    const retained = new Map<string, string>();
    await watcher.connect();
    await watcher.subscribe("#", { qos: 1 }, (m) => { if (m.retain) retained.set(m.topic, new TextDecoder().decode(m.payload)); });
    await new Promise((resolve) => setTimeout(resolve, 1_000)); // the broker sends its retained messages on subscribe
    await watcher.disconnect();
    const { topicMatches } = await import("../../modules/mqtt/topic.js");
    const owners = new Map<string, string[]>();
    for (const p of products) {
      const ids = Object.keys(session.devices[p.name]);
      assert.equal(ids.length, 3, `${p.name} devices in session.json`);
      for (const id of ids) {
        const filter = p.topicFilter(id, session.devices[p.name][id]);
        for (const topic of retained.keys()) if (topicMatches(filter, topic)) owners.set(topic, [...(owners.get(topic) ?? []), `${p.name}/${id}`]);
      }
    }
    const shared = [...owners].filter(([, who]) => who.length > 1);
    assert.deepEqual(shared, [], "retained topics claimed by more than one device");
    for (const p of ["bess", "battery-hawk", "dese"]) {
      for (const id of Object.keys(session.devices[p])) {
        assert.ok([...owners.values()].some((who) => who.includes(`${p}/${id}`)), `${p}/${id} has no retained state of its own; retained: ${[...retained.keys()].join(", ")}`);
      }
    }
  });

  it("the companion commands the second device of a product, and refuses a device that is not running", async () => {
    const bess = products.find((p) => p.name === "bess")!;
    const pairs = Object.entries(bess.example.params).map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`);
    const ok = await run(CMD, ["bess", bess.deviceId(1), bess.example.command, ...pairs], cwd);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.ok(output.lines.some((l) => l.includes(`bess/${bess.deviceId(1)} < `)), "the command reached the second controller");
    const hawk = products.find((p) => p.name === "battery-hawk")!;
    const refused = await run(CMD, ["battery-hawk", "hawk-gw-999", hawk.example.command], cwd);
    assert.equal(refused.code, 2, refused.stdout + refused.stderr);
    assert.match(refused.stderr, /no battery-hawk device "hawk-gw-999" is running; running: /);
  });
});

describe("npm start with a setting the product does not know", function () {
  this.timeout(30_000);
  it("stops with the product's options and writes no session", async () => {
    const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "simbad-"));
    try {
      const result = await run(MAIN, ["--port", "0", "--no-web", "--products", "dese", "--set", "dese.orgg=org-1"], cwd);
      assert.equal(result.code, 2, result.stdout + result.stderr);
      assert.match(result.stderr, /unknown option "orgg"/);
      assert.equal(fs.existsSync(path.join(cwd, ".state/session.json")), false);
    } finally {
      fs.rmSync(cwd, { recursive: true, force: true });
    }
  });
});
