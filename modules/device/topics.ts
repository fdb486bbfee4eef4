// Topic tables: "devices/{org}/{device}/telemetry" filled from validated values, so an id
// can never inject a level separator or a wildcard into a topic.

export type TopicValues = Record<string, string>;

/** Throws RangeError when a value is empty or contains '/', '+', '#' or NUL. */
export function checkSegment(name: string, value: string): string {
  if (value === "" || /[/+#\u0000]/.test(value)) {
    throw new RangeError(`${name} must be a non-empty topic level without '/', '+', '#' or NUL: "${value}"`);
  }
  return value;
}

/** One message of a product's generated topic table (table.ts, from schemas/index.json). */
export interface TableEntry {
  readonly topic: string;
  readonly qos: 0 | 1 | 2;
  readonly retain: boolean;
  readonly direction: "publish" | "subscribe";
}

/** A message's topic filled in for one device, with its QoS and retain flag. */
export interface Route {
  readonly topic: string;
  readonly qos: 0 | 1 | 2;
  readonly retain: boolean;
}

/**
 * Fills a product's topic table for one device. Each value must match its placeholder's
 * pattern from index.json (a prefix may span levels); one without a pattern is a single
 * level. `root`, when given, is put in front of every topic: the documented per-device root
 * for products whose specified topics carry no device level (several devices on one broker).
 */
export function resolveTable<T extends Record<string, TableEntry>>(
  table: T, placeholders: Readonly<Record<string, string>>, values: TopicValues, root = "",
): { [K in keyof T]: Route } {
  if (root !== "") checkRoot(root);
  const filled: TopicValues = {};
  for (const [name, value] of Object.entries(values)) {
    const pattern = placeholders[name];
    if (pattern === undefined) checkSegment(name, value);
    else if (!new RegExp(pattern).test(value) || /[+#\u0000]/.test(value)) throw new RangeError(`${name} must match ${pattern}: "${value}"`);
    filled[name] = value;
  }
  const out = {} as { [K in keyof T]: Route };
  for (const key of Object.keys(table) as (keyof T)[]) {
    const entry = table[key];
    const topic = entry.topic.replace(/\{([a-z_]+)\}/gi, (_, name: string) => {
      const value = filled[name];
      if (value === undefined) throw new RangeError(`no value for {${name}} in ${entry.topic}`);
      return value;
    });
    out[key] = { topic: root === "" ? topic : `${root}/${topic}`, qos: entry.qos, retain: entry.retain };
  }
  return out;
}

/** A root is one or more topic levels, none empty, without wildcards. */
export function checkRoot(root: string): string {
  if (root.split("/").some((level) => level === "" || /[+#\u0000]/.test(level))) {
    throw new RangeError(`root must be topic levels without empty levels, '+', '#' or NUL: "${root}"`);
  }
  return root;
}
