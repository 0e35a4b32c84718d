/**
 * The route table's choice, as a pure function: the order routes are matched in, globs over whole model names, and
 * the targets `/v1/models` and `ccproxy check` enumerate.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Option from "effect/Option"
import type { ProviderSettings } from "../../src/config/providers.ts"
import { defaultProtection } from "../../src/protection/settings.ts"
import type { MessagesRequest } from "../../src/protocol/anthropic.ts"
import { allTargets, chooseRoute, implicitRoutes, modelGlob, type Routes, splitTarget } from "../../src/routing/routes.ts"

const provider = (name: string, models: ReadonlyArray<string> = []): ProviderSettings => ({
  name,
  baseUrl: `http://${name}.test/v1`,
  apiKey: Option.none(),
  profile: "generic",
  models,
  headers: {},
  protection: defaultProtection
})

const PROVIDERS = [provider("a"), provider("b", ["llama-4"]), provider("c")]

const ROUTES: Routes = {
  default: [{ provider: "a", model: "big" }, { provider: "b", model: "backup" }],
  background: [{ provider: "c", model: "small" }],
  think: [{ provider: "b", model: "reasoner" }],
  longContext: { chain: [{ provider: "a", model: "long" }], thresholdTokens: 1000 },
  webSearch: [{ provider: "a", model: "search" }],
  rules: [{ match: "claude-opus-*", test: modelGlob("claude-opus-*"), chain: [{ provider: "c", model: "opus-like" }] }]
}

const body = (model: string, extra: Partial<MessagesRequest> = {}): MessagesRequest =>
  ({ model, max_tokens: 10, messages: [{ role: "user", content: "hi" }], ...extra }) as MessagesRequest

const route = (request: MessagesRequest, tokens = 10) => {
  const routed = chooseRoute(ROUTES, PROVIDERS, request, tokens)
  return "problem" in routed ? routed.problem : `${routed.route} ${routed.chain.map((t) => `${t.provider},${t.model}`).join(" ")}`
}

describe("chooseRoute", () => {
  describe("without a config file: opus/sonnet → BIG_MODEL_NAME, haiku → SMALL_MODEL_NAME, other names unchanged", () => {
    const routes = implicitRoutes("a", "gpt-5", "gpt-5-mini")
    const cases: ReadonlyArray<readonly [string, string]> = [
      ["claude-opus-4-1-20250805", "gpt-5"],
      ["claude-sonnet-4-5-20250929", "gpt-5"],
      ["Claude-SONNET-5-5", "gpt-5"],
      ["claude-haiku-4-5", "gpt-5-mini"],
      ["claude-3-5-haiku-20241022", "gpt-5-mini"],
      // SEED §2.2 sent every other name to SMALL; an explicit upstream model must pass through unchanged.
      ["gpt-4o", "gpt-4o"],
      ["deepseek/deepseek-chat-v3.1", "deepseek/deepseek-chat-v3.1"]
    ]
    it.each(cases)("%s → %s", (client, upstream) => {
      const routed = chooseRoute(routes, [provider("a")], body(client), 10)
      expect("chain" in routed && routed.chain).toEqual([{ provider: "a", model: upstream }])
    })
  })

  it("matches in the documented order", () => {
    expect(route(body("c,anything"))).toBe("explicit c,anything")
    expect(route(body("claude-opus-4-7"), 5000)).toBe("rule c,opus-like")
    expect(route(body("llama-4"), 5000)).toBe("model b,llama-4")
    expect(route(body("gpt-4.1"))).toBe("model a,gpt-4.1")
    expect(route(body("claude-haiku-4-5"), 5000)).toBe("long_context a,long")
    expect(route(body("claude-haiku-4-5", { thinking: { type: "enabled", budget_tokens: 1024 } }))).toBe("background c,small")
    expect(route(body("claude-sonnet-4-6", { tools: [{ type: "web_search_20250305", name: "web_search" }], thinking: { type: "enabled", budget_tokens: 1024 } } as Partial<MessagesRequest>)))
      .toBe("web_search a,search")
    expect(route(body("claude-sonnet-4-6", { thinking: { type: "adaptive" } } as Partial<MessagesRequest>))).toBe("think b,reasoner")
    expect(route(body("claude-sonnet-4-6", { thinking: { type: "disabled" } }))).toBe("default a,big b,backup")
    expect(route(body("claude-sonnet-4-6", { thinking: null } as Partial<MessagesRequest>))).toBe("default a,big b,backup")
    expect(route(body("claude-sonnet-4-6"), 1000)).toBe("default a,big b,backup")
  })

  it("an unknown provider, or a model its provider does not list, is a problem naming what is known", () => {
    expect(route(body("z,model"))).toBe("model \"z,model\" names an unknown provider \"z\"; known providers: a, b, c")
    expect(route(body("b,llama-5"))).toBe("model \"b,llama-5\" names model \"llama-5\", which provider \"b\" does not list (its models: llama-4)")
    expect(route(body("a,anything"))).toBe("explicit a,anything")
  })

  it("globs cover whole names, any case, with regex characters taken literally", () => {
    const glob = modelGlob("gpt-4.?-*")
    expect(glob("GPT-4.1-mini")).toBe(true)
    expect(glob("gpt-4x1-mini")).toBe(false)
    expect(glob("my-gpt-4.1-mini")).toBe(false)
    expect(modelGlob("*/claude-*")("anthropic/claude-opus-4")).toBe(true)
    expect(modelGlob("a+b(c)")("a+b(c)")).toBe(true)
  })

  it("splits provider,model at the first comma and trims", () => {
    expect(splitTarget(" a , m,with,commas ")).toEqual({ provider: "a", model: "m,with,commas" })
    expect(splitTarget("no-comma")).toBeUndefined()
    expect(splitTarget(",m")).toBeUndefined()
  })

  it("allTargets lists each target once, in table order", () => {
    expect(allTargets(ROUTES).map((t) => `${t.provider},${t.model}`)).toEqual([
      "a,big", "b,backup", "c,small", "b,reasoner", "a,long", "a,search", "c,opus-like"
    ])
  })
})
