// Opening a product's board: each bus of its BoardSpec becomes a provider `{ io: Class,
// ...options }` for the class of its kind, its default options overridden by config keys
// `<bus>_<option>` (mcconfig `meter_receive=16`). Free of platform imports, so Node tests it
// (tests/moddable/board.test.ts); esp32/board.ts hands it the SDK's classes.

import type { BoardSpec, BusKind, Buses } from "../../modules/drivers/io.js";

export type BusClass = new (options: Record<string, unknown>) => unknown;
/** The class for each bus kind an image offers. */
export type BusClasses = Partial<Record<BusKind, BusClass>>;

/** A digital bus's `mode` by name (the BoardSpec's words) -> the ECMA-419 Digital constant. */
const DIGITAL_MODES: Record<string, string> = {
  input: "Input",
  input_pullup: "InputPullUp",
  input_pulldown: "InputPullDown",
  input_pullupdown: "InputPullUpDown",
  output: "Output",
  output_opendrain: "OutputOpenDrain",
};

/**
 * A bus's options: its defaults, each overridden by config `<bus>_<option>`, and options the
 * defaults lack added the same way (`flow_filter=1000`). Text that reads as a number becomes
 * one; a default that is a number takes numbers only.
 */
export function busOptions(bus: string, defaults: Readonly<Record<string, number | string>>, config: Readonly<Record<string, unknown>>): Record<string, number | string> {
  const options: Record<string, number | string> = { ...defaults };
  const prefix = `${bus}_`;
  for (const [key, raw] of Object.entries(config)) {
    if (!key.startsWith(prefix) || (typeof raw !== "string" && typeof raw !== "number")) continue;
    const option = key.slice(prefix.length);
    const text = String(raw).trim();
    const numeric = text !== "" && Number.isFinite(Number(text));
    if (typeof defaults[option] === "number" && !numeric) throw new RangeError(`config ${key} must be a number, not "${String(raw)}"`);
    options[option] = numeric ? Number(text) : text;
  }
  return options;
}

/** The Digital class's constant for a mode given by name (or already a number). */
export function digitalMode(bus: string, io: BusClass, mode: number | string): number {
  if (typeof mode === "number") return mode;
  const constant = DIGITAL_MODES[mode];
  const value = constant === undefined ? undefined : (io as unknown as Record<string, unknown>)[constant];
  if (typeof value !== "number") throw new RangeError(`${bus}_mode must be one of ${Object.keys(DIGITAL_MODES).join(", ")}, not "${mode}"`);
  return value;
}

/** The board's buses on these classes; throws a RangeError naming the bus for a kind the image lacks or a bad option. */
export function openBoard(board: BoardSpec, classes: BusClasses, config: Readonly<Record<string, unknown>>): Buses {
  const buses: Buses = {};
  for (const [name, spec] of Object.entries(board)) {
    const io = classes[spec.kind];
    if (!io) throw new RangeError(`bus ${name}: this image has no ${spec.kind} class (it has ${Object.keys(classes).join(", ")})`);
    const options = busOptions(name, spec.options, config);
    if (spec.kind === "digital" && options.mode !== undefined) options.mode = digitalMode(name, io, options.mode);
    buses[name] = { ...options, io };
  }
  return buses;
}
