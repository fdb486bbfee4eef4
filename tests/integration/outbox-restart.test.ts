// Queued QoS >= 1 publishes survive a restart of the process: a child process publishes
// while the broker is unreachable and exits; a new process with the same file store
// connects and delivers them, in order.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Mosquitto, freePort } from "../harness/mosquitto.js";
import { FileStore } from "../../hosts/node/file-store.js";
import { client, closeAll, Inbox } from "./util.js";

const here = path.dirname(fileURLToPath(import.meta.url));

function runChild(script: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], { cwd: here, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => { out += d; });
    child.stderr.on("data", (d) => { out += d; });
    child.on("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`child exited ${code}: ${out}`))));
  });
}

describe("outbox persisted in a file store across a process restart", function () {
  let mosquitto: Mosquitto;
  let dir: string;
  before(async () => {
    mosquitto = await Mosquitto.start();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "outbox-"));
  });
  after(async () => {
    await closeAll();
    await mosquitto.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("delivers QoS 1 and 2 messages queued by a process that exited before reaching the broker", async () => {
    const storePath = path.join(dir, "outbox.log");
    const deadPort = await freePort(); // nothing listens here
    const clientModule = path.resolve(here, "../../hosts/node/client.js");
    const storeModule = path.resolve(here, "../../hosts/node/file-store.js");
    const out = await runChild(`
      import { createNodeClient } from ${JSON.stringify(clientModule)};
      import { FileStore } from ${JSON.stringify(storeModule)};
      const c = createNodeClient({ host: "127.0.0.1", port: ${deadPort}, clientId: "restart-dev", clean: false,
        store: new FileStore(${JSON.stringify(storePath)}), reconnect: false });
      c.on("error", () => {});
      c.connect().catch(() => {});
      for (let i = 0; i < 20; i++) c.publish("restart/t", "r" + i, { qos: i % 2 ? 2 : 1 }).catch(() => {});
      console.log("queued", c.session.queued);
      process.exit(0);
    `);
    assert.match(out, /queued 20/);
    const store = new FileStore(storePath);
    assert.equal(store.load().length, 20, "the exiting process wrote all 20");

    const sub = client(mosquitto.port);
    await sub.connect();
    const inbox = new Inbox(sub);
    await sub.subscribe("restart/t", { qos: 2 });

    const dev = client(mosquitto.port, { clientId: "restart-dev", clean: false, store });
    assert.equal(dev.session.queued, 20);
    await dev.connect();
    await inbox.waitFor(20);
    const texts = inbox.texts();
    for (const qos of [1, 2]) {
      const expected = Array.from({ length: 20 }, (_, i) => `r${i}`).filter((_, i) => (i % 2 ? 2 : 1) === qos);
      assert.deepEqual(texts.filter((t) => expected.includes(t)), expected, `QoS ${qos} order`);
    }
    // Everything acknowledged leaves the store.
    await new Promise<void>((resolve) => {
      const check = () => (dev.session.inflight + dev.session.queued === 0 ? resolve() : setImmediate(check));
      check();
    });
    await store.flushed();
    assert.equal(new FileStore(storePath).load().length, 0);
  });
});
