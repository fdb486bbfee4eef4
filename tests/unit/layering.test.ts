// Products are descriptions on the Device: none creates an MQTT client, subscribes on one or
// imports the client or session (types included). The Device is the only way to the broker.

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const productsDir = path.join(root, "modules/products");

const RULES: [RegExp, string][] = [
  [/\bcreateClient\b/, "creates a client"],
  [/\bnew\s+MqttClient\b/, "creates a client"],
  [/\bMqttClient\b/, "names the MQTT client"],
  [/\.subscribe\s*\(/, "subscribes directly"],
  [/\.unsubscribe\s*\(/, "unsubscribes directly"],
  [/from\s+"[^"]*\/mqtt\/(client|session)\.js"/, "imports the client or session"],
];

/** Every rule a source text breaks, as "line n: why". */
export function violations(source: string): string[] {
  const out: string[] = [];
  source.split("\n").forEach((line, i) => {
    const code = line.replace(/\/\/.*$/, ""); // comments may talk about clients
    for (const [pattern, why] of RULES) if (pattern.test(code)) out.push(`line ${i + 1}: ${why}`);
  });
  return out;
}

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return e.name.endsWith(".ts") ? [p] : [];
  });
}

describe("layering: products run on the Device", () => {
  it("no file under modules/products creates a client, subscribes directly or imports the client", () => {
    const found = sources(productsDir).flatMap((file) => violations(fs.readFileSync(file, "utf8")).map((v) => `${path.relative(root, file)} ${v}`));
    assert.deepEqual(found, []);
  });

  it("the check catches each way around the Device", () => {
    assert.deepEqual(violations([
      'import { MqttClient } from "../../mqtt/client.js";',
      "const c = host.createClient({ clientId: 'x' });",
      "c.subscribe('a/b', { qos: 1 }, () => {});",
      "// a comment about createClient is fine",
    ].join("\n")), ["line 1: names the MQTT client", "line 1: imports the client or session", "line 2: creates a client", "line 3: subscribes directly"]);
  });
});
