// The Platform on Node: clients bound to Node's sockets and timers, with the outbox and the
// settings of each device kept in files under a state directory, so a restarted simulator
// resumes where it stopped (unsent messages, balances, backoff state).

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

export function nodePlatform(options: NodePlatformOptions): Platform {
  const base = path.join(options.stateDir, options.product, options.deviceId);
  const { broker } = options;
  return {
    deviceId: options.deviceId,
    config: options.config,
    timer: nodeTimer,
    now: Date.now,
    settings: new FileSettings(`${base}.settings.json`),
    random: prng(options.seed),
    log: options.log,
    createClient: (clientOptions) => createNodeClient({
      host: broker.host,
      port: broker.port,
      username: broker.username,
      password: broker.password,
      secure: broker.secure,
      reconnect: { initialMs: 500, maxMs: 10_000 },
      store: new FileStore(`${base}.outbox`),
      ...(options.link ? { link: (io: SocketClass) => options.link!.wrap(io) } : {}),
      ...clientOptions,
    }),
  };
}
