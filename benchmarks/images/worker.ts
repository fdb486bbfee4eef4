/// <reference path="../../hosts/xsnap/xsnap-globals.d.ts" />
// XS side of benchmarks/images.ts: one product's image as the lin build holds it (the product,
// its drivers, its emulators and the platform: modules/products/<name>/emulated.ts, to which
// the benchmark resolves ./product.js), on hosts/xsnap's bridged socket, timer and clock.
// Nothing of the companion, the tests or the other products is in the bundle. Jobs:
//   boot   the product on its emulated buses against the broker at args.port
//   gc     a full garbage collection: the crank's heap count is then the live slots
//   noop   nothing

import { emulated } from "./product.js";
import { simulate } from "../../modules/device/product.js";
import { Device } from "../../modules/device/device.js";
import { MqttClient } from "../../modules/mqtt/client.js";
import { prng } from "../../modules/device/prng.js";
import { MemorySettingsStore } from "../../modules/device/settings.js";
import { call, now } from "../../hosts/xsnap/bridge.js";
import { serveJobs } from "../../hosts/xsnap/jobs.js";
import { XsSocket } from "../../hosts/xsnap/socket.js";
import { xsTimer } from "../../hosts/xsnap/timer.js";

declare function gc(): void;

serveJobs({
  noop() {},
  gc() {
    gc();
  },
  boot(args) {
    const deviceId = emulated.deviceId(0);
    let count = 0;
    simulate(emulated, new Device({
      deviceId,
      config: { ...emulated.defaults },
      timer: xsTimer,
      now,
      settings: new MemorySettingsStore(),
      random: prng(1),
      log: (line) => call({ op: "log", line: `${deviceId} ${line}` }),
      createClient: (options) => new MqttClient({
        host: "127.0.0.1", port: args.port as number, reconnect: { initialMs: 500, maxMs: 10_000 },
        // The Moddable platform's outbox limits (hosts/moddable/platform.ts).
        outbox: { maxMessages: 100, maxBytes: 64 * 1024 },
        ...options, socket: { io: XsSocket }, timer: xsTimer, now, random: prng(++count),
      }),
    })).product.start();
  },
});
