// The dashboard console's forms: for each command of a product, its fields. The names (and
// which are required) come from the command's usage line, the keys the companion takes; the
// types, ranges, choices and descriptions from the JSON Schema of the message the command
// sends (modules/products/<name>/schemas, a "subscribe" entry of index.json), read once at
// server start. A key the schema does not name (battery-hawk's mac, say) is a plain text field.

import * as fs from "node:fs";
import * as path from "node:path";
import type { Json } from "../../../modules/device/commands.js";
import type { ProductDefinition } from "../../../modules/device/product.js";

export interface Field {
  name: string;
  required: boolean;
  /** The usage line's hint for the value, e.g. "0-100" or "<units, 0 to 1e9>". */
  hint: string;
  type?: "number" | "integer" | "string" | "boolean";
  enum?: Json[];
  minimum?: number;
  maximum?: number;
  pattern?: string;
  description?: string;
}

export interface CommandForm {
  usage: string;
  /** The schema file of the message the command sends, and its topic pattern, when found. */
  schema?: string;
  topic?: string;
  description?: string;
  fields: Field[];
}

type Schema = { [key: string]: Json };

interface IndexEntry {
  message: string;
  schema: string;
  topic: string;
  direction: string;
  match?: Record<string, Json>;
}

/** Each command's form; a product without schemas (or unreadable ones) gets usage-only forms. */
export function commandForms(product: ProductDefinition, schemasDir: string): Record<string, CommandForm> {
  const inbound = readInbound(schemasDir);
  const forms: Record<string, CommandForm> = {};
  for (const [name, usage] of Object.entries(product.commands)) {
    const found = schemaFor(name, inbound);
    const fields = usageKeys(usage).map(({ name: key, required, hint }) => {
      const field: Field = { name: key, required, hint };
      const prop = found && findProperty(found.schema, key);
      if (prop) describe(field, prop);
      return field;
    });
    forms[name] = { usage, fields };
    if (found) {
      forms[name].schema = found.entry.schema;
      forms[name].topic = found.entry.topic;
      if (typeof found.schema.description === "string") forms[name].description = found.schema.description;
    }
  }
  return forms;
}

function readInbound(dir: string): { entry: IndexEntry; schema: Schema }[] {
  try {
    const index = JSON.parse(fs.readFileSync(path.join(dir, "index.json"), "utf8")) as { messages: IndexEntry[] };
    return index.messages
      .filter((m) => m.direction === "subscribe")
      .map((entry) => ({ entry, schema: JSON.parse(fs.readFileSync(path.join(dir, entry.schema), "utf8")) as Schema }));
  } catch {
    return [];
  }
}

/** The command's message: the one index.json selects by command name, else the schema whose `command` names it, else by message name. */
function schemaFor(command: string, inbound: { entry: IndexEntry; schema: Schema }[]): { entry: IndexEntry; schema: Schema } | undefined {
  const dashed = command.replace(/_/g, "-");
  return inbound.find((m) => m.entry.match?.command === command) ??
    inbound.find((m) => {
      const c = (m.schema.properties as Schema | undefined)?.command as Schema | undefined;
      return c !== undefined && (c.const === command || (Array.isArray(c.enum) && c.enum.includes(command)));
    }) ??
    inbound.find((m) => m.entry.message === dashed || m.entry.message.endsWith(`-${dashed}`));
}

/** `key=hint` and `[key=hint]` (optional) in a usage line; a hint may be `<with spaces>`. */
export function usageKeys(usage: string): { name: string; required: boolean; hint: string }[] {
  const keys: { name: string; required: boolean; hint: string }[] = [];
  for (const m of usage.matchAll(/(\[)?([A-Za-z_][\w.]*)=(<[^>]*>|[^\s\]]+)/g)) {
    if (!keys.some((k) => k.name === m[2])) keys.push({ name: m[2], required: m[1] === undefined, hint: m[3].replace(/^<|>$/g, "") });
  }
  return keys;
}

/** The first property of that name, breadth first through nested objects. */
function findProperty(schema: Schema, name: string): Schema | undefined {
  const queue: Schema[] = [schema];
  while (queue.length) {
    const props = queue.shift()!.properties as Record<string, Schema> | undefined;
    if (!props) continue;
    if (props[name]) return props[name];
    for (const p of Object.values(props)) if (p && typeof p === "object") queue.push(p);
  }
  return undefined;
}

function describe(field: Field, prop: Schema): void {
  const types = Array.isArray(prop.type) ? prop.type : [prop.type];
  const type = types.find((t) => t === "number" || t === "integer" || t === "string" || t === "boolean");
  if (type) field.type = type as Field["type"];
  if (Array.isArray(prop.enum)) field.enum = prop.enum;
  else if (prop.const !== undefined) field.enum = [prop.const];
  if (typeof prop.minimum === "number") field.minimum = prop.minimum;
  if (typeof prop.maximum === "number") field.maximum = prop.maximum;
  if (typeof prop.pattern === "string") field.pattern = prop.pattern;
  if (typeof prop.description === "string") field.description = prop.description;
}
