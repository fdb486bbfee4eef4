// The driver suites on the XS engine: hosts/xsnap's job bridge, a job per case.

import { serveJobs } from "../../hosts/xsnap/jobs.js";
import { suites } from "./index.js";

serveJobs({
  "suites.list": () => ({ result: suites.map((s) => ({ name: s.name, cases: s.cases.map((c) => c.name) })) }),
  async "suites.run"(args) {
    const suite = suites.find((s) => s.name === args.suite);
    const test = suite?.cases.find((c) => c.name === args.case);
    if (!test) throw new Error(`no case ${String(args.suite)} / ${String(args.case)}`);
    await test.run();
  },
});
