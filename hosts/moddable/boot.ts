// Boots the one product a firmware image was built for, with the broker, device id,
// credentials and TLS files from config (mcconfig key=value). A product's own options (its
// definition's defaults, e.g. org for dese) are config keys too. Its hardware comes from the
// image's entry: the board's buses on esp32 (esp32/board.ts), emulated buses elsewhere
// (simulator.ts). On ESP32, Moddable's setup/network (from the io manifest) joins Wi-Fi from
// config ssid/password and sets the clock by SNTP before the entry is imported. For mqtts,
// ca= (and cert=/key= for mutual TLS) name files in certs/, embedded as resources; they are
// loaded and converted once, here.

import { text, number, parseBrokerUrl } from "./config.js";
import type { BrokerAddress } from "./config.js";
import { secureOptions } from "./tls.js";
import { moddablePlatform } from "./platform.js";
import { Device } from "../../modules/device/device.js";
import type { Product, ProductFirmware } from "../../modules/device/product.js";

/** A trace line, prefixed with what runs. */
export function logger(name: string): (line: string) => void {
  return (line) => trace(`[${name}] ${line}\n`);
}

/** TLS from config keys ca, cert, key, alpn, serverName; undefined for mqtt://. */
export function secure(broker: BrokerAddress): Record<string, unknown> | undefined {
  if (!broker.tls) return undefined;
  const ca = text("ca");
  if (!ca) throw new RangeError("mqtts needs ca=<file in certs/>, the CA certificate (PEM or DER) that signed the broker's");
  return secureOptions({
    ca,
    cert: text("cert") || undefined,
    key: text("key") || undefined,
    alpn: text("alpn") || undefined,
    serverName: text("serverName") || undefined,
  });
}

/** The product's Device, from config: broker, device id (default its first example id), its options. */
export function productDevice(definition: ProductFirmware, log: (line: string) => void): Device {
  const broker = parseBrokerUrl(text("broker") || "mqtt://127.0.0.1:1883");
  const config: Record<string, string> = {};
  for (const [key, value] of Object.entries(definition.defaults)) config[key] = text(key) || value;
  return new Device(moddablePlatform({
    deviceId: text("device") || definition.deviceId(0),
    config,
    broker,
    username: text("mqttUser") || undefined,
    password: text("mqttPassword") || undefined,
    secure: secure(broker),
    maxBackoffMs: number("maxBackoffMs", 10_000),
    seed: number("seed", 1),
    log,
  }));
}

/**
 * Makes the product's Device, its product on `make(device)`'s hardware, and starts it. A
 * configuration error (a missing or unusable certificate, a bad bus option, a pin in use) is
 * reported with its reason, rather than as an uncaught exception at module load.
 */
export function bootProduct(definition: ProductFirmware, make: (device: Device) => Product): void {
  const log = logger(definition.name);
  try {
    make(productDevice(definition, log)).start();
  } catch (e) {
    log(`cannot start: ${e instanceof Error ? e.message : String(e)}`);
  }
}
