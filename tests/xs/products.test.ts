// The five products on the XS engine (xsnap), each on its simulated hardware against aedes:
// the device connects and publishes, every message it sends keeps its product's topic table
// and schemas, and the companion's example command gets its answer.

import assert from "node:assert/strict";
import { startAedes } from "../harness/aedes.js";
import type { AedesHandle } from "../harness/aedes.js";
import { XsWorker } from "../harness/xsnap.js";
import { SchemaTap } from "../products/harness.js";
import { client, closeAll } from "../integration/util.js";
import { products } from "../../modules/products/index.js";
import type { Json } from "../../modules/device/commands.js";
import { topicMatches } from "../../modules/mqtt/topic.js";

for (const definition of products) {
  describe(`${definition.name} on XS (xsnap) against aedes`, function () {
    this.timeout(30_000);
    let broker: AedesHandle;
    let xs: XsWorker;
    let tap: SchemaTap;
    const deviceId = definition.deviceId(0);
    const isDevice = (id: string): boolean => !id.startsWith("it-");

    before(async () => {
      broker = await startAedes();
      tap = new SchemaTap(broker, definition.name, isDevice);
      xs = await XsWorker.start();
    });
    after(async () => {
      await closeAll();
      const errors = xs.errors.slice();
      await xs.dispose();
      await broker.close();
      assert.deepEqual(errors, [], `XS reported: ${errors.join("; ")}\nlogs: ${xs.logs.join("\n")}`);
    });
    afterEach(() => tap.assertAllValid());

    it("boots, connects and publishes messages that keep the product's contract", async () => {
      await xs.job("product.start", { product: definition.name, deviceId, port: broker.port });
      await tap.waitFor();
    });

    it("answers the companion's example command", async () => {
      const config = definition.defaults;
      const request = definition.command(deviceId, config, definition.example.command, definition.example.params);
      const peer = client(broker.port);
      await peer.connect();
      const answer = new Promise<Json>((resolve) => {
        peer.on("message", (m) => {
          if (!topicMatches(request.responseTopic, m.topic)) return;
          const payload = JSON.parse(new TextDecoder().decode(m.payload)) as Json;
          if (request.isResponse(payload)) resolve(payload);
        });
      });
      await peer.subscribe(request.responseTopic, { qos: 1 });
      await peer.publish(request.topic, JSON.stringify(request.payload), { qos: request.qos, retain: request.retain ?? false });
      const response = await answer;
      assert.ok(response !== null && typeof response === "object", JSON.stringify(response));
      await xs.job("product.stop", { deviceId });
    });
  });
}
