// Every driver against its bus-level emulator, on Node (tests/xs/drivers.test.ts runs the same cases on XS).

import { suites } from "../drivers/index.js";

for (const suite of suites) {
  describe(`driver: ${suite.name}`, () => {
    for (const c of suite.cases) it(c.name, () => c.run());
  });
}
