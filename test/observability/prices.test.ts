/**
 * Cost per request: the formula (cached input, cache writes, reasoning inside the output, tiers), the bundled
 * dataset's prices for the upstreams we name, the id spellings that find a price and those that must not, and
 * PRICES_FILE.
 *
 * Expected costs are worked out by hand from the prices of the pinned @pydantic/genai-prices (0.1.8), quoted next to
 * each case; a dataset upgrade that changes a price fails here on purpose, to be re-checked.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { TestClock } from "effect/testing"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { ConfigInvalid } from "../../src/config.ts"
import { toUsage } from "../../src/convert/response.ts"
import { costFor, type ModelPrice, rateAt } from "../../src/observability/cost.ts"
import { dateForms } from "../../src/observability/price-names.ts"
import { makePrices, Prices, type PricesOptions, tokenUsage } from "../../src/observability/prices.ts"
import { defaultPrices, parsePricesSettings, PRICES_VARIABLES, type PricesSettings } from "../../src/observability/prices-settings.ts"
import { isSelfHosted } from "../../src/observability/self-hosted.ts"

const NOON = Date.parse("2026-10-01T12:00:00Z")
const EVENING = Date.parse("2026-10-01T20:00:00Z")

const UPSTREAMS: PricesOptions["upstreams"] = [
  { name: "openai", baseUrl: "https://api.openai.com/v1" },
  { name: "openrouter", baseUrl: "https://openrouter.ai/api/v1" },
  { name: "deepseek", baseUrl: "https://api.deepseek.com" },
  { name: "xai", baseUrl: "https://api.x.ai/v1" },
  { name: "gemini", baseUrl: "https://generativelanguage.googleapis.com/v1beta/openai" },
  { name: "groq", baseUrl: "https://api.groq.com/openai/v1" },
  { name: "vllm", baseUrl: "http://10.0.0.7:8000/v1" },
  { name: "ollama", baseUrl: "http://localhost:11434/v1" },
  { name: "corp", baseUrl: "https://llm.example.com/v1" }
]

const prices = (settings: PricesSettings = defaultPrices) => makePrices({ upstreams: UPSTREAMS, settings }, () => NOON)

const usage = (inputTokens: number, outputTokens: number, cacheReadTokens = 0, cacheCreationTokens = 0) => ({
  inputTokens,
  outputTokens,
  cacheReadTokens,
  cacheCreationTokens
})

/** USD from a sum of tokens × USD-per-million, written the way one would check it on paper. */
const usd = (micro: number) => micro / 1e6

describe("costFor: the formula", () => {
  const flat: ModelPrice = { input: 2, cachedInput: 0.5, output: 8, source: "file", entry: "t" }

  it("uncached input, cache reads and output each at their rate", () => {
    expect(costFor(flat, usage(1000, 200, 3000))).toBeCloseTo(usd(1000 * 2 + 3000 * 0.5 + 200 * 8), 12)
  })

  it("cache reads and writes fall back to the input rate when no rate of their own is given", () => {
    const plain: ModelPrice = { input: 3, output: 15, source: "file", entry: "t" }
    expect(costFor(plain, usage(100, 10, 400, 500))).toBeCloseTo(usd((100 + 400 + 500) * 3 + 10 * 15), 12)
    const writes: ModelPrice = { ...plain, cacheWrite: 3.75 }
    expect(costFor(writes, usage(100, 10, 400, 500))).toBeCloseTo(usd(500 * 3 + 500 * 3.75 + 10 * 15), 12)
  })

  it("reasoning tokens are inside the output count: never billed twice", () => {
    const withReasoning = { ...usage(1000, 500), reasoningTokens: 400 }
    expect(costFor(flat, withReasoning)).toBeCloseTo(usd(1000 * 2 + 500 * 8), 12)
    // only a model that bills reasoning apart splits it off the output
    const split: ModelPrice = { input: 2, output: 8, reasoning: 3, source: "dataset", entry: "t" }
    expect(costFor(split, withReasoning)).toBeCloseTo(usd(1000 * 2 + 100 * 8 + 400 * 3), 12)
  })

  it("a long prompt moves every token to the tier it reaches", () => {
    const tiered: ModelPrice = {
      input: { base: 1.25, tiers: [{ start: 200_000, price: 2.5 }] },
      cachedInput: { base: 0.125, tiers: [{ start: 200_000, price: 0.25 }] },
      output: { base: 10, tiers: [{ start: 200_000, price: 15 }] },
      source: "dataset",
      entry: "t"
    }
    expect(rateAt(tiered.input, 200_000)).toBe(1.25)
    expect(rateAt(tiered.input, 200_001)).toBe(2.5)
    // 150k uncached + 60k cached = 210k prompt tokens: over the tier, so all of it at the higher rates
    expect(costFor(tiered, usage(150_000, 1000, 60_000))).toBeCloseTo(usd(150_000 * 2.5 + 60_000 * 0.25 + 1000 * 15), 12)
  })

  it("a per-request fee is added once", () => {
    expect(costFor({ ...flat, perRequest: 0.005 }, usage(0, 0))).toBe(0.005)
  })

  it("unknown or impossible counts give null, not a number", () => {
    expect(costFor(flat, usage(Number.NaN, 10))).toBeNull()
    expect(costFor(flat, { inputTokens: 10, outputTokens: undefined })).toBeNull()
    expect(costFor(flat, { inputTokens: -1, outputTokens: 10 })).toBeNull()
    expect(costFor(flat, { inputTokens: 1000, outputTokens: 100, cacheReadTokens: null })).toBeCloseTo(usd(2000 + 800), 12)
  })

  it("costs carry no binary noise", () => {
    expect(costFor({ input: 0.1, output: 0.2, source: "file", entry: "t" }, usage(1, 2))).toBe(0.0000005)
  })
})

describe("Prices: the dataset", () => {
  const p = prices()

  it("gpt-4.1: $2 in, $0.50 cached, $8 out", () => {
    expect(p.costOf("openai", "gpt-4.1", usage(10_000, 2_000, 90_000), NOON)).toBeCloseTo(usd(10_000 * 2 + 90_000 * 0.5 + 2_000 * 8), 12)
    expect(p.priceOf("openai", "gpt-4.1")).toMatchObject({ entry: "openai:gpt-4.1", source: "dataset" })
  })

  it("gpt-5-mini: $0.25 in, $0.025 cached, $2 out", () => {
    expect(p.costOf("openai", "gpt-5-mini", usage(100_000, 5_000, 50_000), NOON)).toBeCloseTo(usd(100_000 * 0.25 + 50_000 * 0.025 + 5_000 * 2), 12)
  })

  it("an OpenAI usage end to end: cached tokens priced apart, reasoning only once", () => {
    // prompt 1000 of which 800 cached; completion 500 of which 300 reasoning
    const anthropic = toUsage({
      prompt_tokens: 1000,
      completion_tokens: 500,
      total_tokens: 1500,
      prompt_tokens_details: { cached_tokens: 800 },
      completion_tokens_details: { reasoning_tokens: 300 }
    })
    expect(p.costOf("openai", "gpt-4.1", tokenUsage(anthropic), NOON)).toBeCloseTo(usd(200 * 2 + 800 * 0.5 + 500 * 8), 12)
  })

  it("deepseek-chat: $0.27 / $0.07 cached / $1.10 by day, half that off-peak (16:30–00:30 UTC)", () => {
    const u = usage(20_000, 1_000, 80_000)
    expect(p.costOf("deepseek", "deepseek-chat", u, NOON)).toBeCloseTo(usd(20_000 * 0.27 + 80_000 * 0.07 + 1_000 * 1.1), 12)
    expect(p.costOf("deepseek", "deepseek-chat", u, EVENING)).toBeCloseTo(usd(20_000 * 0.135 + 80_000 * 0.035 + 1_000 * 0.55), 12)
  })

  it("Gemini: gemini-2.5-flash flat, gemini-2.5-pro tiered above 200k prompt tokens", () => {
    expect(p.costOf("gemini", "gemini-2.5-flash", usage(10_000, 1_000, 5_000), NOON)).toBeCloseTo(usd(10_000 * 0.3 + 5_000 * 0.03 + 1_000 * 2.5), 12)
    expect(p.costOf("gemini", "gemini-2.5-pro", usage(100_000, 1_000), NOON)).toBeCloseTo(usd(100_000 * 1.25 + 1_000 * 10), 12)
    expect(p.costOf("gemini", "gemini-2.5-pro", usage(250_000, 1_000), NOON)).toBeCloseTo(usd(250_000 * 2.5 + 1_000 * 15), 12)
  })

  it("xAI: grok-4 ($3 / $0.75 / $15, listed as grok-4-0709) and grok-code-fast-1 ($0.20 / $0.02 / $1.50)", () => {
    expect(p.costOf("xai", "grok-4", usage(10_000, 1_000, 30_000), NOON)).toBeCloseTo(usd(10_000 * 3 + 30_000 * 0.75 + 1_000 * 15), 12)
    expect(p.priceOf("xai", "grok-4")?.entry).toBe("x-ai:grok-4-0709")
    expect(p.costOf("xai", "grok-code-fast-1", usage(10_000, 1_000, 30_000), NOON)).toBeCloseTo(usd(10_000 * 0.2 + 30_000 * 0.02 + 1_000 * 1.5), 12)
  })

  it("a generic base URL is recognised by the dataset's URL patterns: Groq", () => {
    expect(p.priceOf("groq", "llama-3.3-70b-versatile")).toMatchObject({ input: 0.59, output: 0.79, entry: "groq:llama-3.3-70b-versatile" })
    expect(p.priceOf("groq", "openai/gpt-oss-120b")?.entry).toBe("groq:openai/gpt-oss-120b")
  })

  it("cache writes at the model's cache-write rate when it has one (OpenRouter's gemini-2.5-flash: $0.3833)", () => {
    expect(p.costOf("openrouter", "google/gemini-2.5-flash", usage(1_000, 100, 0, 10_000), NOON))
      .toBeCloseTo(usd(1_000 * 0.3 + 10_000 * 0.3833 + 100 * 2.5), 12)
  })

  it("unknown models, unknown hosts and self-hosted upstreams cost null", () => {
    expect(p.costOf("openai", "no-such-model", usage(10, 10), NOON)).toBeNull()
    expect(p.costOf("corp", "gpt-4.1", usage(10, 10), NOON)).toBeNull()
    expect(p.costOf("vllm", "gpt-4.1", usage(10, 10), NOON)).toBeNull()
    expect(p.costOf("ollama", "qwen3-coder:30b", usage(10, 10), NOON)).toBeNull()
    expect(p.costOf("generic", "gpt-4.1", usage(10, 10), NOON)).toBeNull()
    expect(p.priceOf("openai", "text-embedding-3-small")).toBeUndefined() // no output price: not a chat model
  })

  it("an upstream named without a URL is looked up by name", () => {
    const byName = makePrices({ upstreams: [], settings: defaultPrices }, () => NOON)
    expect(byName.priceOf("xai", "grok-3")?.entry).toBe("x-ai:grok-3")
    expect(byName.priceOf("gemini", "gemini-2.5-flash")?.entry).toBe("google:gemini-2.5-flash")
    expect(byName.priceOf("ollama", "gpt-4.1")).toBeUndefined()
    expect(byName.priceOf("https://api.openai.com/v1", "gpt-4.1")?.entry).toBe("openai:gpt-4.1")
  })
})

describe("Prices: model id spellings", () => {
  const p = prices()

  it("dated snapshots: the dataset's own, an unlisted one by its alias, compact ↔ dashed", () => {
    expect(p.priceOf("openai", "gpt-5-2025-08-07")).toMatchObject({ entry: "openai:gpt-5", input: 1.25, output: 10 })
    expect(p.priceOf("openai", "gpt-5-mini-2099-01-31")?.entry).toBe("openai:gpt-5-mini")
    expect(p.priceOf("openai", "gpt-4.1-20250414")?.entry).toBe("openai:gpt-4.1")
    expect(p.priceOf("openrouter", "openai/gpt-4.1-2025-04-14")?.entry).toBe("openrouter:openai/gpt-4.1")
  })

  it("a snapshot priced apart keeps its own price", () => {
    expect(p.priceOf("openai", "gpt-4o-2024-05-13")).toMatchObject({ entry: "openai:gpt-4o-2024-05-13", input: 5, output: 15 })
    expect(p.priceOf("openai", "gpt-4o-2024-08-06")).toMatchObject({ entry: "openai:gpt-4o", input: 2.5 })
  })

  it("only full calendar dates are stripped", () => {
    expect(dateForms("gpt-5-2025-08-07")).toEqual(["gpt-5-20250807", "gpt-5"])
    expect(dateForms("gpt-5-20250807")).toEqual(["gpt-5-2025-08-07", "gpt-5"])
    expect(dateForms("gpt-5-2025-02-30")).toEqual([])
    expect(dateForms("gpt-5-2025-0807")).toEqual([])
    expect(dateForms("gpt-3.5-turbo-0125")).toEqual([])
    expect(p.priceOf("openai", "gpt-5-2025-13-01")).toBeUndefined()
    expect(p.priceOf("xai", "grok-code-fast-1-0999")).toBeUndefined()
  })

  it("ids are case-insensitive", () => {
    expect(p.priceOf("openai", " GPT-4.1 ")?.entry).toBe("openai:gpt-4.1")
  })

  it("OpenRouter: its own price for vendor/model, else the vendor's own", () => {
    expect(p.costOf("openrouter", "openai/gpt-4.1", usage(10_000, 1_000, 10_000), NOON)).toBeCloseTo(usd(10_000 * 2 + 10_000 * 0.5 + 1_000 * 8), 12)
    // OpenRouter's list in the dataset lacks x-ai/grok-3; xAI's own price stands in
    expect(p.priceOf("openrouter", "x-ai/grok-3")).toMatchObject({ entry: "x-ai:grok-3", input: 3, cachedInput: 0.75, output: 15 })
    expect(p.priceOf("openrouter", "no-such-vendor/gpt-4.1")).toBeUndefined()
  })

  it("OpenRouter: :free variants cost 0, other variants are not guessed", () => {
    expect(p.costOf("openrouter", "some-lab/new-model:free", usage(10_000, 1_000), NOON)).toBe(0)
    expect(p.priceOf("openrouter", "openai/gpt-4.1:nitro")).toBeUndefined()
    expect(p.priceOf("openai", "gpt-4.1:free")).toBeUndefined()
  })

  it("a path in front of the id, elsewhere: Gemini's models/ prefix", () => {
    expect(p.priceOf("gemini", "models/gemini-2.5-flash")?.entry).toBe("google:gemini-2.5-flash")
  })
})

describe("PRICES_FILE", () => {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "ccproxy-prices-"))
  afterAll(() => Fs.rmSync(dir, { recursive: true, force: true }))
  const write = (name: string, content: unknown) => {
    const file = Path.join(dir, name)
    Fs.writeFileSync(file, typeof content === "string" ? content : JSON.stringify(content))
    return file
  }
  const settings = (content: unknown) => parsePricesSettings({ PRICES_FILE: write("prices.json", content) })
  const refusal = (raw: Record<string, string>): ConfigInvalid => {
    try {
      parsePricesSettings(raw)
    } catch (error) {
      if (error instanceof ConfigInvalid) return error
      throw error
    }
    throw new Error("expected ConfigInvalid")
  }
  const refusalOf = (content: unknown) => refusal({ PRICES_FILE: write("bad.json", content) })

  it("is the only variable, and optional", () => {
    expect(PRICES_VARIABLES).toEqual(["PRICES_FILE"])
    expect(parsePricesSettings({})).toEqual(defaultPrices)
    expect(parsePricesSettings({ PRICES_FILE: "  " })).toEqual(defaultPrices)
  })

  it("prices self-hosted models, Ollama tags included; overrides and adds to the dataset", () => {
    const p = prices(settings({
      "qwen3-coder": { input: 0, output: 0 },
      "vllm,Llama-3.3-70B": { input: 0.1, output: 0.2 },
      "gpt-5": { input: 1, cached_input: 0.1, output: 8 },
      "my-finetune": { input: 4, cached_input: 1, cache_write: 5, output: 16 }
    }))
    expect(p.costOf("ollama", "qwen3-coder:30b", usage(10_000, 1_000), NOON)).toBe(0)
    expect(p.costOf("vllm", "llama-3.3-70b", usage(10_000, 1_000), NOON)).toBeCloseTo(usd(10_000 * 0.1 + 1_000 * 0.2), 12)
    // the file wins over the dataset's $1.25 / $0.125 / $10, for the alias and its snapshots
    expect(p.costOf("openai", "gpt-5", usage(10_000, 1_000, 10_000), NOON)).toBeCloseTo(usd(10_000 * 1 + 10_000 * 0.1 + 1_000 * 8), 12)
    expect(p.priceOf("openai", "gpt-5-2025-08-07")).toMatchObject({ source: "file", entry: "gpt-5" })
    expect(p.costOf("corp", "my-finetune", usage(1_000, 100, 2_000, 3_000), NOON)).toBeCloseTo(usd(1_000 * 4 + 2_000 * 1 + 3_000 * 5 + 100 * 16), 12)
    // Ollama's tags are stripped for self-hosted upstreams only
    expect(p.priceOf("openrouter", "qwen3-coder:nitro")).toBeUndefined()
    // a key for one upstream does not price another
    expect(p.priceOf("corp", "llama-3.3-70b")).toBeUndefined()
  })

  it("an upstream,model key wins over a plain model key", () => {
    const p = prices(settings({ "gpt-4.1": { input: 1, output: 1 }, "OpenAI,gpt-4.1": { input: 2, output: 2 } }))
    expect(p.priceOf("openai", "gpt-4.1")).toMatchObject({ input: 2, entry: "OpenAI,gpt-4.1" })
    expect(p.priceOf("openrouter", "openai/gpt-4.1")).toMatchObject({ input: 1, entry: "gpt-4.1" })
  })

  it("a bad price names PRICES_FILE and the field", () => {
    const negative = refusalOf({ "gpt-5": { input: 1, output: -2 } })
    expect(negative.variable).toBe("PRICES_FILE")
    expect(negative.message).toContain(`["gpt-5"]["output"]`)
    expect(negative.message).toContain("greater than or equal to 0")
    expect(refusalOf({ "gpt-5": { input: 1, cache_input: 0.1, output: 2 } }).message).toContain(`["gpt-5"]["cache_input"]`)
    expect(refusalOf({ "gpt-5": { input: 1 } }).message).toContain(`["gpt-5"]["output"]`)
    expect(refusalOf({ "gpt-5": { input: "1", output: 2 } }).message).toContain(`["gpt-5"]["input"]`)
    expect(refusalOf({ "gpt-5": 3 }).message).toContain(`["gpt-5"]`)
  })

  it("a bad file names PRICES_FILE and the problem", () => {
    expect(refusalOf([{ input: 1, output: 1 }]).message).toMatch(/^PRICES_FILE must hold a JSON object/)
    expect(refusalOf("{ not json").message).toMatch(/^PRICES_FILE is not valid JSON/)
    expect(refusalOf({ "a,b,c": { input: 1, output: 1 } }).message).toContain(`bad key "a,b,c"`)
    expect(refusalOf({ ",gpt-5": { input: 1, output: 1 } }).message).toContain(`bad key ",gpt-5"`)
    expect(refusalOf({ "GPT-5": { input: 1, output: 1 }, "gpt-5": { input: 2, output: 2 } }).message).toContain(`"gpt-5" twice`)
    const missing = refusal({ PRICES_FILE: Path.join(dir, "nowhere.json") })
    expect(missing.message).toMatch(/^PRICES_FILE names a file that does not exist/)
  })
})

describe("self-hosted upstreams", () => {
  it("loopback, private, link-local and single-label hosts; public hosts are not", () => {
    for (const url of ["http://localhost:8000/v1", "http://127.0.0.1:8080", "http://[::1]:8000", "http://10.1.2.3/v1",
      "http://172.20.0.5:8000", "http://192.168.1.10:11434", "http://100.101.102.103", "http://vllm:8000/v1",
      "http://gpu-box.local:8000", "http://[fd12:3456::1]:8000", "llama.internal:8080"]) {
      expect(isSelfHosted(url), url).toBe(true)
    }
    for (const url of ["https://api.openai.com/v1", "http://8.8.8.8", "http://172.32.0.1", "https://llm.example.com"]) {
      expect(isSelfHosted(url), url).toBe(false)
    }
  })
})

describe("the Prices layer", () => {
  const layer = Prices.layer({ upstreams: UPSTREAMS, settings: defaultPrices })

  it.effect("prices at the Clock's time when the caller gives none", () =>
    Effect.gen(function*() {
      const p = yield* Prices
      p.warm()
      const u = usage(1_000_000, 0)
      yield* TestClock.setTime(NOON)
      expect(p.costOf("deepseek", "deepseek-chat", u)).toBeCloseTo(0.27, 12)
      yield* TestClock.setTime(EVENING)
      expect(p.costOf("deepseek", "deepseek-chat", u)).toBeCloseTo(0.135, 12)
    }).pipe(Effect.provide(layer)))
})
