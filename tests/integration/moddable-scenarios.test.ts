// Moddable's MQTT test scenarios on Node (the same file runs on XS in tests/xs).

import { createNodeClient } from "../../hosts/node/client.js";
import { scenarios } from "../scenarios/moddable-mqtt.js";
import type { ScenarioHost } from "../scenarios/moddable-mqtt.js";
import { startScenarioBrokers } from "../harness/scenario-brokers.js";
import type { ScenarioBrokers } from "../harness/scenario-brokers.js";

describe("Moddable MQTT scenarios on Node (mosquitto)", function () {
  let brokers: ScenarioBrokers;
  let host: ScenarioHost;
  let count = 0;
  before(async () => {
    brokers = await startScenarioBrokers();
    host = {
      broker: brokers.broker,
      client: (options) => createNodeClient(options),
      delay: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      unique: () => `${process.pid}-${++count}`,
    };
  });
  after(() => brokers?.dispose());

  for (const scenario of scenarios) {
    it(scenario.name, () => scenario.run(host));
  }
});
