// Opening a product's board (hosts/moddable/board.ts, what esp32/board.ts does with the SDK's
// classes), on Node with stand-in classes: each bus gets the class of its kind and its
// options, config `<bus>_<option>` overrides them, digital modes become the class's constants,
// and a missing kind or a bad option is refused with the bus named. Runs without the SDK.

import { strict as assert } from "node:assert";
import { busOptions, digitalMode, openBoard } from "../../hosts/moddable/board.js";
import type { BusClass } from "../../hosts/moddable/board.js";
import { products } from "../../modules/products/index.js";

class Serial { constructor(readonly options: Record<string, unknown>) {} }
class Digital {
  static readonly Input = 0;
  static readonly InputPullUp = 1;
  static readonly InputPullDown = 2;
  static readonly InputPullUpDown = 3;
  static readonly Output = 8;
  static readonly OutputOpenDrain = 9;
  constructor(readonly options: Record<string, unknown>) {}
}
const CLASSES = { serial: Serial as BusClass, digital: Digital as unknown as BusClass };
const BOARD = {
  meter: { kind: "serial" as const, options: { port: 2, receive: 16, transmit: 17, baud: 9600, address: 248 }, doc: "" },
  relay: { kind: "digital" as const, options: { pin: 23, mode: "output" }, doc: "" },
  relaySense: { kind: "digital" as const, options: { pin: 22, mode: "input" }, doc: "" },
};

describe("a product's board on a board's classes (hosts/moddable/board.ts)", () => {
  it("gives each bus the class of its kind and its default options, digital modes as the class's constants", () => {
    const buses = openBoard(BOARD, CLASSES, {});
    assert.deepEqual(buses.meter, { port: 2, receive: 16, transmit: 17, baud: 9600, address: 248, io: Serial });
    assert.deepEqual(buses.relay, { pin: 23, mode: Digital.Output, io: Digital });
    assert.deepEqual(buses.relaySense, { pin: 22, mode: Digital.Input, io: Digital });
  });

  it("overrides an option from config <bus>_<option> (numbers from mcconfig's text), adds new ones, and leaves other buses alone", () => {
    const buses = openBoard(BOARD, CLASSES, { meter_receive: "4", meter_baud: 4800, meter_flow: "none", relaySense_mode: "input_pulldown", relay_pin: "5", broker: "mqtt://x", tls: { DHE_RSA: false } });
    assert.deepEqual(buses.meter, { port: 2, receive: 4, transmit: 17, baud: 4800, address: 248, flow: "none", io: Serial });
    assert.deepEqual(buses.relay, { pin: 5, mode: Digital.Output, io: Digital });
    assert.deepEqual(buses.relaySense, { pin: 22, mode: Digital.InputPullDown, io: Digital });
  });

  it("refuses a number option given text, an unknown digital mode, and a kind the image has no class for, naming the bus", () => {
    assert.throws(() => busOptions("meter", BOARD.meter.options, { meter_receive: "GPIO16" }), /config meter_receive must be a number, not "GPIO16"/);
    assert.throws(() => openBoard(BOARD, CLASSES, { relay_mode: "push" }), /relay_mode must be one of input, input_pullup, input_pulldown, input_pullupdown, output, output_opendrain, not "push"/);
    assert.throws(() => digitalMode("x", Serial as BusClass, "output"), /x_mode must be one of/);
    assert.throws(() => openBoard(BOARD, { serial: Serial as BusClass }, {}), /bus relay: this image has no digital class/);
  });

  it("opens every product's board spec on classes for its kinds, each bus with its defaults", () => {
    for (const definition of products) {
      const kinds = new Set(Object.values(definition.board).map((b) => b.kind));
      const classes = Object.fromEntries([...kinds].map((k) => [k, k === "digital" ? Digital : Serial])) as Record<string, BusClass>;
      const buses = openBoard(definition.board, classes, {});
      assert.deepEqual(Object.keys(buses), Object.keys(definition.board), definition.name);
      for (const [name, spec] of Object.entries(definition.board)) {
        const { io, ...options } = buses[name];
        assert.equal(io, classes[spec.kind]);
        assert.deepEqual(options, spec.kind === "digital" ? { ...spec.options, mode: digitalMode(name, Digital as unknown as BusClass, spec.options.mode) } : spec.options, `${definition.name} ${name}`);
      }
    }
  });
});
