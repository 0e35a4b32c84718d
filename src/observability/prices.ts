/**
 * What a request cost, in USD: the upstream model's price (PRICES_FILE first, then the bundled dataset) applied to
 * the request's usage. Unknown is null, never a guess: a self-hosted upstream, a model the dataset does not list,
 * a price the dataset states in a way we cannot read.
 *
 * Which upstream: its base URL decides. A loopback or private URL (Ollama, vLLM, llama.cpp) is self-hosted and only
 * PRICES_FILE prices it; any other URL is looked up by the dataset's API URL patterns, so `https://api.groq.com/…`
 * is Groq even though the proxy calls it "generic". An upstream named without a URL is looked up by name (`openai`,
 * `xai`, `gemini`, …).
 *
 * Which model, in order; the first rule that finds a price wins (ids are compared lower-case):
 *  1. PRICES_FILE, key `upstream,model` before `model`, under each spelling of rule 2 (and, on a self-hosted
 *     upstream, without Ollama's `:tag`: `qwen3-coder` prices `qwen3-coder:30b`; a path prefix is dropped too:
 *     `gpt-5` prices OpenRouter's `openai/gpt-5`).
 *  2. The dataset's own rules for the upstream's provider (exact ids, the dated snapshots and aliases it lists),
 *     under the id, then its other date spelling (`-2025-08-07` ↔ `-20250807`), then without a full trailing date
 *     (`gpt-5-2025-08-07` → `gpt-5`), for snapshots newer than the dataset. Short suffixes (`-0613`, `-0709`) name
 *     differently priced snapshots and are never stripped.
 *  3. A `vendor/model` id the provider does not list: on OpenRouter, the vendor's own price for `model`
 *     (`openai/gpt-5.6-sol` → OpenAI's `gpt-5.6-sol`; OpenRouter passes vendor prices through); elsewhere the same
 *     provider's price for the id without its path (`models/gemini-2.5-flash` → `gemini-2.5-flash`).
 *  4. OpenRouter's `:free` variants cost 0. Its other variants (`:nitro`, `:floor`, `:online`, …) are not stripped:
 *     they are routed, and billed, differently.
 * The dataset's dated price changes, long-context tiers and DeepSeek's off-peak hours are applied at the request's
 * time.
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { detectProvider } from "../convert/models.ts"
import type { Usage } from "../protocol/anthropic.ts"
import { costFor, type ModelPrice, type TokenUsage } from "./cost.ts"
import { type DatasetEntry, datasetPrice, type DatasetProvider, findModel, providerByName, providerByUrl } from "./price-dataset.ts"
import { isFreeVariant, lastSegment, normalise, spellings, splitVendor, withoutTag } from "./price-names.ts"
import type { PricesSettings } from "./prices-settings.ts"
import { isSelfHosted } from "./self-hosted.ts"

export type { ModelPrice, Rate, TokenUsage } from "./cost.ts"

export interface PricesShape {
  /** The model's price on this upstream at `at` (epoch millis; default: now, from the Clock); undefined if unknown. */
  readonly priceOf: (upstream: string, model: string, at?: number) => ModelPrice | undefined
  /** The usage's cost in USD, or null when the price (or the usage) is unknown. */
  readonly costOf: (upstream: string, model: string, usage: TokenUsage, at?: number) => number | null
  /**
   * Loads the dataset now if a configured upstream needs it, so the first request does not pay for it (~0.1 s of
   * CPU); otherwise it loads on first use.
   */
  readonly warm: () => void
}

export interface PricesOptions {
  /** The upstreams the proxy may name in a record (`RequestRecord.upstream`), with their base URLs. */
  readonly upstreams: ReadonlyArray<{ readonly name: string; readonly baseUrl: string }>
  readonly settings: PricesSettings
}

/** Our Anthropic usage (as `toUsage` builds it) in the shape `costOf` takes. */
export const tokenUsage = (usage: Partial<Usage>): TokenUsage => ({
  inputTokens: usage.input_tokens,
  outputTokens: usage.output_tokens,
  cacheReadTokens: usage.cache_read_input_tokens,
  cacheCreationTokens: usage.cache_creation_input_tokens,
  reasoningTokens: usage.output_tokens_details?.thinking_tokens
})

type Upstream =
  | { readonly kind: "self-hosted" }
  | { readonly kind: "hosted"; readonly provider: DatasetProvider }
  | { readonly kind: "unknown" }

type Found =
  | { readonly kind: "file"; readonly price: ModelPrice }
  | { readonly kind: "dataset"; readonly entry: DatasetEntry }
  | { readonly kind: "free"; readonly entry: string }

// Model ids can come from clients (any name passes through to the upstream), so the memo must not grow forever.
const MEMO_LIMIT = 4096

const isUrl = (text: string) => /^https?:\/\//i.test(text)

const classify = (name: string, baseUrl: string | undefined): Upstream => {
  if (baseUrl === undefined) {
    if (name === "ollama") return { kind: "self-hosted" }
    const provider = providerByName(name)
    return provider === undefined ? { kind: "unknown" } : { kind: "hosted", provider }
  }
  if (isSelfHosted(baseUrl) || detectProvider(baseUrl) === "ollama") return { kind: "self-hosted" }
  const provider = providerByUrl(baseUrl)
  return provider === undefined ? { kind: "unknown" } : { kind: "hosted", provider }
}

const unique = (names: ReadonlyArray<string>): ReadonlyArray<string> => [...new Set(names)]

/** Rule 1: the spellings a PRICES_FILE key may use for this id. */
const fileSpellings = (name: string, selfHosted: boolean): ReadonlyArray<string> => {
  const names = [...spellings(name)]
  if (name.includes("/")) names.push(...spellings(lastSegment(name)))
  const untagged = selfHosted ? withoutTag(name) : undefined
  if (untagged !== undefined) names.push(...spellings(untagged))
  return unique(names)
}

const inFile = (
  overrides: ReadonlyMap<string, ModelPrice>,
  upstream: string,
  name: string,
  selfHosted: boolean
): ModelPrice | undefined => {
  if (overrides.size === 0) return undefined
  const names = fileSpellings(name, selfHosted)
  for (const candidate of names) {
    const price = overrides.get(`${upstream},${candidate}`)
    if (price !== undefined) return price
  }
  for (const candidate of names) {
    const price = overrides.get(candidate)
    if (price !== undefined) return price
  }
  return undefined
}

/** Rules 2–4. */
const inDataset = (provider: DatasetProvider, name: string): Found | undefined => {
  const direct = findModel(provider, spellings(name))
  if (direct !== undefined) return { kind: "dataset", entry: direct }
  const split = splitVendor(name)
  if (split !== undefined) {
    if (provider.id === "openrouter") {
      const vendor = providerByName(split.vendor)
      const viaVendor = vendor === undefined || vendor.id === provider.id ? undefined : findModel(vendor, spellings(split.model))
      if (viaVendor !== undefined) return { kind: "dataset", entry: viaVendor }
    } else {
      const bare = findModel(provider, spellings(lastSegment(name)))
      if (bare !== undefined) return { kind: "dataset", entry: bare }
    }
  }
  if (provider.id === "openrouter" && isFreeVariant(name)) return { kind: "free", entry: `${provider.id}:${name}` }
  return undefined
}

/** Prices from these settings and the bundled dataset; `now` answers when a caller gives no time. */
export const makePrices = (options: PricesOptions, now: () => number): PricesShape => {
  const urls = new Map(options.upstreams.map(({ name, baseUrl }) => [name, baseUrl]))
  const overrides = options.settings.overrides
  const upstreams = new Map<string, Upstream>()
  const memo = new Map<string, Found | null>()

  const upstreamOf = (name: string): Upstream => {
    let upstream = upstreams.get(name)
    if (upstream === undefined) {
      upstream = classify(normalise(name), urls.get(name) ?? (isUrl(name) ? name : undefined))
      upstreams.set(name, upstream)
    }
    return upstream
  }

  const find = (upstreamName: string, model: string): Found | undefined => {
    const memoKey = `${upstreamName}\u0000${model}`
    const memoised = memo.get(memoKey)
    if (memoised !== undefined) return memoised ?? undefined
    const upstream = upstreamOf(upstreamName)
    const name = normalise(model)
    const fromFile = inFile(overrides, normalise(upstreamName), name, upstream.kind === "self-hosted")
    const found: Found | undefined = fromFile !== undefined
      ? { kind: "file", price: fromFile }
      : upstream.kind === "hosted"
      ? inDataset(upstream.provider, name)
      : undefined
    if (memo.size >= MEMO_LIMIT) memo.clear()
    memo.set(memoKey, found ?? null)
    return found
  }

  const priceOf = (upstream: string, model: string, at?: number): ModelPrice | undefined => {
    const found = find(upstream, model)
    if (found === undefined) return undefined
    switch (found.kind) {
      case "file":
        return found.price
      case "free":
        return { input: 0, output: 0, source: "rule", entry: found.entry }
      case "dataset":
        return datasetPrice(found.entry, at ?? now())
    }
  }

  return {
    priceOf,
    warm: () => {
      for (const name of urls.keys()) upstreamOf(name)
    },
    costOf: (upstream, model, usage, at) => {
      const price = priceOf(upstream, model, at)
      return price === undefined ? null : costFor(price, usage)
    }
  }
}

export class Prices extends Context.Service<Prices, PricesShape>()("ccproxy/Prices") {
  /** Reads the time from the Clock it is built under (a test's TestClock, the real one in the proxy). */
  static readonly make = (options: PricesOptions): Effect.Effect<PricesShape> =>
    Clock.clockWith((clock) => Effect.succeed(makePrices(options, () => clock.currentTimeMillisUnsafe())))

  static readonly layer = (options: PricesOptions): Layer.Layer<Prices> => Layer.effect(this, this.make(options))
}
