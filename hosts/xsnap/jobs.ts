// The XS end of the driver's jobs (tests/harness/xsnap.ts's XsWorker.job()): a "job" event
// names a job and carries its args and a binary payload; the job's result or its error goes
// back in a "done" call. Shared by hosts/xsnap/main.ts and benchmarks/xs-moddable/worker.ts,
// which differ only in their tables of jobs.

import { MqttError } from "../../modules/mqtt/errors.js";
import { call, install, on } from "./bridge.js";

export type Args = Record<string, unknown>;
/** What a job returns: a JSON-able result and/or a binary one (e.g. a message payload). */
export type JobResult = { result?: unknown; bytes?: Uint8Array } | void;
export type Job = (args: Args, payload: Uint8Array) => Promise<JobResult> | JobResult;

/**
 * Runs each "job" event's job from `jobs` and answers with a "done" call (an MqttError's
 * code included), then installs the bridge. Shared by hosts/xsnap/main.ts and
 * benchmarks/xs-moddable/worker.ts.
 */
export function serveJobs(jobs: Record<string, Job>): void {
  on("job", (event, payload) => {
    const job = event.job;
    const run = jobs[event.name];
    Promise.resolve()
      .then(() => {
        if (!run) throw new Error(`no job ${event.name}`);
        return run(event.args, payload);
      })
      .then(
        (r) => {
          const { result, bytes } = r ?? {};
          call({ op: "done", job, ok: true, result }, bytes);
        },
        (e: unknown) => {
          const error = e instanceof Error ? e.message : String(e);
          call(e instanceof MqttError ? { op: "done", job, ok: false, error, code: e.code } : { op: "done", job, ok: false, error });
        },
      );
  });
  install();
}
