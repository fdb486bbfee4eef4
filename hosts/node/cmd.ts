// `npm run cmd`: sends one command to a device and prints its response.
//
//   npm run cmd -- <product> <device> <command> [key=value ...] [--broker URL] [--timeout ms] [--state DIR]
//   npm run cmd -- dese esp32-001 set_pump pump_id=1 state=on
//
// Values are JSON where they parse as JSON (numbers, true, {"a":1}) and text otherwise; a
// dotted key (thresholds.ph_min=6.5) builds a nested object. The broker and the product
// settings come from the running `npm start` (<state>/session.json) unless given.

import { products, productNamed } from "../../modules/products/index.js";
import { createNodeClient } from "./client.js";
import { requestBody, sendRequest } from "./request.js";
import { parseBroker, parseParams, parseSettings, readSession, tlsFilesFromEnv } from "./session.js";
import type { TlsFiles } from "./session.js";

const USAGE = `npm run cmd -- <product> <device> <command> [key=value ...] [--broker URL] [--ca FILE] [--cert FILE --key FILE] [--timeout ms] [--set product.key=value] [--state DIR]
  --ca, --cert, --key: with an mqtts:// broker, the CA to trust and the client certificate and key for mutual TLS, PEM or DER (also MQTT_CA, MQTT_CERT, MQTT_KEY)
products: ${products.map((p) => p.name).join(", ")}
npm run cmd -- <product> --help lists a product's commands`;

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const positional: string[] = [];
  const settings: string[] = [];
  let brokerUrl = process.env.MQTT_URL || undefined;
  const tls = tlsFilesFromEnv();
  let timeoutMs = 10_000;
  let state = ".state";
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined || v.startsWith("--")) throw new RangeError(`${a} needs a value`);
      return v;
    };
    if (a === "--broker") brokerUrl = value();
    else if (a === "--ca" || a === "--cert" || a === "--key") tls[a.slice(2) as keyof TlsFiles] = value();
    else if (a === "--timeout") timeoutMs = Number(value());
    else if (a === "--set") settings.push(value());
    else if (a === "--state") state = value();
    else if (a === "--help" || a === "-h") positional.push("--help");
    else positional.push(a);
  }
  const [productName, deviceId, command, ...pairs] = positional;
  if (!productName || productName === "--help") {
    console.log(USAGE);
    return productName ? 0 : 2;
  }
  const definition = productNamed(productName);
  if (!deviceId || deviceId === "--help" || !command) {
    console.log(`${definition.name} commands (device ids like ${definition.deviceId(0)}):`);
    for (const [name, usage] of Object.entries(definition.commands)) console.log(`  ${name}  ${usage}`);
    return deviceId === "--help" ? 0 : 2;
  }
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new RangeError("--timeout must be a positive number of milliseconds");

  const session = readSession(state);
  const url = brokerUrl ?? session?.url ?? "mqtt://127.0.0.1:1883";
  // Against the running simulator (its broker), only its devices exist: another id would go
  // unanswered, or be taken by a device it is not addressed to.
  const running = brokerUrl === undefined || brokerUrl === session?.url ? session?.devices?.[definition.name] : undefined;
  if (running && !(deviceId in running)) {
    throw new RangeError(`no ${definition.name} device "${deviceId}" is running; running: ${Object.keys(running).join(", ") || "none"}`);
  }
  const config = parseSettings(settings, [definition], running ? { [definition.name]: running[deviceId] } : session?.config)[definition.name];
  const request = definition.command(deviceId, config, command, parseParams(pairs));

  const broker = parseBroker(url, tls);
  const client = createNodeClient({
    host: broker.host, port: broker.port, username: broker.username, password: broker.password, secure: broker.secure,
    clientId: `cmd-${process.pid}-${Date.now() % 100000}`, reconnect: false,
  });
  await client.connect();
  console.log(`> ${request.topic} q${request.qos}${request.retain ? " retained" : ""} ${requestBody(request)}`);
  const response = await sendRequest(client, request, timeoutMs);
  await client.disconnect();
  if (response === undefined) {
    console.error(`no response on ${request.responseTopic} within ${timeoutMs} ms (is \`npm start\` running, on ${url}?)`);
    return 1;
  }
  console.log(`< ${request.responseTopic} ${JSON.stringify(response, null, 2)}`);
  return 0;
}

main().then((code) => process.exit(code), (e) => {
  console.error(e instanceof RangeError ? e.message : e instanceof Error ? e.message : e);
  process.exit(2);
});
