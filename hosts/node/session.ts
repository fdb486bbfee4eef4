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

export interface SessionFile {
  url: string;
  /** Product name -> its settings (defaults merged with --set). */
  config: Record<string, Record<string, string>>;
  /** Product name -> the running devices' ids -> each device's settings. */
  devices?: Record<string, Record<string, Record<string, string>>>;
}

/**
 * One device's settings. With several devices of a product whose specified topics carry no
 * device level (its options have a `root`), each gets its own root, so their retained
 * states and commands stay apart: `<deviceId>`, under the configured root if one is set.
 */
export function configFor(definition: ProductDefinition, config: Record<string, string>, deviceId: string, count: number): Record<string, string> {
  if (count <= 1 || !("root" in definition.defaults)) return { ...config };
  return { ...config, root: config.root ? `${config.root}/${deviceId}` : deviceId };
}

/** Files for TLS: the CA to trust, and the client's certificate and key for mutual TLS; each PEM or DER. */
export interface TlsFiles {
  ca?: string;
  cert?: string;
  key?: string;
}

/** TLS files from MQTT_CA, MQTT_CERT and MQTT_KEY; command-line options override them. */
export function tlsFilesFromEnv(env: Record<string, string | undefined> = process.env): TlsFiles {
  const files: TlsFiles = {};
  if (env.MQTT_CA) files.ca = env.MQTT_CA;
  if (env.MQTT_CERT) files.cert = env.MQTT_CERT;
  if (env.MQTT_KEY) files.key = env.MQTT_KEY;
  return files;
}

/** A certificate or key file as TLS takes it: PEM stays text, anything else is DER bytes. */
export function readPemOrDer(file: string): string | Uint8Array {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new RangeError(`cannot read ${file}: ${(e as Error).message}`);
  }
  const text = bytes.toString("latin1");
  return /^\s*-----BEGIN /.test(text) ? text : new Uint8Array(bytes);
}

/** mqtt://[user:pass@]host[:port] or mqtts://... (TLS: verified against `files.ca` if given, with a client certificate if given). */
export function parseBroker(url: string, files: TlsFiles = {}): Broker {
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
  const given = (Object.keys(files) as (keyof TlsFiles)[]).filter((k) => files[k]);
  if (!tls) {
    if (given.length) throw new RangeError(`${given.map((k) => `--${k}`).join(", ")} need a TLS broker (mqtts://), not ${url}`);
    return broker;
  }
  if (Boolean(files.cert) !== Boolean(files.key)) throw new RangeError("a client certificate needs its key, and a key its certificate (--cert and --key together)");
  const secure: SecureOptions = {};
  if (files.ca) secure.ca = readPemOrDer(files.ca);
  if (files.cert) secure.clientCertificates = [readPemOrDer(files.cert)];
  if (files.key) secure.clientKey = readPemOrDer(files.key);
  broker.secure = secure;
  return broker;
}

/** Each product's defaults, then `base` (a running simulator's), then `product.key=value` settings. */
export function parseSettings(settings: string[], definitions: readonly ProductDefinition[],
  base: SessionFile["config"] = {}): Record<string, Record<string, string>> {
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

export function writeSession(state: string, session: SessionFile): void {
  fs.mkdirSync(state, { recursive: true });
  fs.writeFileSync(file(state), JSON.stringify(session, null, 1));
}

/** Removes the session file if it is still this simulator's. */
export function removeSession(state: string, url: string): void {
  if (readSession(state)?.url === url) fs.rmSync(file(state), { force: true });
}

export function readSession(state: string): SessionFile | undefined {
  try {
    return JSON.parse(fs.readFileSync(file(state), "utf8")) as SessionFile;
  } catch {
    return undefined;
  }
}
