// The Platform on Moddable: clients over ECMA-419 TCP (TLS with `secure` when the broker URL is mqtts),
// Moddable's Timer, and the device's outbox and settings in Preference (NVS on ESP32).

import type { MqttClient } from "../../modules/mqtt/client.js";
import type { Platform } from "../../modules/device/device.js";
import { prng } from "../../modules/device/prng.js";
import { fnv1aHex } from "../../modules/device/hash.js";
import { createModdableClient } from "./client.js";
import { PreferenceOutbox, PreferenceSettings } from "./preference-store.js";
import { moddableTimer } from "./timer.js";

export interface ModdablePlatformOptions {
  deviceId: string;
  config: Record<string, string>;
  broker: { host: string; port: number; tls: boolean };
  username?: string;
  password?: string;
  /** The TLS socket's options (tls.ts's secureOptions()), loaded once at boot; required for mqtts. */
  secure?: Record<string, unknown>;
  maxBackoffMs: number;
  seed: number;
  log(line: string): void;
}

/** NVS domains are at most 15 characters: a short hash of the device id keeps devices apart. */
function domain(prefix: string, deviceId: string): string {
  return `${prefix}${fnv1aHex(deviceId)}`;
}

export function moddablePlatform(options: ModdablePlatformOptions): Platform {
  return {
    deviceId: options.deviceId,
    config: options.config,
    timer: moddableTimer,
    now: Date.now,
    settings: new PreferenceSettings(domain("st", options.deviceId)),
    random: prng(options.seed),
    log: options.log,
    createClient: (clientOptions) => logged(options.log, createModdableClient({
      host: options.broker.host,
      port: options.broker.port,
      username: options.username,
      password: options.password,
      secure: options.broker.tls ? options.secure : undefined,
      reconnect: { initialMs: 500, maxMs: options.maxBackoffMs },
      store: new PreferenceOutbox(domain("ob", options.deviceId)),
      outbox: { maxMessages: 100, maxBytes: 64 * 1024 },
      ...clientOptions,
    })),
  };
}

function logged(log: (line: string) => void, client: MqttClient): MqttClient {
  client.on("connected", ({ sessionPresent }) => log(`connected sessionPresent=${sessionPresent}`));
  client.on("disconnected", ({ error, reconnectInMs }) => log(`disconnected ${error?.code ?? ""} retry in ${reconnectInMs ?? "-"} ms`));
  return client;
}
