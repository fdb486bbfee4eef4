// Size of the validators ajv's standalone code generation produces for each product's inbound
// messages (index.json entries with direction "subscribe"): the code that would be bundled into
// the firmware to check what a broker delivers.
//
//   npx tsc -p tsconfig.json && node build/benchmarks/schema-size.js [--all] [--out DIR]
//
//   --all      also measure the outbound (publish) schemas
//   --out DIR  write each generated module to DIR for inspection (never commit them)
//
// For each schema: the standalone ES module for that one validator, in bytes as generated
// ("raw"), minified and tree-shaken by esbuild ("min"; this drops the copy of the whole schema,
// descriptions included, that ajv emits but the code never reads), and gzip -9 of the raw code
// ("gzip"). Per product: the sum of the separate modules, and one module exporting all of the
// product's validators (helpers, regexps and runtime imports once). "imports" lists the ajv
// runtime modules the code needs besides itself (ucs2length, for minLength/maxLength); on the
// device those must be bundled too, and their sizes are listed at the end.
//
// Two ajv option sets, both draft-07 (default Ajv class), strict, allErrors false (stop at the
// first error, as a device would), code.source and code.esm:
//   default  ajv's defaults otherwise
//   compact  also inlineRefs false ($ref'd definitions become one shared function instead of
//            a copy per use), messages false (errors keep keyword, path and params but no
//            English message), and the schemas' annotations (title, description) removed
//            first: ajv keeps the schema object in the code where an error's params point into
//            it (enum's allowedValues), descriptions and all

import * as fs from "node:fs";
import { createRequire } from "node:module";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import AjvModule from "ajv";
import standaloneModule from "ajv/dist/standalone/index.js";
import { transformSync } from "esbuild";

const Ajv = AjvModule.default;
const standaloneCode = standaloneModule.default;

const here = path.dirname(fileURLToPath(import.meta.url));
const PRODUCTS_DIR = path.resolve(here, "../../modules/products");
const PRODUCTS = ["bess", "battery-hawk", "dese", "esp-sensors", "smart-meter"];

interface IndexEntry {
  message: string;
  schema: string;
  topic: string;
  direction: "publish" | "subscribe";
  qos: number;
  retain: boolean;
}

interface Size {
  raw: number;
  min: number;
  gzip: number;
  imports: string[];
}

function measure(code: string): Size {
  const raw = Buffer.byteLength(code);
  const min = Buffer.byteLength(transformSync(code, { minify: true, treeShaking: true, format: "esm", loader: "js" }).code);
  const gzip = gzipSync(code, { level: 9 }).length;
  const imports = [...new Set([...code.matchAll(/require\("([^"]+)"\)|from\s*"([^"]+)"/g)].map((m) => (m[1] ?? m[2])!))].sort();
  return { raw, min, gzip, imports };
}

const OPTION_SETS = {
  default: { options: {}, stripAnnotations: false },
  compact: { options: { inlineRefs: false, messages: false }, stripAnnotations: true },
} as const;
type OptionSet = keyof typeof OPTION_SETS;

type Schema = { [key: string]: unknown };
const ANNOTATIONS = new Set(["title", "description", "$comment", "examples"]);
const SCHEMA_MAPS = new Set(["properties", "definitions", "patternProperties"]);
const VALUES = new Set(["enum", "const", "required", "default"]);
/** The schema without annotation keywords (which do not affect validation). */
function stripAnnotations(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(stripAnnotations);
  if (typeof schema !== "object" || schema === null) return schema;
  const out: Schema = {};
  for (const [k, v] of Object.entries(schema)) {
    if (ANNOTATIONS.has(k)) continue;
    if (VALUES.has(k)) out[k] = v;
    else if (SCHEMA_MAPS.has(k)) out[k] = Object.fromEntries(Object.entries(v as Schema).map(([name, sub]) => [name, stripAnnotations(sub)]));
    else out[k] = stripAnnotations(v);
  }
  return out;
}

function newAjv(set: OptionSet) {
  return new Ajv({ strict: true, allErrors: false, code: { source: true, esm: true }, ...OPTION_SETS[set].options });
}

const args = process.argv.slice(2);
const all = args.includes("--all");
const outIdx = args.indexOf("--out");
const outDir = outIdx >= 0 ? args[outIdx + 1] : undefined;
if (outDir) fs.mkdirSync(outDir, { recursive: true });

const SETS = Object.keys(OPTION_SETS) as OptionSet[];
const rows: string[][] = [];
const totals: string[][] = [];
const runtimeModules = new Set<string>();
const cells = (x: Size) => [String(x.raw), String(x.min), String(x.gzip)];
for (const product of PRODUCTS) {
  const dir = path.join(PRODUCTS_DIR, product, "schemas");
  const index = JSON.parse(fs.readFileSync(path.join(dir, "index.json"), "utf8")) as { messages: IndexEntry[] };
  const entries = index.messages.filter((e) => all || e.direction === "subscribe");
  if (entries.length === 0) continue;
  const sums = SETS.map((): Size => ({ raw: 0, min: 0, gzip: 0, imports: [] }));
  const combined = SETS.map((set) => newAjv(set));
  const ids: Record<string, string> = {};
  for (const e of entries) {
    const schema = JSON.parse(fs.readFileSync(path.join(dir, e.schema), "utf8")) as { $id: string };
    const row = [product, e.message, e.direction === "subscribe" ? "in" : "out"];
    const imports = new Set<string>();
    SETS.forEach((set, i) => {
      const ajv = newAjv(set);
      const input = OPTION_SETS[set].stripAnnotations ? (stripAnnotations(schema) as Schema) : schema;
      const code = standaloneCode(ajv, ajv.compile(input));
      const s = measure(code);
      if (outDir) fs.writeFileSync(path.join(outDir, `${product}.${e.message}.${set}.mjs`), code);
      row.push(...cells(s));
      sums[i]!.raw += s.raw;
      sums[i]!.min += s.min;
      sums[i]!.gzip += s.gzip;
      s.imports.forEach((m) => (imports.add(m), runtimeModules.add(m)));
      combined[i]!.addSchema(input);
    });
    row.push([...imports].map((m) => m.replace("ajv/dist/runtime/", "")).join(" ") || "-");
    rows.push(row);
    ids[e.message.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())] = schema.$id;
  }
  const sumRow = [product, String(entries.length), "sum"];
  const oneRow = [product, String(entries.length), "one module"];
  SETS.forEach((set, i) => {
    const code = standaloneCode(combined[i]!, ids);
    if (outDir) fs.writeFileSync(path.join(outDir, `${product}.all.${set}.mjs`), code);
    sumRow.push(...cells(sums[i]!));
    oneRow.push(...cells(measure(code)));
  });
  totals.push(sumRow, oneRow);
}

function table(header: string[], body: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (r: string[]) => "| " + r.map((c, i) => (/^\d+$/.test(c) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(" | ") + " |";
  return [line(header), "|" + widths.map((w) => "-".repeat(w + 2)).join("|") + "|", ...body.map(line)].join("\n");
}

const sizeHeader = SETS.flatMap((set) => [`${set} raw`, `${set} min`, `${set} gzip`]);
console.log(`ajv standalone validators, ${all ? "all" : "inbound (subscribe)"} schemas, bytes\n`);
console.log(table(["product", "message", "dir", ...sizeHeader, "imports"], rows));
console.log(`\nper product: the sum of the separate modules, and one module exporting them all\n`);
console.log(table(["product", "validators", "", ...sizeHeader], totals));

if (runtimeModules.size > 0) {
  const require = createRequire(import.meta.url);
  console.log("\najv runtime modules the generated code imports\n");
  const rt = [...runtimeModules].sort().map((m) => [m, ...cells(measure(fs.readFileSync(require.resolve(m), "utf8")))]);
  console.log(table(["module", "raw", "min", "gzip"], rt));
}
