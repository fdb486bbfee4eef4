// The desktop host's own parts: the settings file, and the command-line parsing shared by
// `npm start` and `npm run cmd`.

import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { FileSettings } from "../../hosts/node/file-settings.js";
import { parseBroker, parseParams, parseSettings, readSession, removeSession, writeSession } from "../../hosts/node/session.js";
import { products } from "../../modules/products/index.js";

describe("node host: FileSettings", () => {
  let dir: string;
  beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), "settings-")); });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

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

  it("reads a corrupt file as empty and leaves no temp file behind", () => {
    const file = path.join(dir, "c.json");
    fs.writeFileSync(file, "{\"balance\": 1");
    const s = new FileSettings(file);
    assert.equal(s.get("balance"), undefined);
    s.set("balance", 2);
    assert.deepEqual(fs.readdirSync(dir), ["c.json"]);
    assert.equal(new FileSettings(file).get("balance"), 2);
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
