// The desktop host's own parts: the settings file, and the command-line parsing shared by
// `npm start` and `npm run cmd`.

import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { FileSettings } from "../../hosts/node/file-settings.js";
import { FileStore } from "../../hosts/node/file-store.js";
import { flushAll } from "../../hosts/node/file-writer.js";
import { parseBroker, parseParams, parseSettings, readSession, removeSession, writeSession } from "../../hosts/node/session.js";
import type { StoredMessage } from "../../modules/mqtt/io.js";
import { products } from "../../modules/products/index.js";

describe("node host: FileSettings", () => {
  let dir: string;
  beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), "settings-")); });
  afterEach(async () => {
    await flushAll(); // the stores write behind: let them finish before the folder goes
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("keeps values across instances, and deletes", () => {
    const file = path.join(dir, "a/b.json");
    const s = new FileSettings(file);
    s.set("balance", { value: 12.5, at: 1 });
    s.set("n", 3);
    s.delete("n");
    const again = new FileSettings(file);
    assert.deepEqual(again.get("balance"), { value: 12.5, at: 1 });
    assert.equal(again.get("n"), undefined);
  });

  it("reads a corrupt file as empty and leaves no temp file behind", async () => {
    const file = path.join(dir, "c.json");
    fs.writeFileSync(file, "{\"balance\": 1");
    const s = new FileSettings(file);
    assert.equal(s.get("balance"), undefined);
    s.set("balance", 2);
    await s.flushed();
    assert.deepEqual(fs.readdirSync(dir), ["c.json"]);
    assert.equal(new FileSettings(file).get("balance"), 2);
  });

  it("writes behind the caller: sets made while one is under way collapse into one write, and the last one lands", async () => {
    const file = path.join(dir, "d/e.json");
    const s = new FileSettings(file, { absent: true });
    for (let i = 1; i <= 100; i++) s.set("n", i);
    assert.equal(s.get("n"), 100, "the value is there at once");
    assert.equal(fs.existsSync(file), false, "nothing written within the caller's turn");
    await s.flushed();
    assert.deepEqual(JSON.parse(fs.readFileSync(file, "utf8")), { n: 100 });
  });

  it("a write that fails is reported, the value stays in memory, and writes behind it go ahead", async () => {
    fs.writeFileSync(path.join(dir, "not-a-folder"), "");
    const bad = new FileSettings(path.join(dir, "not-a-folder/x.json"));
    const errors: string[] = [];
    bad.onError = (e) => errors.push((e as NodeJS.ErrnoException).code ?? String(e));
    bad.set("n", 1);
    await bad.flushed();
    assert.equal(errors.length, 1, "one report");
    assert.match(errors[0]!, /ENOTDIR|EEXIST/);
    assert.equal(bad.get("n"), 1, "the value is kept in memory");
    const good = new FileSettings(path.join(dir, "ok.json"));
    good.set("n", 2);
    await good.flushed();
    assert.deepEqual(JSON.parse(fs.readFileSync(good.path, "utf8")), { n: 2 });
  });

  it("writes what is queued when the process exits", async () => {
    const file = path.join(dir, "exit.json");
    const module = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../../hosts/node/file-settings.js");
    const code = `import { FileSettings } from ${JSON.stringify(module)};
      const s = new FileSettings(${JSON.stringify(file)});
      for (let i = 1; i <= 50; i++) s.set("n", i);
      process.exit(0);`;
    const { execFileSync } = await import("node:child_process");
    execFileSync(process.execPath, ["--input-type=module", "-e", code]);
    assert.deepEqual(JSON.parse(fs.readFileSync(file, "utf8")), { n: 50 });
  });
});

describe("node host: FileStore stays bounded while running", () => {
  let dir: string;
  beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), "file-store-")); });
  afterEach(async () => {
    await flushAll(); // the stores write behind: let them finish before the folder goes
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const payload = new Uint8Array(100).fill(0x61);
  const message = (seq: number, extra: Partial<StoredMessage> = {}): StoredMessage =>
    ({ seq, topic: `dev/esp32-001/telemetry`, payload, qos: 1, retain: false, id: (seq % 65535) + 1, ...extra });

  // The file's size once written: store.bytes, checked against the disk after flushed().
  const size = async (store: FileStore): Promise<number> => {
    await store.flushed();
    assert.equal(fs.statSync(store.path).size, store.bytes, "the file holds what the store wrote");
    return store.bytes;
  };

  it("keeps the file under 64 KiB across 20,000 acknowledged QoS 1 messages, without load()", async () => {
    const file = path.join(dir, "outbox.log");
    const store = new FileStore(file);
    let max = 0;
    for (let seq = 1; seq <= 20_000; seq++) {
      store.put(message(seq));
      max = Math.max(max, store.bytes);
      store.delete(seq);
      max = Math.max(max, store.bytes);
      if (seq % 1000 === 0) max = Math.max(max, await size(store));
    }
    // Live is at most one record here, so the bound is the default floor.
    assert.ok(max <= 64 * 1024, `file reached ${max} bytes`);
    await store.flushed();
    assert.deepEqual(new FileStore(file).load(), []);
  });

  // Acknowledged traffic through seqs [from, from + count): returns how often a put or delete
  // shrank the file, i.e. how many compactions ran.
  const churn = async (store: FileStore, from: number, count: number): Promise<number> => {
    let shrinks = 0;
    let before = store.bytes;
    for (let seq = from; seq < from + count; seq++) {
      for (const step of [() => store.put(message(seq)), () => store.delete(seq)]) {
        step();
        if (store.bytes < before) shrinks++;
        before = store.bytes;
      }
    }
    await size(store);
    return shrinks;
  };

  it("stays within max(compactAtBytes, 2 x live bytes) while live messages accumulate and drain", async () => {
    const file = path.join(dir, "outbox.log");
    const store = new FileStore(file, { compactAtBytes: 4096 });
    const line = (seq: number) => JSON.stringify({ op: "put", seq, topic: message(seq).topic,
      payload: Buffer.from(payload).toString("base64"), qos: 1, retain: false, id: message(seq).id }).length + 1;
    const live = new Set<number>();
    const check = () => {
      const liveBytes = [...live].reduce((sum, seq) => sum + line(seq), 0);
      assert.ok(store.bytes <= Math.max(4096, 2 * liveBytes), `${store.bytes} bytes with ${liveBytes} live`);
    };
    // 500 queued while offline, then drained as they are acknowledged, with new ones arriving.
    for (let seq = 1; seq <= 500; seq++) { store.put(message(seq)); live.add(seq); check(); }
    for (let seq = 1; seq <= 500; seq++) {
      store.delete(seq); live.delete(seq); check();
      if (seq % 2 === 0) { store.put(message(1000 + seq)); live.add(1000 + seq); check(); }
    }
    await size(store);
    assert.equal(new FileStore(file).load().length, 250);
  });

  it("reopens to exactly the live messages, in seq order, with id and released", async () => {
    const file = path.join(dir, "outbox.log");
    const store = new FileStore(file, { compactAtBytes: 4096 });
    const kept = (seq: number) => seq % 100 === 7;
    const keeper = (seq: number) => message(seq, { qos: 2, id: seq, ...(seq % 200 === 7 ? { released: true } : {}) });
    // Out of order arrival within a window, as ids and acknowledgements interleave.
    for (let seq = 1; seq <= 3000; seq++) {
      store.put(kept(seq) ? keeper(seq) : message(seq));
      if (seq > 5 && !kept(seq - 5)) store.delete(seq - 5);
    }
    for (let seq = 2996; seq <= 3000; seq++) if (!kept(seq)) store.delete(seq);
    const expected = Array.from({ length: 3000 }, (_, i) => i + 1).filter(kept).map(keeper);
    assert.ok(await size(store) < 64 * 1024, "compacted while running");
    const loaded = new FileStore(file).load();
    assert.equal(loaded.length, 30);
    assert.deepEqual(loaded, expected);
    assert.equal(loaded.filter((m) => m.released).length, 15);
  });

  it("keeps a live message's update (released) through later compactions", async () => {
    const file = path.join(dir, "outbox.log");
    const store = new FileStore(file, { compactAtBytes: 4096 });
    store.put(message(1, { qos: 2, id: 9 }));
    assert.ok(await churn(store, 2, 200) > 0, "compacted before the update");
    store.put(message(1, { qos: 2, id: 9, released: true }));
    assert.ok(await churn(store, 202, 200) > 0, "compacted after the update");
    const reopened = new FileStore(file);
    assert.deepEqual(reopened.load(), [message(1, { qos: 2, id: 9, released: true })]);
    await reopened.flushed();
    assert.equal(fs.readFileSync(file, "utf8").trim().split("\n").length, 1, "one line for seq 1");
  });

  it("skips a crash-truncated last line after compactions, and appends cleanly after it", async () => {
    const file = path.join(dir, "outbox.log");
    const store = new FileStore(file, { compactAtBytes: 4096 });
    store.put(message(1));
    assert.ok(await churn(store, 10, 200) > 0);
    store.put(message(2));
    await store.flushed();
    fs.appendFileSync(file, '{"op":"del","seq":1'); // crash mid-append
    const reopened = new FileStore(file);
    assert.deepEqual(reopened.load(), [message(1), message(2)]);
    await reopened.flushed();

    fs.appendFileSync(file, '{"op":"del","seq":2'); // and again, now reopened without load()
    const writer = new FileStore(file, { compactAtBytes: 4096 });
    writer.put(message(3)); // must not glue onto the broken line
    assert.ok(await churn(writer, 300, 200) > 0);
    assert.deepEqual(new FileStore(file).load(), [message(1), message(2), message(3)]);
    await store.flushed();
    assert.deepEqual(fs.readdirSync(dir), ["outbox.log"], "no temp file left");
  });
});

describe("node host: command line", () => {
  it("parses key=value parameters as JSON where they parse, nesting dotted keys", () => {
    assert.deepEqual(parseParams(["pump_id=1", "state=on", "on=true", "t.ph_min=6.5", "t.ph_max=8", "raw={\"a\":[1]}", "empty="]),
      { pump_id: 1, state: "on", on: true, t: { ph_min: 6.5, ph_max: 8 }, raw: { a: [1] }, empty: "" });
    assert.throws(() => parseParams(["novalue"]), /key=value/);
    assert.throws(() => parseParams(["=1"]), /key=value/);
  });

  it("parses broker URLs and refuses others", () => {
    assert.deepEqual(parseBroker("mqtt://127.0.0.1:1999"), { url: "mqtt://127.0.0.1:1999", host: "127.0.0.1", port: 1999 });
    const b = parseBroker("mqtts://u%40x:p@broker.local");
    assert.equal(b.port, 8883);
    assert.equal(b.username, "u@x");
    assert.equal(b.password, "p");
    assert.deepEqual(b.secure, {});
    assert.throws(() => parseBroker("http://x"), /mqtt:\/\//);
    assert.throws(() => parseBroker("not a url"), /URL/);
  });

  it("layers settings: product defaults, a running simulator's, then --set", () => {
    const [first] = products;
    const key = Object.keys(first.defaults)[0] ?? "extra";
    const config = parseSettings([`${first.name}.${key}=from-set`], products, { [first.name]: { [key]: "from-session", other: "kept" } });
    assert.equal(config[first.name][key], "from-set");
    assert.equal(config[first.name].other, "kept");
    for (const p of products.slice(1)) assert.deepEqual(config[p.name], { ...p.defaults });
    assert.throws(() => parseSettings(["nosuch.key=1"], products), /unknown product/);
    assert.throws(() => parseSettings(["bad"], products), /product\.key=value/);
  });

  it("shares the broker through a session file that only its writer removes", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "session-"));
    try {
      writeSession(dir, { url: "mqtt://127.0.0.1:1", config: {} });
      removeSession(dir, "mqtt://127.0.0.1:2");
      assert.equal(readSession(dir)?.url, "mqtt://127.0.0.1:1");
      removeSession(dir, "mqtt://127.0.0.1:1");
      assert.equal(readSession(dir), undefined);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
