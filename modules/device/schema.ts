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

/** One Validator per schema, shared by every device of a fleet (a closure each would cost them all). */
const validators = new WeakMap<CompiledSchema, Validator>();

export function schemaValidator(compiled: CompiledSchema): Validator {
  let validator = validators.get(compiled);
  if (!validator) validators.set(compiled, validator = (value) => (compiled(value) ? undefined : describeSchemaError(compiled.errors?.[0])));
  return validator;
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
