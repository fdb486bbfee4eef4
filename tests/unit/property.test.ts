// Model-based property test of MqttClient + Session: seeded schedules of API calls, broker
// behaviours, transport faults and clock steps (property/generator.ts) drive the real client
// over an in-memory network against a scripted MQTT 3.1.1 broker (property/broker.ts); a
// reference model (property/model.ts) checks the invariants after every step and, after a
// quiesce phase, at the end of each schedule (property/run.ts).
//
//   PROPERTY_SCHEDULES=n   how many schedules (default 100,000), seeds PROPERTY_BASE.. (default 1)
//   PROPERTY_SEED=s        replays one seed and prints its full trace on failure
//                          (PROPERTY_VERBOSE=1 prints it even when it passes)
//   PROPERTY_IGNORE=a,b    does not record violations whose kind starts with a or b, to look
//                          past a known defect (never set by default)
//
// Failures are grouped by kind of violation; for each, a seed and its verbose trace (every
// packet both ways and every client event) are printed.

import assert from "node:assert/strict";
import { runSchedule, unhandled } from "./property/run.js";
import { ignoreKinds } from "./property/model.js";
import type { RunResult } from "./property/run.js";

const env = process.env;
const single = env.PROPERTY_SEED !== undefined ? Number(env.PROPERTY_SEED) : undefined;
const count = single !== undefined ? 1 : Number(env.PROPERTY_SCHEDULES ?? 100_000);
const base = single ?? Number(env.PROPERTY_BASE ?? 1);
ignoreKinds((env.PROPERTY_IGNORE ?? "").split(","));

/** A verbose trace of a flood runs to hundreds of lines: the summary keeps its ends. */
function trim(lines: string[], max: number): string[] {
  if (lines.length <= max) return lines;
  const head = Math.floor(max / 3);
  return [...lines.slice(0, head), `    ... ${lines.length - max} lines ...`, ...lines.slice(lines.length - (max - head))];
}

function report(r: RunResult, maxLines = Infinity): string {
  const c = r.config;
  const lines = [
    `seed ${r.seed}  (replay: PROPERTY_SEED=${r.seed} npx mocha build/tests/unit/property.test.js)`,
    `config: clean=${c.clean} keepalive=${c.keepalive}s pingTimeout=${c.pingTimeoutMs ?? "default"} connectTimeout=${c.connectTimeoutMs} ` +
      `reconnect=${JSON.stringify(c.reconnect)} window=${c.inflightWindow} maxPacketSize=${c.maxPacketSize} ` +
      `outbox=${JSON.stringify(c.outbox)} refuseRate=${c.refuseRate.toFixed(2)} grant=${c.grant} returnsRemaining=${c.returnsRemaining}`,
    ...r.violations.slice(0, 5).map((v) => `VIOLATION [${v.kind}] at ${v.step < 0 ? "quiesce" : `step ${v.step}`}: ${v.detail}`),
    "trace:",
    ...trim(r.trace, maxLines).map((t) => "  " + t),
  ];
  return lines.join("\n");
}

describe("MqttClient model-based property test", function () {
  this.timeout(600_000);

  it(`${count} seeded schedules keep the invariants${single !== undefined ? ` (seed ${single})` : ""}`, async () => {
    // Rejections the client leaves unhandled are attributed to the schedule that caused them.
    const saved = process.listeners("unhandledRejection");
    process.removeAllListeners("unhandledRejection");
    const catcher = (reason: unknown): void => { unhandled.push(reason); };
    process.on("unhandledRejection", catcher);
    const stackLimit = Error.stackTraceLimit;
    /** Per kind: the seeds where it was the first violation, and those where it occurred at all. */
    const kinds = new Map<string, { first: number[]; any: number[] }>();
    let failed = 0;
    const started = Date.now();
    const out: string[] = [];
    try {
      // Stack traces cost more than the rest: the client makes an MqttError for each rejection.
      if (single === undefined) Error.stackTraceLimit = 0;
      for (let seed = base; seed < base + count; seed++) {
        const r = await runSchedule(seed, single !== undefined);
        if (single !== undefined && env.PROPERTY_VERBOSE) console.log(report(r));
        if (!r.violations.length) continue;
        failed++;
        const seen = new Set<string>();
        r.violations.forEach((v, i) => {
          let k = kinds.get(v.kind);
          if (!k) kinds.set(v.kind, (k = { first: [], any: [] }));
          if (i === 0) k.first.push(seed);
          if (!seen.has(v.kind)) k.any.push(seed);
          seen.add(v.kind);
        });
      }
      if (!failed) return;
      Error.stackTraceLimit = stackLimit;
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      const sorted = [...kinds].sort((a, b) => b[1].first.length - a[1].first.length || b[1].any.length - a[1].any.length);
      out.push(`${failed} of ${count} schedules failed (${seconds} s); ${kinds.size} kinds of violation ` +
        "(schedules where it came first / anywhere; replay a seed with PROPERTY_SEED):");
      for (const [kind, k] of sorted) {
        out.push(`  ${kind}: ${k.first.length} / ${k.any.length}, e.g. seeds ${(k.first.length ? k.first : k.any).slice(0, 4).join(", ")}`);
      }
      // One full trace per kind that came first somewhere: the first such seed, re-run verbosely.
      for (const [kind, k] of sorted) {
        if (!k.first.length) continue;
        out.push("", `=== ${kind} ===`, report(await runSchedule(k.first[0], true), 150));
      }
    } finally {
      Error.stackTraceLimit = stackLimit;
      process.removeListener("unhandledRejection", catcher);
      for (const l of saved) process.on("unhandledRejection", l);
    }
    assert.fail(out.join("\n"));
  });
});
