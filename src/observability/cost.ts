/**
 * A model's price and the cost of one request's usage under it. Pure arithmetic; where a price comes from (the
 * bundled dataset, PRICES_FILE) is `prices.ts`'s business.
 *
 * Every rate is in USD per million tokens, the unit vendors publish.
 */

/** A long-context tier: once the prompt holds more than `start` tokens, the whole request pays `price`. */
export interface Tier {
  readonly start: number
  readonly price: number
}

/** USD per million tokens, flat or tiered by prompt size (Gemini, GPT-5.4+, Claude on some hosts). */
export type Rate = number | { readonly base: number; readonly tiers: ReadonlyArray<Tier> }

export interface ModelPrice {
  /** Uncached prompt tokens. */
  readonly input: Rate
  /** Prompt tokens read from the upstream's cache; absent: the input rate (no discount advertised). */
  readonly cachedInput?: Rate
  /** Prompt tokens written to the upstream's cache; absent: the input rate. */
  readonly cacheWrite?: Rate
  readonly output: Rate
  /** Reasoning tokens, for the rare model that bills them apart; absent: the output rate. */
  readonly reasoning?: Rate
  /** A fee per request in USD on top of the tokens (a few search-backed models). */
  readonly perRequest?: number
  /**
   * Where the price came from: the bundled dataset, PRICES_FILE, or a rule of the id itself (OpenRouter's `:free`);
   * and the entry that matched (`openai:gpt-5`, the file's key), for the log and the dashboard.
   */
  readonly source: "dataset" | "file" | "rule"
  readonly entry: string
}

/**
 * One request's tokens as our Anthropic usage reports them (src/convert/response.ts `toUsage`): `inputTokens` is
 * the uncached part of the prompt only, the cache reads and writes are counted apart, and `outputTokens` already
 * holds the reasoning tokens (OpenAI's `completion_tokens` includes them).
 */
export interface TokenUsage {
  readonly inputTokens: number | null | undefined
  readonly outputTokens: number | null | undefined
  readonly cacheReadTokens?: number | null | undefined
  readonly cacheCreationTokens?: number | null | undefined
  /** Part of `outputTokens`; only matters when the price has a reasoning rate of its own. */
  readonly reasoningTokens?: number | null | undefined
}

const isCount = (n: number | null | undefined): n is number => typeof n === "number" && Number.isFinite(n) && n >= 0

/** Dataset semantics (genai-prices): the highest tier whose start the prompt exceeds applies to every token. */
export const rateAt = (rate: Rate, promptTokens: number): number => {
  if (typeof rate === "number") return rate
  let price = rate.base
  for (const tier of rate.tiers) if (promptTokens > tier.start) price = tier.price
  return price
}

// Costs are sums of products like 1234 × 0.075 / 1e6, whose binary noise (0.0020000000000000005) would otherwise
// reach the log line; a pico-dollar is far below one token of the cheapest model.
const roundPico = (usd: number): number => Math.round(usd * 1e12) / 1e12

/**
 * The request's cost in USD, or null when the usage is not known well enough to price (no input or output count).
 * Missing cache counts are zero: upstreams that cache nothing do not report them.
 */
export const costFor = (price: ModelPrice, usage: TokenUsage): number | null => {
  const { inputTokens: input, outputTokens: output } = usage
  if (!isCount(input) || !isCount(output)) return null
  const cacheRead = isCount(usage.cacheReadTokens) ? usage.cacheReadTokens : 0
  const cacheWrite = isCount(usage.cacheCreationTokens) ? usage.cacheCreationTokens : 0
  // Reasoning is inside the output count: it is only split off when it has its own rate, so never counted twice.
  const reasoning = price.reasoning === undefined || !isCount(usage.reasoningTokens) ? 0 : Math.min(usage.reasoningTokens, output)
  const prompt = input + cacheRead + cacheWrite
  const at = (rate: Rate) => rateAt(rate, prompt)
  const micro = input * at(price.input) +
    cacheRead * at(price.cachedInput ?? price.input) +
    cacheWrite * at(price.cacheWrite ?? price.input) +
    (output - reasoning) * at(price.output) +
    reasoning * at(price.reasoning ?? price.output)
  return roundPico(micro / 1e6 + (price.perRequest ?? 0))
}
