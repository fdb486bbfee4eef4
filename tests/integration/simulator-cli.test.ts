// `npm start` and `npm run cmd` as a user meets them when things go wrong: a broker that
// refuses, a second simulator on the same state folder, options without values, Ctrl-C
// through a pipe; and the terminal view's options (--full, --filter), arrows and retain
// flags on an external broker, and an outage told once.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { startAedes } from "../harness/aedes.js";
import type { AedesHandle } from "../harness/aedes.js";
import { freePort } from "../harness/mosquitto.js";
import { EmbeddedBroker } from "../../hosts/node/embedded-broker.js";
import { CMD, MAIN, Output, run } from "./sim-process.js";

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "simcli-"));
}

/** The simulator as a child process with its output. */
function simulator(args: string[], cwd: string): { child: ChildProcess; output: Output; exited: Promise<number> } {
  const child = spawn(process.execPath, [MAIN, "--no-web", ...args], { cwd, stdio: ["ignore", "pipe", "pipe"] });
  const output = new Output(child);
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (d: string) => { for (const line of d.split("\n")) if (line) output.lines.push(`stderr: ${line}`); });
  const exited = new Promise<number>((resolve) => child.once("exit", (code, signal) => resolve(code ?? (signal ? 128 : 0))));
  return { child, output, exited };
}

async function stopped(p: { child: ChildProcess; exited: Promise<number> }): Promise<number> {
  if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGINT");
  return p.exited;
}

describe("npm start when the broker is wrong", function () {
  this.timeout(30_000);

  it("shows a refusal within 2 s, with the reason and the backoff, and keeps retrying without a line per attempt", async () => {
    const cwd = tempDir();
    const port = await freePort(); // nothing listens there
    const started = Date.now();
    const sim = simulator(["--broker", `mqtt://127.0.0.1:${port}`, "--products", "dese", "--duration", "6"], cwd);
    try {
      await sim.output.waitFor((l) => /dese\/esp32-001 cannot connect: .*ECONNREFUSED.*retrying with backoff, next in [\d.]+ s/.test(l), 2_000, "the refusal");
      assert.ok(Date.now() - started < 2_000);
      assert.equal(await sim.exited, 0, "--duration holds while the broker refuses");
      const told = sim.output.lines.filter((l) => l.includes("cannot connect"));
      assert.equal(told.length, 1, `one line for the whole outage, not one per attempt:\n${told.join("\n")}`);
    } finally {
      await stopped(sim);
      fs.rmSync(cwd, { recursive: true, force: true });
    }
  });

  it("with --exit-on-error exits non-zero with the reason", async () => {
    const cwd = tempDir();
    const port = await freePort();
    const result = await run(MAIN, ["--no-web", "--broker", `mqtt://127.0.0.1:${port}`, "--products", "bess", "--exit-on-error"], cwd);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(result.stderr, /bess\/bess_controller_001 cannot connect to mqtt:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/);
    assert.equal(fs.existsSync(path.join(cwd, ".state/lock")), false, "the lock is released");
    fs.rmSync(cwd, { recursive: true, force: true });
  });

  it("reports a refused login (bad credentials) with the broker's reason", async () => {
    const aedes = await startAedes({ authenticate: (_c, _u, _p, done) => done(Object.assign(new Error("bad"), { returnCode: 4 }), false) });
    const cwd = tempDir();
    try {
      const result = await run(MAIN, ["--no-web", "--broker", `mqtt://u:p@127.0.0.1:${aedes.port}`, "--products", "dese", "--exit-on-error"], cwd);
      assert.equal(result.code, 1, result.stdout + result.stderr);
      assert.match(result.stderr, /cannot connect to .*: .*(bad user name or password|not authorized|refused)/i);
    } finally {
      await aedes.close();
      fs.rmSync(cwd, { recursive: true, force: true });
    }
  });
});

describe("npm start traps", function () {
  this.timeout(30_000);

  it("refuses a second simulator on the same state folder, and leaves the first one's session alone", async () => {
    const cwd = tempDir();
    const first = simulator(["--port", "0", "--products", "dese", "--duration", "20"], cwd);
    try {
      await first.output.waitFor((l) => l.includes("device(s) started"), 10_000, "the first simulator");
      const second = await run(MAIN, ["--no-web", "--port", "0", "--products", "dese"], cwd);
      assert.equal(second.code, 2, second.stdout + second.stderr);
      assert.match(second.stderr, /another simulator \(pid \d+\) is running on .*; stop it, or give this one its own folder with --state DIR/);
      assert.ok(fs.existsSync(path.join(cwd, ".state/session.json")), "the first simulator's session is still there");
    } finally {
      await stopped(first);
      fs.rmSync(cwd, { recursive: true, force: true });
    }
  });

  it("takes over a stale lock whose process is gone", async () => {
    const cwd = tempDir();
    fs.mkdirSync(path.join(cwd, ".state"));
    fs.writeFileSync(path.join(cwd, ".state/lock"), "999999999");
    const result = await run(MAIN, ["--no-web", "--port", "0", "--products", "dese", "--duration", "1"], cwd);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    fs.rmSync(cwd, { recursive: true, force: true });
  });

  it("an option without its value is an error, in npm start and in npm run cmd", async () => {
    const cwd = tempDir();
    for (const [file, args] of [[MAIN, ["--broker"]], [MAIN, ["--broker", "--quiet"]], [CMD, ["dese", "esp32-001", "reboot", "--broker"]]] as const) {
      const result = await run(file, [...args], cwd);
      assert.equal(result.code, 2, `${args.join(" ")}: ${result.stdout}${result.stderr}`);
      assert.match(result.stderr, /--broker needs a value/);
    }
    assert.equal(fs.existsSync(path.join(cwd, ".state")), false, "nothing written");
    fs.rmSync(cwd, { recursive: true, force: true });
  });

  it("a product's help lists each command once", async () => {
    const cwd = tempDir();
    for (const product of ["dese", "bess", "battery-hawk", "smart-meter", "esp-sensors"]) {
      const result = await run(CMD, [product, "--help"], cwd);
      assert.equal(result.code, 0, result.stderr);
      const lines = result.stdout.trim().split("\n").slice(1).map((l) => l.trim().split(/\s+/)[0]);
      assert.deepEqual(lines, [...new Set(lines)], `${product}: ${result.stdout}`);
    }
    fs.rmSync(cwd, { recursive: true, force: true });
  });

  it("--fresh forgets the state (unsent messages, backoff) and starts clean", async () => {
    const cwd = tempDir();
    fs.mkdirSync(path.join(cwd, ".state/esp-sensors"), { recursive: true });
    fs.writeFileSync(path.join(cwd, ".state/esp-sensors/dht22-001.settings.json"), "{\"esprc\":{\"attempt_count\":9}}");
    const result = await run(MAIN, ["--no-web", "--port", "0", "--products", "dese", "--fresh", "--duration", "1"], cwd);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(fs.existsSync(path.join(cwd, ".state/esp-sensors")), false);
    fs.rmSync(cwd, { recursive: true, force: true });
  });
});

describe("npm start on an external broker: the view and the goodbye", function () {
  this.timeout(40_000);
  let aedes: AedesHandle;
  const wills: string[] = [];

  before(async () => {
    aedes = await startAedes();
    // A publish without a client is the broker's: a will (the device left without DISCONNECT).
    aedes.broker.on("publish", (packet, client) => { if (!client && !packet.topic.startsWith("$SYS")) wills.push(packet.topic); });
  });
  after(() => aedes.close());

  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    it(`${signal}: every device says goodbye with DISCONNECT (no will published)`, async () => {
      const cwd = tempDir();
      wills.length = 0;
      const sim = simulator(["--broker", `mqtt://127.0.0.1:${aedes.port}`, "--products", "bess,battery-hawk,dese,smart-meter"], cwd);
      try {
        for (const name of ["bess", "battery-hawk", "dese", "smart-meter"]) await sim.output.waitFor((l) => new RegExp(`${name}/\\S+ connected$`).test(l), 15_000, `${name} connected`);
        sim.child.kill(signal);
        assert.equal(await sim.exited, 0);
        assert.deepEqual(wills, []);
        assert.equal(fs.existsSync(path.join(cwd, ".state/session.json")), false, "session removed");
      } finally {
        await stopped(sim);
        fs.rmSync(cwd, { recursive: true, force: true });
      }
    });
  }

  it("Ctrl-C through a pipe whose reader is gone (npm start | tee log): still DISCONNECTs, no will", async () => {
    const cwd = tempDir();
    wills.length = 0;
    const sim = simulator(["--broker", `mqtt://127.0.0.1:${aedes.port}`, "--products", "bess,battery-hawk,dese"], cwd);
    try {
      for (const name of ["bess", "battery-hawk", "dese"]) await sim.output.waitFor((l) => new RegExp(`${name}/\\S+ connected$`).test(l), 15_000, `${name} connected`);
      sim.child.stdout!.destroy(); // the reader goes away: the next writes fail with EPIPE
      sim.child.kill("SIGINT");
      assert.equal(await sim.exited, 0);
      assert.deepEqual(wills, []);
    } finally {
      await stopped(sim);
      fs.rmSync(cwd, { recursive: true, force: true });
    }
  });

  it("shows arrows and retain flags as sent, --full payloads and --filter, on a broker it does not run", async () => {
    const cwd = tempDir();
    const sim = simulator(["--broker", `mqtt://127.0.0.1:${aedes.port}`, "--products", "bess,dese", "--full", "--filter", "bess"], cwd);
    try {
      const status = (l: string) => / bess\/bess_controller_001 > bess\/status\/connection q1 retained \{/.test(l);
      await sim.output.waitFor(status, 15_000, "bess's retained connection status");
      await sim.output.waitFor((l) => l.includes(" > bess/telemetry "), 15_000, "bess telemetry");
      const telemetry = sim.output.lines.find((l) => l.includes(" > bess/telemetry "))!;
      const body = telemetry.slice(telemetry.indexOf("{"));
      assert.ok(body.length > 160 && JSON.parse(body).thermal, `the whole payload (over the default 160 characters), thermal block included: ${body}`);
      assert.ok(!sim.output.lines.some((l) => / dese\/esp32-001 [<>] /.test(l)), "dese's messages are filtered out");
    } finally {
      await stopped(sim);
      fs.rmSync(cwd, { recursive: true, force: true });
    }
  });

  it("tells an outage once when it starts and once when it ends, with the count", async () => {
    const broker = new EmbeddedBroker(() => {});
    const port = await broker.start(0);
    const cwd = tempDir();
    const sim = simulator(["--broker", `mqtt://127.0.0.1:${port}`, "--products", "dese", "--quiet"], cwd);
    try {
      await sim.output.waitFor((l) => / dese\/esp32-001 connected$/.test(l), 10_000, "connected");
      await broker.stop();
      await sim.output.waitFor((l) => l.includes("dese/esp32-001 disconnected: "), 10_000, "the outage's first line");
      await new Promise((resolve) => setTimeout(resolve, 3_000)); // several failed attempts meanwhile
      await broker.start(port);
      await sim.output.waitFor((l) => /dese\/esp32-001 connected again after \d+ s away \(\d+ failed attempts?, last: /.test(l), 15_000, "the outage's last line");
      const during = sim.output.lines.filter((l) => /dese\/esp32-001 (disconnected|cannot connect)/.test(l));
      assert.equal(during.length, 1, during.join("\n"));
    } finally {
      await stopped(sim);
      await broker.stop();
      fs.rmSync(cwd, { recursive: true, force: true });
    }
  });
});
