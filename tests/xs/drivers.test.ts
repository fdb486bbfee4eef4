// The driver suites of tests/drivers on the XS engine (xsnap): the same cases as on Node.

import assert from "node:assert/strict";
import { XsWorker, bundleForXs } from "../harness/xsnap.js";
import { suites } from "../drivers/index.js";

describe("drivers on XS (xsnap)", function () {
  this.timeout(60_000);
  let xs: XsWorker;

  before(async () => {
    xs = await XsWorker.start({ bundle: await bundleForXs("tests/drivers/entry.ts") });
    const { result } = await xs.job<{ name: string; cases: string[] }[]>("suites.list", {});
    assert.deepEqual(result, suites.map((s) => ({ name: s.name, cases: s.cases.map((c) => c.name) })), "XS sees the same cases");
  });
  after(async () => {
    const errors = xs?.errors.slice() ?? [];
    await xs?.dispose();
    assert.deepEqual(errors, []);
  });

  for (const suite of suites) {
    describe(suite.name, () => {
      for (const c of suite.cases) it(c.name, async () => { await xs.job("suites.run", { suite: suite.name, case: c.name }); });
    });
  }
});
