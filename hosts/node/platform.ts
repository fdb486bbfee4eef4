// The Platform on Node: clients bound to Node's sockets and timers, with the outbox and the
// settings of each device kept in files under a state directory, so a restarted simulator
// resumes where it stopped (unsent messages, balances, backoff state). Writes go behind the
// event loop (file-writer.ts). A fleet boots in one synchronous burst: the folder is listed
// once per burst, so a device whose files do not exist yet costs no file I/O at all until it
// first writes.

import * as fs from "node:fs";
import * as path from "node:path";
import type { Platform } from "../../modules/device/device.js";
import { prng } from "../../modules/device/prng.js";
import { createNodeClient } from "./client.js";
import type { SecureOptions } from "./tls.js";
import { nodeTimer } from "./timer.js";
import { FileStore } from "./file-store.js";
import { FileSettings } from "./file-settings.js";
import type { Link } from "./link.js";
import type { SocketClass } from "../../modules/mqtt/io.js";

export interface NodePlatformOptions {
  product: string;
  deviceId: string;
  broker: { host: string; port: number; username?: string; password?: string; secure?: SecureOptions };
  config: Record<string, string>;
  stateDir: string;
  seed: number;
  log(line: string): void;
  /** The device's link, for the simulator's faults. */
  link?: Link;
}

/** Each state folder's file names, as listed during the current burst of creations. */
const listings = new Map<string, ReadonlySet<string>>();

/** Whether the file is known not to exist (otherwise its store reads it on first use). */
function absent(file: string): boolean {
  const dir = path.dirname(file);
  let names = listings.get(dir);
  if (!names) {
    try {
      names = new Set(fs.readdirSync(dir));
    } catch {
      names = new Set();
    }
    // Only this process writes the folder (the state lock), and only a device's own stores
    // write its files, after their creation; forget the listing once the burst is over.
    if (listings.size === 0) setImmediate(() => listings.clear());
    listings.set(dir, names);
  }
  return !names.has(path.basename(file));
}

export function nodePlatform(options: NodePlatformOptions): Platform {
  const base = path.join(options.stateDir, options.product, options.deviceId);
  const settingsFile = `${base}.settings.json`;
  const outboxFile = `${base}.outbox`;
  const { broker } = options;
  // One store per device, for every client it makes (a node waking from sleep resumes what
  // the last wake left): the store keeps the live messages and orders the file's writes.
  const store = new FileStore(outboxFile, { absent: absent(outboxFile) });
  const settings = new FileSettings(settingsFile, { absent: absent(settingsFile) });
  store.onError = settings.onError = (e) => options.log(`cannot write the device's state: ${e instanceof Error ? e.message : String(e)}`);
  return {
    deviceId: options.deviceId,
    config: options.config,
    timer: nodeTimer,
    now: Date.now,
    settings,
    random: prng(options.seed),
    log: options.log,
    // Asked at each connect: a node waking from sleep reads what its last wake left.
    createClient: (clientOptions) => {
      return createNodeClient({
        host: broker.host,
        port: broker.port,
        username: broker.username,
        password: broker.password,
        secure: broker.secure,
        reconnect: { initialMs: 500, maxMs: 10_000 },
        store,
        ...(options.link ? { link: (io: SocketClass) => options.link!.wrap(io) } : {}),
        ...clientOptions,
      });
    },
  };
}
