// Turns an ajv standalone validator (generated into modules/products/<name>/validators.ts by
// scripts/gen-validators.mjs) into the device layer's Validator: undefined when valid,
// otherwise one readable reason naming the offending field.

import type { Validator } from "./commands.js";

export interface SchemaError {
  instancePath: string;
  keyword: string;
  params?: Record<string, unknown>;
  message?: string;
}

/** What ajv's standalone code exports for one schema. */
export type CompiledSchema = ((data: unknown) => boolean) & { errors?: SchemaError[] | null };

export function schemaValidator(compiled: CompiledSchema): Validator {
  return (value) => (compiled(value) ? undefined : describeSchemaError(compiled.errors?.[0]));
}

export function describeSchemaError(error: SchemaError | undefined): string {
  if (!error) return "invalid";
  const where = error.instancePath === "" ? "message" : error.instancePath.slice(1).replace(/\//g, ".");
  const extra = error.params?.additionalProperty ?? error.params?.missingProperty;
  const detail = error.keyword === "additionalProperties" ? `unknown field "${String(extra)}"`
    : error.keyword === "required" ? `missing field "${String(extra)}"`
    : error.message ?? error.keyword;
  return `${where}: ${detail}`;
}
