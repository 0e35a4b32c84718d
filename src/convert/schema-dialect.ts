/**
 * A tool's JSON Schema, cut down to what a vendor accepts (profiles.ts `SchemaDialect`). Pure; the input is never
 * changed, and a schema that needs no change is returned as the same object (the common case costs one walk).
 *
 * Only keyword positions are touched: the walk follows the places where JSON Schema puts subschemas, so a
 * property *named* `format` or `$schema` under `properties` is left alone.
 */
import type { SchemaDialect } from "./profiles.ts"

type Json = Record<string, unknown>

const isObject = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value)

/** Keywords whose value is one subschema. */
const ONE = ["items", "additionalItems", "not", "if", "then", "else", "contains", "additionalProperties", "propertyNames"]
/** Keywords whose value is a list of subschemas. */
const MANY = ["anyOf", "oneOf", "allOf", "prefixItems", "items"]
/** Keywords whose value maps names to subschemas. */
const NAMED = ["properties", "patternProperties", "$defs", "definitions", "dependentSchemas"]

const isNeeded = (dialect: SchemaDialect): boolean =>
  dialect.dropKeywords.length > 0 || dialect.stringFormats !== undefined

export const adaptSchema = (schema: Json, dialect: SchemaDialect): Json =>
  isNeeded(dialect) ? adapt(schema, dialect) : schema

const adapt = (schema: Json, dialect: SchemaDialect): Json => {
  let out: Json | undefined
  const set = (key: string, value: unknown) => {
    out ??= { ...schema }
    if (value === undefined) delete out[key]
    else out[key] = value
  }
  for (const key of dialect.dropKeywords) if (key in schema) set(key, undefined)
  if (dialect.stringFormats !== undefined && typeof schema.format === "string" && isStringSchema(schema) &&
    !dialect.stringFormats.includes(schema.format)) {
    set("format", undefined)
  }
  for (const key of ONE) {
    const value = out === undefined ? schema[key] : out[key]
    if (isObject(value)) {
      const adapted = adapt(value, dialect)
      if (adapted !== value) set(key, adapted)
    }
  }
  for (const key of MANY) {
    const value = out === undefined ? schema[key] : out[key]
    if (!Array.isArray(value)) continue
    const adapted = value.map((item) => (isObject(item) ? adapt(item, dialect) : item))
    if (adapted.some((item, i) => item !== value[i])) set(key, adapted)
  }
  for (const key of NAMED) {
    const value = out === undefined ? schema[key] : out[key]
    if (!isObject(value)) continue
    let changed = false
    const adapted: Json = {}
    for (const [name, sub] of Object.entries(value)) {
      const next = isObject(sub) ? adapt(sub, dialect) : sub
      if (next !== sub) changed = true
      adapted[name] = next
    }
    if (changed) set(key, adapted)
  }
  return out ?? schema
}

const isStringSchema = (schema: Json): boolean =>
  schema.type === "string" || (Array.isArray(schema.type) && schema.type.includes("string"))
