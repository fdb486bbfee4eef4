// Runs Moddable's MQTT scenarios (tests/scenarios/moddable-mqtt.ts) on the device or the
// simulator and traces one line per scenario; tests/moddable/lin.test.ts reads them.

import Timer from "timer";
import { scenarios } from "../../../tests/scenarios/moddable-mqtt.js";
import type { ScenarioBroker, ScenarioHost } from "../../../tests/scenarios/moddable-mqtt.js";
import { createModdableClient } from "../client.js";

export async function runScenarios(broker: ScenarioBroker, log: (line: string) => void): Promise<void> {
  let count = 0;
  const host: ScenarioHost = {
    broker,
    client: (options) => createModdableClient(options),
    delay: (ms) => new Promise((resolve) => { Timer.set(() => resolve(), ms); }),
    unique: () => `lin-${Date.now()}-${++count}`,
  };
  let passed = 0;
  for (const scenario of scenarios) {
    try {
      await scenario.run(host);
      passed++;
      log(`SCENARIO ${scenario.name} PASS`);
    } catch (e) {
      log(`SCENARIO ${scenario.name} FAIL ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  log(`SCENARIOS DONE ${passed}/${scenarios.length}`);
}
