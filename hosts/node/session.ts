// What `npm start` and `npm run cmd` share: the broker URL and the product settings, parsed
// from the command line and written to <state>/session.json so the companion finds a
// running simulator without being told where it is.

import * as fs from "node:fs";
import * as path from "node:path";
import type { Json, JsonObject } from "../../modules/device/commands.js";
import type { ProductDefinition } from "../../modules/device/product.js";
import { productNamed } from "../../modules/products/index.js";
import type { SecureOptions } from "./tls.js";

export interface Broker {
  url: string;
  host: string;
  port: number;
  username?: string;
  password?: string;
  secure?: SecureOptions;
}

export interface Session {
  url: string;
  /** Product name -> its settings (defaults merged with --set). */
  config: Record<string, Record<string, string>>;
}

/** mqtt://[user:pass@]host[:port] or mqtts://... (TLS, verified against MQTT_CA if set). */
export function parseBroker(url: string): Broker {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new RangeError(`broker must be a URL like mqtt://127.0.0.1:1883, not "${url}"`);
  }
  const tls = u.protocol === "mqtts:";
  if (!tls && u.protocol !== "mqtt:") throw new RangeError(`broker URL must start mqtt:// or mqtts://, not "${url}"`);
  const broker: Broker = { url, host: u.hostname, port: Number(u.port || (tls ? 8883 : 1883)) };
  if (u.username) broker.username = decodeURIComponent(u.username);
  if (u.password) broker.password = decodeURIComponent(u.password);
  if (tls) broker.secure = process.env.MQTT_CA ? { ca: fs.readFileSync(process.env.MQTT_CA) } : {};
  return broker;
}

/** Each product's defaults, then `base` (a running simulator's), then `product.key=value` settings. */
export function parseSettings(settings: string[], definitions: readonly ProductDefinition[],
  base: Session["config"] = {}): Record<string, Record<string, string>> {
  const config: Record<string, Record<string, string>> = {};
  for (const d of definitions) config[d.name] = { ...d.defaults, ...base[d.name] };
  for (const s of settings) {
    const m = /^([a-z-]+)\.([A-Za-z0-9_]+)=(.*)$/.exec(s);
    if (!m) throw new RangeError(`--set takes product.key=value, not "${s}"`);
    const [, product, key, value] = m;
    productNamed(product);
    if (config[product]) config[product][key] = value;
  }
  return config;
}

/** key=value pairs: values are JSON where they parse (1, true, {"a":1}) and text otherwise; a.b=1 nests. */
export function parseParams(pairs: string[]): JsonObject {
  const params: JsonObject = {};
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new RangeError(`parameters are key=value, not "${pair}"`);
    const keys = pair.slice(0, eq).split(".");
    const text = pair.slice(eq + 1);
    let value: Json;
    try {
      value = JSON.parse(text) as Json;
    } catch {
      value = text;
    }
    let target = params;
    for (const key of keys.slice(0, -1)) {
      const next = target[key];
      target = (target[key] = typeof next === "object" && next !== null && !Array.isArray(next) ? next : {}) as JsonObject;
    }
    target[keys[keys.length - 1]] = value;
  }
  return params;
}

const file = (state: string): string => path.join(state, "session.json");

export function writeSession(state: string, session: Session): void {
  fs.mkdirSync(state, { recursive: true });
  fs.writeFileSync(file(state), JSON.stringify(session, null, 1));
}

/** Removes the session file if it is still this simulator's. */
export function removeSession(state: string, url: string): void {
  if (readSession(state)?.url === url) fs.rmSync(file(state), { force: true });
}

export function readSession(state: string): Session | undefined {
  try {
    return JSON.parse(fs.readFileSync(file(state), "utf8")) as Session;
  } catch {
    return undefined;
  }
}
