// `npm start`'s terminal view: a line per message (">" sent by a device, "<" sent to it),
// with QoS and retain flag as the broker saw them, and each device's connection told once
// per change: the first failure of an outage with its reason and the next retry, and one
// line when the device is back, with how long, how many attempts and the last reason.

import { topicMatches } from "../../modules/mqtt/topic.js";
import type { Simulator, SimDevice, Traffic } from "./simulator.js";

export interface ViewOptions {
  /** Whole payloads instead of 160 characters. */
  full: boolean;
  /** Only messages whose device label or topic matches (a topic filter, or text in either). */
  filter?: string;
  /** Connections only, no messages. */
  quiet: boolean;
  color: boolean;
  write(line: string): void;
}

const COLORS = ["\x1b[36m", "\x1b[33m", "\x1b[32m", "\x1b[35m", "\x1b[34m"];
const decoder = new TextDecoder();

export function attachView(sim: Simulator, options: ViewOptions): void {
  const products = [...new Set(sim.devices.map((d) => d.product.name))];
  const paint = (d: SimDevice | undefined): string => {
    if (!d) return "-";
    return options.color ? `${COLORS[products.indexOf(d.product.name) % COLORS.length]}${d.label}\x1b[0m` : d.label;
  };
  const line = (d: SimDevice | undefined, text: string): void => options.write(`${time()} ${paint(d)} ${text}`);
  /** Devices whose current outage has been told. */
  const told = new Set<SimDevice>();

  sim.on("traffic", (t) => {
    if (options.quiet || !shown(t, options.filter)) return;
    const body = decoder.decode(t.payload);
    const text = options.full || body.length <= 160 ? body : body.slice(0, 157) + "...";
    line(t.device, `${t.direction} ${t.topic} q${t.qos}${t.retain ? " retained" : ""}${t.queued ? " (queued while offline)" : ""} ${text}`);
  });
  sim.on("link", (d, state, outage) => {
    if (state === "up") {
      told.delete(d);
      if (!outage) return line(d, "connected");
      const seconds = Math.round((Date.now() - outage.since) / 1000);
      return line(d, `connected again after ${seconds} s away (${outage.attempts} failed attempt${outage.attempts === 1 ? "" : "s"}, last: ${outage.lastError})`);
    }
    if (!outage) return;
    if (outage.retryInMs === undefined) return line(d, `gave up after ${outage.attempts} failed attempt${outage.attempts === 1 ? "" : "s"}: ${outage.lastError}`);
    if (told.has(d)) return; // the same outage: its end says how long and how many attempts
    told.add(d);
    line(d, `${d.everConnected ? "disconnected" : "cannot connect"}: ${outage.lastError}; retrying with backoff, next in ${(outage.retryInMs / 1000).toFixed(1)} s`);
  });
  sim.on("log", (d, text) => line(d, text));
  sim.on("broker", (state) => options.write(`${time()} broker ${state === "up" ? "started again" : "stopped"} (${sim.broker.url})`));
}

function shown(t: Traffic, filter: string | undefined): boolean {
  if (!filter) return true;
  if (t.device && (t.device.label.includes(filter) || t.device.deviceId === filter)) return true;
  return t.topic.includes(filter) || (/[+#]/.test(filter) && safeMatch(filter, t.topic));
}

function safeMatch(filter: string, topic: string): boolean {
  try {
    return topicMatches(filter, topic);
  } catch {
    return false;
  }
}

function time(): string {
  return new Date().toISOString().slice(11, 23);
}
