import { describe, expect, it } from "@effect/vitest"
import { capabilities, clampEffort, detectProvider, modelFamily } from "../../src/convert/models.ts"
import type { Provider } from "../../src/convert/models.ts"
import type { ReasoningEffort } from "../../src/protocol/openai.ts"

describe("detectProvider", () => {
  const cases: ReadonlyArray<readonly [string, Provider]> = [
    ["https://api.openai.com/v1", "openai"],
    ["https://API.OPENAI.COM/v1/", "openai"],
    ["https://openrouter.ai/api/v1", "openrouter"],
    ["https://api.deepseek.com", "deepseek"],
    ["https://api.deepseek.com/v1", "deepseek"],
    ["https://api.x.ai/v1", "xai"],
    ["https://generativelanguage.googleapis.com/v1beta/openai/", "gemini"],
    ["http://localhost:11434/v1", "ollama"],
    ["http://127.0.0.1:11434/v1", "ollama"],
    ["http://ollama:8080/v1", "ollama"],
    ["localhost:11434", "ollama"],
    ["https://api.groq.com/openai/v1", "groq"],
    ["https://api.mistral.ai/v1", "mistral"],
    ["http://localhost:1234/v1", "lmstudio"],
    ["http://192.168.1.20:1234/v1", "lmstudio"],
    // vLLM (8000) and llama-server (8080) defaults are every other server's too: generic until configured.
    ["http://localhost:8080/v1", "generic"],
    ["https://api.groq.com.evil.example/v1", "generic"],
    ["http://localhost:8000/v1", "generic"],
    ["https://my-vllm.internal/v1", "generic"],
    ["https://api.openai.com.evil.example/v1", "generic"],
    ["not a url", "generic"],
    ["", "generic"]
  ]
  it.each(cases)("%s → %s", (baseUrl, provider) => {
    expect(detectProvider(baseUrl)).toBe(provider)
  })
})

describe("modelFamily", () => {
  const cases: ReadonlyArray<readonly [string, string]> = [
    ["gpt-5-2025-08-07", "gpt-5"],
    ["openai/gpt-5-mini", "gpt-5-mini"],
    ["x-ai/grok-4-fast", "grok-4-fast"],
    ["deepseek/deepseek-chat-v3.1", "deepseek-chat-v3.1"],
    ["kwaipilot/kat-coder-pro:free", "kat-coder-pro"],
    ["qwen3-coder:30b", "qwen3-coder"],
    ["claude-sonnet-4-20250514", "claude-sonnet-4"],
    ["  GPT-4o  ", "gpt-4o"]
  ]
  it.each(cases)("%s → %s", (model, family) => {
    expect(modelFamily(model)).toBe(family)
  })
})

describe("capabilities", () => {
  it("unknown models: no cap, not reasoning, max_tokens, sampling and stop allowed", () => {
    expect(capabilities("llama-3.3-70b-instruct")).toEqual({
      reasoning: false,
      usesMaxCompletionTokens: false,
      fixedSampling: false,
      acceptsStop: true,
      efforts: []
    })
  })

  it.each([
    ["gpt-5", 128000],
    ["gpt-5-2025-08-07", 128000],
    ["openai/gpt-5-mini", 128000],
    ["gpt-5.1", 128000],
    ["openrouter/polaris-alpha", 128000],
    ["o3", 100000],
    ["o3-2025-04-16", 100000],
    ["o4-mini", 100000],
    ["gpt-4o", 16384],
    ["gpt-4o-mini", 16384],
    ["gpt-4.1", 32768],
    ["gpt-4.1-mini", 32768],
    ["deepseek-reasoner", 65536],
    ["deepseek-chat", 8192],
    ["deepseek/deepseek-chat-v3.1", 134144],
    ["deepseek/deepseek-v3.1-terminus", 65536],
    ["deepseek/deepseek-v3.2-exp", 65536],
    ["qwen/qwen3-coder", 66560],
    ["qwen/qwen3-coder-480b-a35b-07-25", 66560],
    ["qwen3-coder-plus", 66560],
    ["qwen/qwen3-30b-a3b-thinking-2507", 66560],
    ["qwen/qwen3-next-80b-a3b-thinking", 66560],
    ["qwen/qwen3-vl-235b-a22b-thinking", 32768],
    ["qwen/qwen3-vl-30b-a3b-thinking", 262144],
    ["x-ai/grok-code-fast-1", 10000],
    ["x-ai/grok-4-fast", 30720],
    ["x-ai/grok-4.1-fast", 30720],
    ["moonshotai/kimi-k2-0905", 30720],
    ["inclusionai/ling-1t", 30720],
    ["inclusionai/ring-1t", 30720],
    ["z-ai/glm-4.6", 202752],
    ["baidu/ernie-4.5-21b-a3b-thinking", 65536],
    ["kwaipilot/kat-coder-pro:free", 32000],
    ["gemini-2.5-pro", 65536]
  ] as const)("%s has output cap %i", (model, cap) => {
    expect(capabilities(model).outputCap).toBe(cap)
  })

  it.each(["o1", "o3", "o3-mini", "o4-mini", "gpt-5", "gpt-5-mini", "gpt-5-nano", "gpt-5.1", "gpt-5.2", "gpt-5-codex"])(
    "%s is an OpenAI reasoning model: max_completion_tokens, fixed sampling, no stop",
    (model) => {
      const caps = capabilities(model)
      expect(caps.reasoning).toBe(true)
      expect(caps.usesMaxCompletionTokens).toBe(true)
      expect(caps.fixedSampling).toBe(true)
      expect(caps.acceptsStop).toBe(false)
    }
  )

  it.each(["gpt-4o", "gpt-4.1", "deepseek-chat", "qwen/qwen3-coder", "llama3.1:8b"])("%s is a plain chat model", (model) => {
    const caps = capabilities(model)
    expect(caps.reasoning).toBe(false)
    expect(caps.usesMaxCompletionTokens).toBe(false)
    expect(caps.fixedSampling).toBe(false)
    expect(caps.acceptsStop).toBe(true)
  })

  it.each([
    // SEED NO_SUPPORT_TEMPERATURE_MODELS
    "qwen/qwen3-235b-a22b-thinking-2507",
    "qwen/qwen3-vl-235b-a22b-thinking",
    "deepseek/deepseek-v3.2-exp",
    "deepseek-reasoner",
    "gpt-5-chat-latest"
  ])("%s has fixed sampling", (model) => {
    expect(capabilities(model).fixedSampling).toBe(true)
  })

  it.each(["grok-4", "x-ai/grok-4-fast", "grok-code-fast-1", "grok-3-mini"])("xAI reasoning model %s takes no stop", (model) => {
    expect(capabilities(model).acceptsStop).toBe(false)
  })

  it("xAI: only grok-3-mini (and grok-4.3) take reasoning_effort", () => {
    expect(capabilities("grok-3-mini").efforts).toEqual(["low", "high"])
    expect(capabilities("grok-4.3").reasoning).toBe(true)
    expect(capabilities("grok-4").reasoning).toBe(false)
    expect(capabilities("grok-4-fast-non-reasoning").acceptsStop).toBe(true)
  })

  it("effort lists per OpenAI generation", () => {
    expect(capabilities("gpt-5").efforts).toEqual(["minimal", "low", "medium", "high"])
    expect(capabilities("gpt-5.1").efforts).toEqual(["none", "low", "medium", "high"])
    expect(capabilities("gpt-5.2").efforts).toEqual(["none", "low", "medium", "high", "xhigh"])
    expect(capabilities("gpt-5.1-codex-max").efforts).toEqual(["low", "medium", "high", "xhigh"])
    expect(capabilities("gpt-5-codex").efforts).toEqual(["low", "medium", "high"])
    expect(capabilities("o3").efforts).toEqual(["low", "medium", "high"])
  })

  it("o1-mini keeps the o-series contract but takes no reasoning_effort", () => {
    const caps = capabilities("o1-mini")
    expect(caps.reasoning).toBe(false)
    expect(caps.usesMaxCompletionTokens).toBe(true)
  })
})

describe("clampEffort", () => {
  const gpt5: ReadonlyArray<ReasoningEffort> = ["minimal", "low", "medium", "high"]
  const cases: ReadonlyArray<readonly [ReasoningEffort, ReadonlyArray<ReasoningEffort>, ReasoningEffort]> = [
    ["medium", gpt5, "medium"],
    ["xhigh", gpt5, "high"],
    ["max", gpt5, "high"],
    ["max", ["none", "low", "medium", "high", "xhigh"], "xhigh"],
    ["medium", ["low", "high"], "high"],
    ["low", ["medium", "high"], "medium"],
    ["high", [], "high"]
  ]
  it.each(cases)("%s within %j → %s", (effort, supported, expected) => {
    expect(clampEffort(effort, supported)).toBe(expected)
  })
})
