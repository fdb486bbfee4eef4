// The dashboard's server, on 127.0.0.1 only: the page and its assets (hosts/node/web/static,
// uPlot from node_modules), the simulator's state as JSON, its events as server-sent events
// (the first one the whole state, so a page misses nothing between the two), and the console
// and the faults as small JSON POSTs, every input checked (a 4xx with a reason). No
// framework: node:http is enough.

import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";
import type { JsonObject } from "../../../modules/device/commands.js";
import type { Simulator, SimDevice, Traffic } from "../simulator.js";
import { commandForms } from "./forms.js";
import type { CommandForm } from "./forms.js";

const here = path.dirname(fileURLToPath(import.meta.url));
/** The page's files: in the source tree (the build does not copy them). */
const STATIC = path.resolve(here, "../../../../hosts/node/web/static");
/** The products' schemas, for the console's forms. */
const PRODUCTS = path.resolve(here, "../../../../modules/products");
/** The longest the console waits for a device's answer (the simulator's own bound is 10 s, but it waits for a stopped broker). */
const ANSWER_MS = 15_000;
const require = createRequire(import.meta.url);

export interface Dashboard {
  url: string;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = { ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8" };

const ROUTES = ["/api/state", "/api/events", "/api/command", "/api/fault"];

/** A refusal with its status: the page shows the message. */
class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** Serves the dashboard on 127.0.0.1:`port` (a free port if it is taken). */
export async function startDashboard(sim: Simulator, port: number): Promise<Dashboard> {
  const streams = new Set<http.ServerResponse>();
  const send = (event: string, data: unknown): void => {
    const frame = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const res of streams) res.write(frame);
  };
  sim.on("traffic", (t) => send("traffic", traffic(t)));
  sim.on("link", (d, state, outage) => send("link", { label: d.label, state, outage: outage ?? null }));
  sim.on("log", (d, line) => send("log", { label: d.label, line }));
  sim.on("broker", (state) => send("broker", { state }));
  const forms = new Map<string, Record<string, CommandForm>>();
  for (const d of sim.devices) {
    if (!forms.has(d.product.name)) forms.set(d.product.name, commandForms(d.product, path.join(PRODUCTS, d.product.name, "schemas")));
  }
  const snapshot = (): unknown => state(sim, forms);

  const assets: Record<string, string> = {
    "/": path.join(STATIC, "index.html"),
    "/app.js": path.join(STATIC, "app.js"),
    "/style.css": path.join(STATIC, "style.css"),
    "/uplot.js": require.resolve("uplot/dist/uPlot.iife.min.js"),
    "/uplot.css": require.resolve("uplot/dist/uPlot.min.css"),
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (e instanceof HttpError) reply(res, e.status, { error: e.message });
      else reply(res, 500, { error: e instanceof Error ? e.message : String(e) });
    });
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    // Only pages served from here: another host name is a DNS-rebinding page, and a POST
    // that is not JSON could come from any page's form (JSON needs a CORS preflight, never granted).
    if (!/^(127\.0\.0\.1|localhost|\[::1\]):\d+$/.test(req.headers.host ?? "")) throw new HttpError(403, `not served to host "${req.headers.host ?? ""}"`);
    if (req.method === "POST" && !/^application\/json\b/.test(req.headers["content-type"] ?? "")) throw new HttpError(415, "a POST body must be application/json");
    if (req.method === "GET" && assets[url.pathname]) {
      const file = assets[url.pathname];
      res.writeHead(200, { "content-type": TYPES[path.extname(file)] ?? "text/plain; charset=utf-8", "cache-control": "no-store" });
      fs.createReadStream(file).pipe(res);
      return;
    }
    if (req.method === "GET" && url.pathname === "/favicon.ico") return void res.writeHead(204).end();
    if (req.method === "GET" && url.pathname === "/api/state") return reply(res, 200, snapshot());
    if (req.method === "GET" && url.pathname === "/api/events") {
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store", connection: "keep-alive" });
      res.write(`event: state\ndata: ${JSON.stringify(snapshot())}\n\n`);
      streams.add(res);
      req.on("close", () => streams.delete(res));
      return;
    }
    if (req.method === "POST" && url.pathname === "/api/command") {
      const body = await json(req);
      const device = deviceNamed(sim, body.device);
      if (typeof body.command !== "string" || body.command === "") throw new HttpError(400, "command must be a command name");
      if (body.params !== undefined && !isObject(body.params)) throw new HttpError(400, "params must be an object");
      try {
        const answer = await bounded(sim.command(device, body.command, (body.params ?? {}) as JsonObject), ANSWER_MS);
        return reply(res, 200, { answer });
      } catch (e) {
        // A RangeError is the product refusing the command (with its usage); anything else is no answer.
        return reply(res, e instanceof RangeError ? 400 : 504, { error: e instanceof Error ? e.message : String(e) });
      }
    }
    if (req.method === "POST" && url.pathname === "/api/fault") {
      const device = await fault(sim, await json(req));
      if (device) send("device", deviceState(device, sim, forms));
      return reply(res, 200, { ok: true });
    }
    if (ROUTES.includes(url.pathname) || assets[url.pathname]) throw new HttpError(405, `${req.method} is not allowed on ${url.pathname}`);
    reply(res, 404, { error: "not found" });
  }

  const bound = await listen(server, port);
  return {
    url: `http://127.0.0.1:${bound}/`,
    close: () => new Promise<void>((resolve) => {
      for (const res of streams) res.end();
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

/** Faults on demand: a device's link, or the embedded broker. Resolves with the device whose state changed. */
async function fault(sim: Simulator, body: Record<string, unknown>): Promise<SimDevice | undefined> {
  const kind = body.kind;
  if (typeof kind !== "string") throw new HttpError(400, "kind must be a fault kind: cut, blackhole, broker-stop, broker-start");
  if (kind === "broker-stop" || kind === "broker-start") {
    if (!sim.embedded) throw new HttpError(409, `only the embedded broker can be stopped and started; this run uses ${sim.broker.url}`);
    await sim.setBroker(kind === "broker-start");
    return undefined;
  }
  const device = deviceNamed(sim, body.device);
  if (kind === "cut") sim.cut(device);
  else if (kind === "blackhole") {
    if (body.on !== undefined && typeof body.on !== "boolean") throw new HttpError(400, "on must be true or false");
    sim.blackhole(device, body.on !== false);
  } else if (kind.startsWith("hw:") && device.faults[kind.slice(3)]) {
    sim.hardwareFault(device, kind.slice(3));
  } else throw new HttpError(400, `unknown fault "${kind}" for ${device.label}`);
  return device;
}

function deviceNamed(sim: Simulator, name: unknown): SimDevice {
  if (typeof name !== "string" || name === "") throw new HttpError(400, "device must be a device label such as bess/bess_controller_001");
  const device = sim.find(name);
  if (!device) throw new HttpError(404, `no device ${name}; running: ${sim.devices.map((d) => d.label).join(", ")}`);
  return device;
}

function state(sim: Simulator, forms: Map<string, Record<string, CommandForm>>): unknown {
  return {
    broker: { url: sim.broker.url, embedded: sim.embedded !== undefined, running: sim.embedded?.running ?? true },
    devices: sim.devices.map((d) => deviceState(d, sim, forms)),
    history: sim.history.slice(-500).map(traffic),
  };
}

function deviceState(d: SimDevice, sim: Simulator, forms: Map<string, Record<string, CommandForm>>): unknown {
  const retained: Record<string, unknown> = {};
  for (const [topic, t] of sim.retained) if (t.device === d) retained[topic] = parse(t.payload);
  return {
    label: d.label, product: d.product.name, deviceId: d.deviceId, connected: d.connected, outage: d.outage ?? null,
    blackholed: d.link.blackholed, retained, commands: d.product.commands, example: d.product.example,
    forms: forms.get(d.product.name) ?? {}, faults: hardwareFaults(d),
  };
}

/** The hardware faults a device's emulated parts offer, as { kind: "hw:...", label }. */
function hardwareFaults(d: SimDevice): { kind: string; label: string }[] {
  return Object.entries(d.faults).map(([kind, f]) => ({ kind: `hw:${kind}`, label: f.label }));
}

function traffic(t: Traffic): unknown {
  return { at: t.at, topic: t.topic, qos: t.qos, retain: t.retain, direction: t.direction, queued: t.queued ?? false, device: t.device?.label ?? null, payload: parse(t.payload) };
}

function parse(bytes: Uint8Array): unknown {
  const text = new TextDecoder().decode(bytes);
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function reply(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" });
  res.end(JSON.stringify(body));
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function bounded<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms); });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** A JSON object body of at most 64 KiB: 413 above, 400 for anything but a JSON object. */
function json(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  const LIMIT = 65_536;
  return new Promise((resolve, reject) => {
    const tooLarge = (): void => {
      req.removeAllListeners("data");
      req.resume(); // the rest is read and dropped, so the answer reaches the client
      reject(new HttpError(413, `request body over ${LIMIT} bytes`));
    };
    if (Number(req.headers["content-length"] ?? 0) > LIMIT) return tooLarge();
    let size = 0;
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > LIMIT) tooLarge();
      else chunks.push(c);
    });
    req.on("error", reject);
    req.on("end", () => {
      if (size > LIMIT) return;
      try {
        const v = JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown;
        if (!isObject(v)) throw new Error("not an object");
        resolve(v);
      } catch {
        reject(new HttpError(400, "request body must be a JSON object"));
      }
    });
  });
}

function listen(server: http.Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "EADDRINUSE" && port !== 0) resolve(listen(server, 0));
      else reject(e);
    });
    server.listen(port, "127.0.0.1", () => resolve((server.address() as AddressInfo).port));
  });
}
