/**
 * PRICES_FILE: a JSON file of prices that override or add to the bundled dataset, read and checked once at start.
 *
 *     { "qwen3-coder": { "input": 0, "output": 0 },
 *       "gpt-5": { "input": 1.25, "cached_input": 0.125, "output": 10 },
 *       "openrouter,openai/gpt-5": { "input": 1.25, "cached_input": 0.125, "cache_write": 1.25, "output": 10 } }
 *
 * Every price is in USD per million tokens. `input` and `output` are required; `cached_input` (cache reads) and
 * `cache_write` default to `input`. A key is a model id, or `upstream,model` to price a model on one upstream only
 * (the upstream as the proxy names it in its log: openai, openrouter, deepseek, xai, gemini, ollama, generic).
 * Keys are case-insensitive. A file price wins over the dataset's; it is the only way to price a self-hosted model.
 *
 * A bad file stops the proxy at start with `ConfigInvalid` naming PRICES_FILE and the field, rather than letting
 * it log costs nobody meant (an unknown field such as `cache_input` is refused, not ignored).
 */
import * as Schema from "effect/Schema"
import * as Fs from "node:fs"
import { ConfigInvalid, type Raw, text } from "../config/env.ts"
import { describeSchemaError } from "../http/body.ts"
import type { ModelPrice } from "./cost.ts"
import { PRICES_FILE_VARIABLE } from "./prices-variables.ts"
export { PRICES_VARIABLES, type PricesVariable } from "./prices-variables.ts"

export interface PricesSettings {
  /** PRICES_FILE as given; undefined when unset. */
  readonly file: string | undefined
  /** The file's prices by normalised key: `model` or `upstream,model`, lower-case, trimmed. */
  readonly overrides: ReadonlyMap<string, ModelPrice>
}

export const defaultPrices: PricesSettings = { file: undefined, overrides: new Map() }

const UsdPerMillion = Schema.Number.check(Schema.isFinite(), Schema.isGreaterThanOrEqualTo(0))

const FilePrice = Schema.Struct({
  input: UsdPerMillion,
  cached_input: Schema.optionalKey(UsdPerMillion),
  cache_write: Schema.optionalKey(UsdPerMillion),
  output: UsdPerMillion
})

const PricesFile = Schema.Record(Schema.String, FilePrice)

const decodeFile = Schema.decodeUnknownSync(PricesFile)

const invalid = (problem: string) => new ConfigInvalid({ variable: PRICES_FILE_VARIABLE, problem })

/** `" Ollama , Qwen3-Coder "` → `ollama,qwen3-coder`; undefined when a part is empty or there are two commas. */
export const priceKey = (key: string): string | undefined => {
  const parts = key.split(",").map((part) => part.trim().toLowerCase())
  if (parts.length > 2 || parts.some((part) => part === "")) return undefined
  return parts.join(",")
}

const readText = (file: string): string => {
  try {
    return Fs.readFileSync(file, "utf8")
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === "ENOENT" ? "names a file that does not exist" : "cannot be read"
    throw invalid(`${reason}: ${file}`)
  }
}

/** Pure: the file's JSON → prices by key; throws `ConfigInvalid` naming PRICES_FILE and the bad field. */
export const parsePricesJson = (json: unknown, file: string): ReadonlyMap<string, ModelPrice> => {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw invalid(`must hold a JSON object of prices by model id (${file})`)
  }
  let decoded: Schema.Schema.Type<typeof PricesFile>
  try {
    decoded = decodeFile(json, { onExcessProperty: "error" })
  } catch (error) {
    const where = describeSchemaError(error as Error, (path) => `at ${path}`)
    throw invalid(`has a bad price ${where} (${file}; prices are USD per million tokens)`)
  }
  const overrides = new Map<string, ModelPrice>()
  for (const [written, price] of Object.entries(decoded)) {
    const key = priceKey(written)
    if (key === undefined) throw invalid(`has a bad key "${written}": use "model" or "upstream,model" (${file})`)
    if (overrides.has(key)) throw invalid(`prices "${key}" twice (keys are case-insensitive) (${file})`)
    overrides.set(key, {
      input: price.input,
      output: price.output,
      ...(price.cached_input === undefined ? {} : { cachedInput: price.cached_input }),
      ...(price.cache_write === undefined ? {} : { cacheWrite: price.cache_write }),
      source: "file",
      entry: written
    })
  }
  return overrides
}

/** Reads and checks PRICES_FILE when it is set; throws `ConfigInvalid` naming it on any problem. */
export const parsePricesSettings = (raw: Raw): PricesSettings => {
  const file = text(raw, PRICES_FILE_VARIABLE)
  if (file === undefined) return defaultPrices
  const contents = readText(file)
  let json: unknown
  try {
    json = JSON.parse(contents)
  } catch (error) {
    throw invalid(`is not valid JSON (${file}): ${(error as Error).message}`)
  }
  return { file, overrides: parsePricesJson(json, file) }
}
