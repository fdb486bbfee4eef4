// XS's own meters for our client (xsnap's per-crank computrons and heap figures) over
// three phases against mosquitto, on a virtual clock so the keepalive minute takes no
// time: connect (socket open to CONNACK), one QoS 1 publish (call to PUBACK), one idle
// minute with keepalive 20 s (three real PINGREQ/PINGRESP exchanges). Two runs in fresh
// workers must give the same computrons: the figures are printed to be compared across
// changes, which only means something if they are reproducible.

import assert from "node:assert/strict";
import { Decoder } from "../../modules/mqtt/decode.js";
import { PACKET_NAMES } from "../../modules/mqtt/packets.js";
import { Mosquitto } from "../harness/mosquitto.js";
import { XsWorker } from "../harness/xsnap.js";
import type { Meter } from "../harness/xsnap.js";

const KEEPALIVE_S = 20;
const IDLE_MS = 60_000;
const STEP_MS = 1_000;
/** 64 bytes, as in the throughput benchmark. */
const PAYLOAD = new TextEncoder().encode("x".repeat(64));

type Phase = Meter & { cranks: number; heapGrowth: number };
interface Run {
  phases: { load: Phase; bridge: Phase; connect: Phase; publish: Phase; idle: Phase };
  /** Packets per direction during the idle minute, by name. */
  idle: { out: Record<string, number>; in: Record<string, number> };
}

async function measure(port: number): Promise<Run> {
  // Count the packets on the wire, from the bytes the bridge carries.
  const decoders = { out: new Decoder(), in: new Decoder() };
  const seen = { out: {} as Record<string, number>, in: {} as Record<string, number> };
  const xs = await XsWorker.start({
    clock: "virtual",
    virtualStart: 1_000_000,
    tap: (_socket, direction, bytes) => {
      for (const p of decoders[direction].push(bytes)) {
        const name = PACKET_NAMES[p.type]!;
        seen[direction][name] = (seen[direction][name] ?? 0) + 1;
      }
    },
  });
  try {
    const load = xs.meterSince(0);
    let from = xs.cranks.length;
    await xs.job("noop");
    const bridge = xs.meterSince(from);
    await xs.job("client.create", {
      client: "m",
      // The same id in both runs: its length is part of what is computed.
      options: { host: "127.0.0.1", port, clientId: "xs-meter-0001", keepalive: KEEPALIVE_S, reconnect: false },
    });

    from = xs.cranks.length;
    await xs.job("client.connect", { client: "m" });
    await xs.until();
    const connect = xs.meterSince(from);

    from = xs.cranks.length;
    await xs.job("client.publish", { client: "m", topic: "xs/meter/telemetry", qos: 1 }, PAYLOAD);
    await xs.until();
    const publish = xs.meterSince(from);

    from = xs.cranks.length;
    const before = { out: { ...seen.out }, in: { ...seen.in } };
    for (let t = 0; t < IDLE_MS; t += STEP_MS) {
      await xs.advance(STEP_MS);
      // A PINGREQ just sent: let the broker's PINGRESP arrive before time moves on.
      await xs.until(() => (seen.in.PINGRESP ?? 0) === (seen.out.PINGREQ ?? 0));
    }
    const idle = xs.meterSince(from);
    const diff = (now: Record<string, number>, then: Record<string, number>): Record<string, number> =>
      Object.fromEntries(Object.entries(now).filter(([k, v]) => v !== (then[k] ?? 0)).map(([k, v]) => [k, v - (then[k] ?? 0)]));
    const idlePackets = { out: diff(seen.out, before.out), in: diff(seen.in, before.in) };
    if (process.env.XSNAP_VERBOSE) console.log(xs.cranks.slice(from));

    const state = await xs.job("client.state", { client: "m" });
    assert.deepEqual(state.result, { state: "connected", connected: true, errors: [], queued: 0 });
    await xs.job("client.disconnect", { client: "m" });
    assert.deepEqual(xs.errors, []);
    return { phases: { load, bridge, connect, publish, idle }, idle: idlePackets };
  } finally {
    await xs.dispose();
  }
}

function table(runs: Run[]): string {
  const rows: [string, keyof Run["phases"]][] = [
    ["evaluate the bundle (module set-up)", "load"],
    ["bridge alone: a job that does nothing", "bridge"],
    ["connect: socket open to CONNACK", "connect"],
    ["one QoS 1 publish, 64 B: call to PUBACK", "publish"],
    [`idle minute, keepalive ${KEEPALIVE_S} s (3 pings)`, "idle"],
  ];
  const n = (x: number): string => x.toLocaleString("en-US");
  const head = ["phase", "cranks", ...runs.map((_, i) => `compute #${i + 1}`), "allocate", "currentHeapCount", "(growth)"];
  const body = rows.map(([label, key]) => {
    const p = runs[0]!.phases[key];
    return [label, String(p.cranks), ...runs.map((r) => n(r.phases[key].compute)), n(p.allocate), n(p.currentHeapCount), key === "load" ? "" : `+${n(p.heapGrowth)}`];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  return [line(head), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(line)].join("\n");
}

describe("XS meters (xsnap, virtual clock, mosquitto)", function () {
  let broker: Mosquitto;
  before(async () => { broker = await Mosquitto.start(); });
  after(async () => { await broker?.dispose(); });

  it("connect, one QoS 1 publish and an idle keepalive minute: nonzero, pinging, the same twice", async () => {
    const runs = [await measure(broker.port), await measure(broker.port)];
    console.log(`\n      XS meters of our client (computrons summed over the phase's cranks; allocate and heap at its end)\n${
      table(runs).split("\n").map((l) => `      ${l}`).join("\n")}\n`);

    for (const run of runs) {
      // The idle minute carried the three keepalive exchanges and nothing else.
      assert.deepEqual(run.idle, { out: { PINGREQ: 3 }, in: { PINGRESP: 3 } });
      for (const [name, p] of Object.entries(run.phases)) {
        assert.ok(p.cranks > 0 && p.compute > 0 && p.allocate > 0 && p.currentHeapCount > 0, `${name}: ${JSON.stringify(p)}`);
      }
    }
    // Module set-up is boot time on a device: the five products, client and bridge together
    // took about 124,000 computrons; battery-hawk's AES S-box once searched its way to ten
    // million. A bound an order of magnitude up catches such a loop at load.
    assert.ok(runs[0]!.phases.load.compute < 1_000_000, `module set-up ${runs[0]!.phases.load.compute} computrons`);
    // Reproducible: the same cranks, the same computrons.
    const compute = (r: Run): Record<string, [number, number]> =>
      Object.fromEntries(Object.entries(r.phases).map(([k, p]) => [k, [p.cranks, p.compute]]));
    assert.deepEqual(compute(runs[1]!), compute(runs[0]!));
  });
});
