// Moddable's MQTT scenarios on the XS engine (xsnap), against the same brokers as the
// Node runner (tests/integration/moddable-scenarios.test.ts), with the same names.

import assert from "node:assert/strict";
import { scenarios } from "../scenarios/moddable-mqtt.js";
import { startScenarioBrokers } from "../harness/scenario-brokers.js";
import type { ScenarioBrokers } from "../harness/scenario-brokers.js";
import { XsWorker } from "../harness/xsnap.js";

describe("Moddable MQTT scenarios on XS (xsnap, mosquitto)", function () {
  let brokers: ScenarioBrokers;
  let xs: XsWorker;
  before(async () => {
    brokers = await startScenarioBrokers();
    xs = await XsWorker.start();
  });
  after(async () => {
    await xs?.dispose();
    await brokers?.dispose();
  });
  afterEach(() => assert.deepEqual(xs.errors, [], xs.output()));

  for (const scenario of scenarios) {
    it(scenario.name, async () => {
      await xs.job("scenario", { name: scenario.name, broker: brokers.broker, prefix: `xs${process.pid}` });
    });
  }
});
