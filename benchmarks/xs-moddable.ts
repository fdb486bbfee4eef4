// Our MQTT client against Moddable's own ECMA-419 MQTT client, both on the real XS engine
// (xsnap, through the same bridge: hosts/xsnap's socket, timer and clock), the same
// exchange against the same mosquitto, metered per phase:
//   1. create + connect: the client is constructed, opens its socket, sends CONNECT; ends at CONNACK
//   2. one QoS 1 publish of 64 bytes: the call to the PUBACK
//   3. keepalive: 20 s of idle virtual time with keepalive 20 s, in 1 s steps: one PINGREQ/PINGRESP each
// Each (client, run) is a fresh xsnap worker. Prints computrons and heap growth (slots and
// allocated bytes) per phase, median and spread over the runs, the ratio ours/Moddable's,
// and whether the bytes each client put on the wire are identical.
//
//   MODDABLE=/path/to/moddable npm run bench:xs
//   (or: npx tsc -p tsconfig.json && node build/benchmarks/xs-moddable.js)
//
// Moddable's client is read from $MODDABLE/examples/io/tcp/mqttclient/mqttclient.js at run
// time and bundled with esbuild into the worker; its host modules ("timer", "time") are
// shimmed by benchmarks/xs-moddable/. Without MODDABLE it prints "skipped" and exits 0.
//
// Environment:
//   BENCH_XS_RUNS     fresh workers per client (default 3, at least 3)
//   BENCH_XS_PROFILE  also print the in-crank profile of our client's sub-steps (default on; 0 turns it off)

import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { Decoder } from "../modules/mqtt/decode.js";
import { PACKET_NAMES } from "../modules/mqtt/packets.js";
import { Mosquitto } from "../tests/harness/mosquitto.js";
import { XsWorker, bundleForXs } from "../tests/harness/xsnap.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

const KEEPALIVE_S = 20;
const IDLE_MS = KEEPALIVE_S * 1000;
const STEP_MS = 1_000;
const CLIENT_ID = "xs-bench-0001";
const TOPIC = "xs/bench/telemetry";
const PAYLOAD = new TextEncoder().encode("x".repeat(64));
/** Our client's first packet id; Moddable's is given the same, so the PUBLISH bytes can match. */
const PACKET_ID = 1;

type ClientName = "ours" | "moddable";
type PhaseName = "connect" | "publish" | "ping";
const PHASES: [PhaseName, string][] = [
  ["connect", "create + connect (to CONNACK)"],
  ["publish", "QoS 1 publish, 64 B (to PUBACK)"],
  ["ping", `keepalive ${KEEPALIVE_S} s, ${IDLE_MS / 1000} s idle (1 ping)`],
];

interface Phase {
  cranks: number;
  compute: number;
  slots: number;
  bytes: number;
  out: Uint8Array;
  in: Uint8Array;
  packets: { out: string[]; in: string[] };
  /** Calls XS made to the host (socket write, timer set/clear, job done...), by op. */
  calls: Record<string, number>;
}
type Run = Record<PhaseName, Phase> & { load: number; noop: number };

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

async function bundle(mqttclient: string): Promise<string> {
  const shims: Record<string, string> = {
    "moddable:mqttclient": mqttclient,
    timer: path.join(root, "benchmarks/xs-moddable/timer.ts"),
    time: path.join(root, "benchmarks/xs-moddable/time.ts"),
  };
  return bundleForXs("benchmarks/xs-moddable/worker.ts", [{
    name: "moddable",
    setup(build) {
      build.onResolve({ filter: /^(moddable:mqttclient|timer|time)$/ }, (a) => ({ path: shims[a.path]! }));
    },
  }]);
}

async function measure(code: string, client: ClientName, port: number): Promise<Run> {
  let phaseOut: Uint8Array[] = [];
  let phaseIn: Uint8Array[] = [];
  const decoders = { out: new Decoder(), in: new Decoder() };
  let packets = { out: [] as string[], in: [] as string[] };
  const count = { out: 0, in: 0, pingreq: 0, pingresp: 0 };
  let calls: Record<string, number> = {};
  const xs = await XsWorker.start({
    onCall: (c) => { calls[c.op] = (calls[c.op] ?? 0) + 1; },
    clock: "virtual",
    virtualStart: 1_000_000,
    bundle: code,
    tap: (_socket, direction, bytes) => {
      (direction === "out" ? phaseOut : phaseIn).push(Uint8Array.from(bytes));
      for (const p of decoders[direction].push(bytes)) {
        const name = PACKET_NAMES[p.type]!;
        packets[direction].push(name);
        if (name === "PINGREQ") count.pingreq++;
        if (name === "PINGRESP") count.pingresp++;
      }
    },
  });
  try {
    const load = xs.cranks[0]!.compute;
    let from = xs.cranks.length;
    await xs.job("noop");
    const noop = xs.meterSince(from).compute;

    const phase = async (body: () => Promise<void>): Promise<Phase> => {
      phaseOut = [];
      phaseIn = [];
      packets = { out: [], in: [] };
      calls = {};
      from = xs.cranks.length;
      const before = xs.cranks[from - 1]!;
      await body();
      await xs.until();
      const m = xs.meterSince(from);
      return {
        cranks: m.cranks, compute: m.compute, slots: m.heapGrowth, bytes: m.allocate - before.allocate,
        out: concat(phaseOut), in: concat(phaseIn), packets: { out: [...packets.out], in: [...packets.in] }, calls: { ...calls },
      };
    };
    const p = client === "ours" ? "ours" : "mod";
    const connect = await phase(async () => {
      await xs.job(`${p}.connect`, {
        options: client === "ours"
          ? { host: "127.0.0.1", port, clientId: CLIENT_ID, keepalive: KEEPALIVE_S, reconnect: false }
          : { host: "127.0.0.1", port, id: CLIENT_ID, keepAlive: KEEPALIVE_S * 1000 },
      });
    });
    const publish = await phase(async () => {
      await xs.job(`${p}.publish`, { topic: TOPIC, qos: 1, id: PACKET_ID }, PAYLOAD);
    });
    const ping = await phase(async () => {
      for (let t = 0; t < IDLE_MS; t += STEP_MS) {
        await xs.advance(STEP_MS);
        // A PINGREQ just sent: let the PINGRESP arrive before time moves on.
        await xs.until(() => count.pingresp === count.pingreq);
      }
    });
    const end = await xs.job<{ errors: string[] }>(`${p}.disconnect`);
    if (end.result.errors.length || xs.errors.length) throw new Error(`${client}: ${[...end.result.errors, ...xs.errors].join("; ")}`);
    return { load, noop, connect, publish, ping };
  } finally {
    await xs.dispose();
  }
}

// ---- statistics and printing ----

const n = (x: number): string => Math.round(x).toLocaleString("en-US");

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** "median" when all runs agree, else "median (min..max)". */
function stat(xs: number[]): string {
  const lo = Math.min(...xs), hi = Math.max(...xs);
  return lo === hi ? n(lo) : `${n(median(xs))} (${n(lo)}..${n(hi)})`;
}

function ratio(a: number[], b: number[]): string {
  const mb = median(b);
  return mb === 0 ? (median(a) === 0 ? "=" : "n/a") : `${(median(a) / mb).toFixed(2)}x`;
}

function table(head: string[], body: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  return [line(head), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(line)].join("\n");
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

function wireReport(ours: Run, mod: Run): string[] {
  const lines: string[] = [];
  for (const [key, label] of PHASES) {
    for (const dir of ["out", "in"] as const) {
      const a = ours[key][dir], b = mod[key][dir];
      const names = `${ours[key].packets[dir].join(",") || "-"}`;
      if (Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0) {
        lines.push(`  ${label}, ${dir === "out" ? "client->broker" : "broker->client"}: identical, ${a.length} B [${names}]${a.length <= 96 ? ` ${hex(a)}` : ""}`);
      } else {
        let at = 0;
        while (at < Math.min(a.length, b.length) && a[at] === b[at]) at++;
        lines.push(`  ${label}, ${dir === "out" ? "client->broker" : "broker->client"}: DIFFER at byte ${at} (ours ${a.length} B [${names}], Moddable's ${b.length} B [${mod[key].packets[dir].join(",") || "-"}])`);
        lines.push(`    ours:      ${hex(a)}`);
        lines.push(`    Moddable:  ${hex(b)}`);
      }
    }
  }
  return lines;
}

async function main(): Promise<void> {
  const sdk = process.env.MODDABLE;
  if (!sdk) {
    console.log("skipped: MODDABLE is not set");
    return;
  }
  const mqttclient = path.join(sdk, "examples/io/tcp/mqttclient/mqttclient.js");
  if (!fs.existsSync(mqttclient)) {
    console.log(`skipped: ${mqttclient} not found (MODDABLE=${sdk})`);
    return;
  }
  const runs = Math.max(3, Number(process.env.BENCH_XS_RUNS ?? 3) || 3);
  let sdkVersion = "";
  try {
    const git = (...args: string[]): string => execFileSync("git", ["-C", sdk, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    sdkVersion = `${git("describe", "--tags", "--always")} ${git("rev-parse", "--short", "HEAD")}`;
    if (git("status", "--porcelain", "--", "examples/io/tcp/mqttclient")) sdkVersion += ", examples/io/tcp/mqttclient modified";
  } catch {
    // not a git checkout
  }

  const code = await bundle(mqttclient);
  const broker = await Mosquitto.start();
  const results: Record<ClientName, Run[]> = { ours: [], moddable: [] };
  let steps: { step: string; first: number; again: number; slots?: number }[] = [];
  const noopSlots: number[] = [];
  const fakes: Record<ClientName, Record<"connect" | "publish", { compute: number; harness: number }>[]> = { ours: [], moddable: [] };
  try {
    for (let r = 0; r < runs; r++) {
      // Alternate which client goes first.
      const order: ClientName[] = r % 2 ? ["moddable", "ours"] : ["ours", "moddable"];
      for (const c of order) results[c].push(await measure(code, c, broker.port));
    }
    if (process.env.BENCH_XS_PROFILE !== "0") {
      for (let r = 0; r < runs; r++) {
        for (const c of ["ours", "moddable"] as ClientName[]) {
          const xs = await XsWorker.start({ clock: "virtual", bundle: code });
          try {
            const connect = (await xs.job<{ compute: number; harness: number }>("profile.fake", { client: c, phase: "connect" })).result;
            const publish = (await xs.job<{ compute: number; harness: number }>("profile.fake", { client: c, phase: "publish" })).result;
            fakes[c].push({ connect, publish });
          } finally {
            await xs.dispose();
          }
        }
      }
      const xs = await XsWorker.start({ clock: "virtual", bundle: code });
      try {
        steps = (await xs.job<typeof steps>("profile.steps")).result;
        // Heap growth of each step: its own crank's, less a job's that does nothing.
        const growth = (): number => xs.cranks[xs.cranks.length - 1]!.currentHeapCount - xs.cranks[xs.cranks.length - 2]!.currentHeapCount;
        for (let i = 0; i < 3; i++) {
          await xs.job("noop");
          noopSlots.push(growth());
        }
        const noop = median(noopSlots);
        for (let i = 0; i < steps.length; i++) {
          await xs.job("profile.setup", { index: i });
          await xs.job("profile.run", { index: i });
          steps[i]!.slots = growth() - noop;
        }
      } finally {
        await xs.dispose();
      }
    }
  } finally {
    await broker.dispose();
  }

  const O = results.ours, M = results.moddable;
  const col = (rs: Run[], k: PhaseName, f: keyof Phase): number[] => rs.map((x) => x[k][f] as number);
  console.log(`\nXS (xsnap) meters: our client vs Moddable's ECMA-419 MQTT client${sdkVersion ? ` (Moddable SDK ${sdkVersion})` : ""}`);
  console.log(`mosquitto on 127.0.0.1:${broker.port}; ${runs} fresh workers per client; virtual clock; client id "${CLIENT_ID}", topic "${TOPIC}", 64 B payload`);
  console.log("median over the runs, (min..max) when they differ; heap growth = slots in use (currentHeapCount) and bytes allocated by XS over the phase\n");
  const body: string[][] = [];
  for (const [key, label] of PHASES) {
    body.push([
      label,
      `${O[0]![key].cranks}/${M[0]![key].cranks}`,
      `${Object.values(O[0]![key].calls).reduce((a, b) => a + b, 0)}/${Object.values(M[0]![key].calls).reduce((a, b) => a + b, 0)}`,
      stat(col(O, key, "compute")), stat(col(M, key, "compute")), ratio(col(O, key, "compute"), col(M, key, "compute")),
      stat(col(O, key, "slots")), stat(col(M, key, "slots")), ratio(col(O, key, "slots"), col(M, key, "slots")),
      stat(col(O, key, "bytes")), stat(col(M, key, "bytes")),
    ]);
  }
  console.log(table(
    ["phase", "cranks o/M", "host calls o/M", "computrons ours", "Moddable", "ours/M", "slots ours", "Moddable", "ours/M", "alloc B ours", "Moddable"],
    body,
  ));
  const all = [...O, ...M];
  const same = (f: keyof Phase): boolean => PHASES.every(([k]) => new Set(O.map((x) => x[k][f])).size === 1 && new Set(M.map((x) => x[k][f])).size === 1);
  console.log(`\nbridge alone (a job that does nothing): ${stat(all.map((x) => x.noop))} computrons; evaluating the bundle: ${stat(all.map((x) => x.load))}`);
  console.log(`computrons ${same("compute") ? "identical in every run (deterministic)" : "NOT identical across runs (see the ranges)"}; slots ${same("slots") ? "identical in every run" : "NOT identical across runs"}`);
  if (all.every((x) => PHASES.every(([k]) => x[k].bytes === 0))) {
    console.log("alloc B: XS's allocate figure did not move in any phase (the growth fits in the heap xsnap reserved at start); a slot is 32 B on 64-bit XS, 16 B on ESP32");
  }
  const callList = (c: Record<string, number>): string => Object.entries(c).map(([k, v]) => `${k} ${v}`).join(", ");
  console.log("host calls per phase (each a bridge round trip; on a device a native call):");
  for (const [key, label] of PHASES) console.log(`  ${label}: ours ${callList(O[0]![key].calls)}; Moddable's ${callList(M[0]![key].calls)}`);
  console.log("\nwire bytes, ours vs Moddable's (first run):");
  for (const l of wireReport(O[0]!, M[0]!)) console.log(l);
  if (steps.length) {
    console.log("\nthe clients without the bridge: the same phase inside one crank on an in-XS socket and timer (benchmarks/xs-moddable/fake.ts)");
    const fb: string[][] = [];
    for (const key of ["connect", "publish"] as const) {
      const o = fakes.ours.map((f) => f[key].compute), m = fakes.moddable.map((f) => f[key].compute);
      fb.push([PHASES.find(([k]) => k === key)![1], stat(o), stat(m), ratio(o, m), `${n(fakes.ours[0]![key].harness)}/${n(fakes.moddable[0]![key].harness)}`]);
    }
    console.log(table(["phase", "computrons ours", "Moddable", "ours/M", "harness turns subtracted o/M"], fb));
    console.log(`\nour client's sub-steps, each alone: computrons inside one crank (in-crank meter, its own cost subtracted), the first time in a fresh worker and again; slots: its crank's heap growth less a no-op job's (${noopSlots.join(", ")})`);
    console.log(table(["step", "computrons", "again", "slots"], steps.map((p) => [p.step, n(p.first), n(p.again), n(p.slots ?? NaN)])));
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
