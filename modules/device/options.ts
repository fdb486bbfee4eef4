// A product's options from the host's configuration text (`--set key=value`, mcconfig
// `config`), parsed once by a declared spec into typed values. Unknown keys are refused with
// the list of known ones, so a typo never passes silently; a specification's own key names
// are accepted as aliases (battery-hawk's `topic_prefix` for `prefix`).

export type OptionSpec =
  | { type: "string"; default: string; pattern?: RegExp; aliases?: readonly string[]; doc: string }
  | { type: "number"; default: number; min?: number; max?: number; integer?: boolean; aliases?: readonly string[]; doc: string }
  | { type: "boolean"; default: boolean; aliases?: readonly string[]; doc: string };

export type OptionsSpec = Readonly<Record<string, OptionSpec>>;

export type OptionsOf<S extends OptionsSpec> = {
  -readonly [K in keyof S]: S[K] extends { type: "string" } ? string : S[K] extends { type: "number" } ? number : boolean;
};

/** Parses configuration text; throws a RangeError naming every bad or unknown key. */
export function readOptions<S extends OptionsSpec>(spec: S, text: Readonly<Record<string, string>>): OptionsOf<S> {
  const names = new Map<string, string>();
  for (const [key, s] of Object.entries(spec)) {
    names.set(key, key);
    for (const alias of s.aliases ?? []) names.set(alias, key);
  }
  const raw: Record<string, string> = {};
  const problems: string[] = [];
  for (const [given, value] of Object.entries(text)) {
    const key = names.get(given);
    if (key === undefined) problems.push(`unknown option "${given}"`);
    else if (raw[key] === undefined || raw[key] === value) raw[key] = value;
    // Hosts lay the given text over the defaults: a default never outvotes an alias's value.
    else if (raw[key] === String(spec[key].default)) raw[key] = value;
    else if (value !== String(spec[key].default)) problems.push(`"${given}" and another name for "${key}" disagree`);
  }
  const out: Record<string, string | number | boolean> = {};
  for (const [key, s] of Object.entries(spec)) {
    const value = raw[key];
    if (value === undefined) {
      out[key] = s.default;
      continue;
    }
    const problem = parse(s, value.trim(), out, key);
    if (problem) problems.push(`${key}=${JSON.stringify(value)}: ${problem}`);
  }
  if (problems.length) throw new RangeError(`${problems.join("; ")}. Options: ${describeOptions(spec)}`);
  return out as OptionsOf<S>;
}

/** Each option's default as text: what a host shows and may override. */
export function optionDefaults(spec: OptionsSpec): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, s] of Object.entries(spec)) out[key] = String(s.default);
  return out;
}

/** "key (doc)" for every option, with aliases. */
export function describeOptions(spec: OptionsSpec): string {
  return Object.entries(spec).map(([key, s]) => `${key}${s.aliases?.length ? ` (also ${s.aliases.join(", ")})` : ""}: ${s.doc}`).join("; ");
}

function parse(s: OptionSpec, value: string, out: Record<string, string | number | boolean>, key: string): string | undefined {
  switch (s.type) {
    case "string":
      if (s.pattern && !s.pattern.test(value)) return `must match ${s.pattern.source}`;
      out[key] = value;
      return undefined;
    case "boolean":
      if (value !== "true" && value !== "false") return "must be true or false";
      out[key] = value === "true";
      return undefined;
    case "number": {
      const n = value === "" ? NaN : Number(value);
      if (!Number.isFinite(n)) return "must be a number";
      if (s.integer && !Number.isInteger(n)) return "must be an integer";
      if (s.min !== undefined && n < s.min) return `must be at least ${s.min}`;
      if (s.max !== undefined && n > s.max) return `must be at most ${s.max}`;
      out[key] = n;
      return undefined;
    }
  }
}
