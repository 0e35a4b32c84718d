/**
 * What we know about upstreams and their models: which vendor a base URL points at, which upstream model a Claude
 * model name maps to, and what each model family accepts (PROTOCOL.md §E.2, §G, §I.1). Pure data and lookups.
 */
import type { ReasoningEffort } from "../protocol/openai.ts"

// ---------------------------------------------------------------------------------------------------------------
// Providers
// ---------------------------------------------------------------------------------------------------------------

/**
 * The upstream profiles: each names a request dialect and a set of response quirks (profiles.ts). Hosted vendors
 * first, then self-hosted servers, then `generic` for any other OpenAI-compatible server.
 */
export const PROFILES = [
  "openai",
  "openrouter",
  "deepseek",
  "gemini",
  "xai",
  "groq",
  "mistral",
  "ollama",
  "vllm",
  "llamacpp",
  "lmstudio",
  "generic"
] as const

export type Provider = typeof PROFILES[number]

const OLLAMA_PORT = "11434"
// LM Studio's server listens on 1234 unless the user changes it.
const LMSTUDIO_PORT = "1234"

const hostOf = (baseUrl: string): { hostname: string; port: string } | undefined => {
  const text = baseUrl.trim()
  for (const candidate of [text, `http://${text}`]) {
    try {
      const url = new URL(candidate)
      if (url.hostname !== "") return { hostname: url.hostname.toLowerCase(), port: url.port }
    } catch {
      // not a URL on its own; a bare "host:port" gets a second chance with a scheme in front
    }
  }
  return undefined
}

const isHostOrSubdomain = (hostname: string, domain: string): boolean =>
  hostname === domain || hostname.endsWith(`.${domain}`)

/**
 * The profile a base URL points at: hosted vendors by host, Ollama and LM Studio by their default ports (Ollama
 * also by a host name that says so). vLLM and llama.cpp serve on whatever host and port they are given (vLLM's
 * default 8000 and llama-server's 8080 are every other server's defaults too), so a URL never identifies them:
 * they are `generic` until the configuration names the profile.
 */
export const detectProvider = (baseUrl: string): Provider => {
  const host = hostOf(baseUrl)
  if (host === undefined) return "generic"
  const { hostname, port } = host
  if (hostname === "api.openai.com") return "openai"
  if (isHostOrSubdomain(hostname, "openrouter.ai")) return "openrouter"
  if (hostname === "api.deepseek.com") return "deepseek"
  if (hostname === "api.x.ai") return "xai"
  if (hostname === "generativelanguage.googleapis.com") return "gemini"
  if (hostname === "api.groq.com") return "groq"
  if (hostname === "api.mistral.ai") return "mistral"
  if (port === OLLAMA_PORT || hostname.includes("ollama")) return "ollama"
  if (port === LMSTUDIO_PORT) return "lmstudio"
  return "generic"
}

// ---------------------------------------------------------------------------------------------------------------
// Capabilities
// ---------------------------------------------------------------------------------------------------------------

export interface ModelCapabilities {
  /** The most output tokens the model can produce; the client's `max_tokens` is lowered to it, never raised. */
  readonly outputCap?: number
  /** Accepts `reasoning_effort`. */
  readonly reasoning: boolean
  /** Needs `max_completion_tokens`; `max_tokens` is rejected (OpenAI o-series, GPT-5). */
  readonly usesMaxCompletionTokens: boolean
  /** Rejects (or silently ignores) custom `temperature` / `top_p`. */
  readonly fixedSampling: boolean
  /** Accepts `stop`. */
  readonly acceptsStop: boolean
  /** The `reasoning_effort` values the model takes, lowest first; requests are clamped into this list. */
  readonly efforts: ReadonlyArray<ReasoningEffort>
}

const DEFAULT_CAPABILITIES: ModelCapabilities = {
  reasoning: false,
  usesMaxCompletionTokens: false,
  fixedSampling: false,
  acceptsStop: true,
  efforts: []
}

// OpenAI's reasoning models share one parameter contract: max_completion_tokens, no sampling knobs, no stop.
const OPENAI_REASONING = { reasoning: true, usesMaxCompletionTokens: true, fixedSampling: true, acceptsStop: false }
// xAI's reasoning models reject `stop` (and penalties); only some of them take `reasoning_effort`.
const XAI_REASONING = { acceptsStop: false }

const LOW_TO_HIGH: ReadonlyArray<ReasoningEffort> = ["low", "medium", "high"]
const LOW_TO_XHIGH: ReadonlyArray<ReasoningEffort> = ["low", "medium", "high", "xhigh"]
// DeepSeek maps every effort onto its own levels itself (minimal/low→low, medium…xhigh→high, max→max).
const ANY_EFFORT: ReadonlyArray<ReasoningEffort> = ["minimal", "low", "medium", "high", "xhigh", "max"]

interface Family {
  readonly pattern: RegExp
  readonly capabilities: Partial<ModelCapabilities>
}

/**
 * One row per model family, matched against the normalised name (see `modelFamily`); the first match wins, so
 * specific rows come before general ones. Output caps follow the vendors' documentation and SEED.md §2.6, except o3
 * and o4-mini: OpenAI documents 100,000 output tokens for them (the seed's 200,000 is their context window, and a
 * cap above the real one would let a 400 through).
 */
const FAMILIES: ReadonlyArray<Family> = [
  // OpenAI
  // The chat snapshots take no reasoning_effort but otherwise follow the GPT-5 contract.
  {
    pattern: /^gpt-5(\.\d+)?-chat/,
    capabilities: { outputCap: 16384, usesMaxCompletionTokens: true, fixedSampling: true, acceptsStop: false }
  },
  { pattern: /^gpt-5\.1-codex-max/, capabilities: { ...OPENAI_REASONING, outputCap: 128000, efforts: LOW_TO_XHIGH } },
  { pattern: /^gpt-5(\.1)?-codex/, capabilities: { ...OPENAI_REASONING, outputCap: 128000, efforts: LOW_TO_HIGH } },
  { pattern: /^gpt-5\.\d+-codex/, capabilities: { ...OPENAI_REASONING, outputCap: 128000, efforts: LOW_TO_XHIGH } },
  { pattern: /^gpt-5\.1(?!\d)/, capabilities: { ...OPENAI_REASONING, outputCap: 128000, efforts: ["none", ...LOW_TO_HIGH] } },
  { pattern: /^gpt-5\.\d+/, capabilities: { ...OPENAI_REASONING, outputCap: 128000, efforts: ["none", ...LOW_TO_XHIGH] } },
  { pattern: /^gpt-5/, capabilities: { ...OPENAI_REASONING, outputCap: 128000, efforts: ["minimal", ...LOW_TO_HIGH] } },
  { pattern: /^polaris-alpha/, capabilities: { outputCap: 128000 } },
  // o1-mini / o1-preview predate reasoning_effort but share the rest of the contract.
  { pattern: /^o1-(mini|preview)/, capabilities: { ...OPENAI_REASONING, reasoning: false } },
  { pattern: /^o[134](-|$)/, capabilities: { ...OPENAI_REASONING, outputCap: 100000, efforts: LOW_TO_HIGH } },
  { pattern: /^gpt-4\.1/, capabilities: { outputCap: 32768 } },
  { pattern: /^(gpt-4o|chatgpt-4o)/, capabilities: { outputCap: 16384 } },
  { pattern: /^gpt-oss/, capabilities: { reasoning: true, efforts: LOW_TO_HIGH } },
  // xAI
  { pattern: /^grok-3-mini/, capabilities: { ...XAI_REASONING, reasoning: true, efforts: ["low", "high"] } },
  { pattern: /^grok-code-fast/, capabilities: { ...XAI_REASONING, outputCap: 10000 } },
  { pattern: /^grok-4\.3/, capabilities: { ...XAI_REASONING, reasoning: true, efforts: ["none", ...LOW_TO_HIGH] } },
  { pattern: /^grok-4(\.\d+)?-fast-non-reasoning/, capabilities: { outputCap: 30720 } },
  { pattern: /^grok-4(\.\d+)?-fast/, capabilities: { ...XAI_REASONING, outputCap: 30720 } },
  { pattern: /^grok-4/, capabilities: XAI_REASONING },
  // DeepSeek
  { pattern: /^deepseek-reasoner/, capabilities: { outputCap: 65536, reasoning: true, fixedSampling: true, efforts: ANY_EFFORT } },
  { pattern: /^deepseek-v4/, capabilities: { reasoning: true, fixedSampling: true, efforts: ANY_EFFORT } },
  { pattern: /^deepseek-chat-v3\.1/, capabilities: { outputCap: 134144 } },
  { pattern: /^deepseek-v3\.1-terminus/, capabilities: { outputCap: 65536 } },
  { pattern: /^deepseek-v3\.2-exp/, capabilities: { outputCap: 65536, fixedSampling: true } },
  { pattern: /^deepseek-chat/, capabilities: { outputCap: 8192 } },
  // Qwen (the thinking variants ignore sampling settings: SEED NO_SUPPORT_TEMPERATURE_MODELS)
  { pattern: /^qwen3-vl-235b-a22b-thinking/, capabilities: { outputCap: 32768, fixedSampling: true } },
  { pattern: /^qwen3-vl-30b-a3b-thinking/, capabilities: { outputCap: 262144, fixedSampling: true } },
  { pattern: /^qwen3-(next-80b-a3b|30b-a3b)-thinking/, capabilities: { outputCap: 66560, fixedSampling: true } },
  { pattern: /^qwen3-.*thinking/, capabilities: { fixedSampling: true } },
  { pattern: /^qwen3-coder/, capabilities: { outputCap: 66560 } },
  // Gemini (OpenAI endpoint: reasoning_effort maps onto thinking budgets/levels)
  { pattern: /^gemini-2\.5-flash/, capabilities: { outputCap: 65536, reasoning: true, efforts: ["none", ...LOW_TO_HIGH] } },
  { pattern: /^gemini-(2\.5|3)/, capabilities: { outputCap: 65536, reasoning: true, efforts: LOW_TO_HIGH } },
  // Others seen through OpenRouter
  { pattern: /^kimi-k2-0905/, capabilities: { outputCap: 30720 } },
  { pattern: /^(ling|ring)-1t/, capabilities: { outputCap: 30720 } },
  { pattern: /^glm-4\.6/, capabilities: { outputCap: 202752 } },
  { pattern: /^ernie-4\.5-21b-a3b-thinking/, capabilities: { outputCap: 65536 } },
  { pattern: /^kat-coder-pro/, capabilities: { outputCap: 32000 } }
]

/**
 * The family part of a model id: lower-cased, without a vendor prefix (`openai/`, `x-ai/`, `deepseek/`...), a
 * variant or tag suffix (OpenRouter `:free`, Ollama `:30b`) or a dated snapshot suffix (`-2025-08-07`, `-20250514`).
 */
export const modelFamily = (model: string): string =>
  model
    .trim()
    .toLowerCase()
    .replace(/^.*\//, "")
    .replace(/:.*$/, "")
    .replace(/-(\d{4}-\d{2}-\d{2}|\d{8})$/, "")

export const capabilities = (model: string): ModelCapabilities => {
  const family = modelFamily(model)
  const row = FAMILIES.find(({ pattern }) => pattern.test(family))
  return row === undefined ? DEFAULT_CAPABILITIES : { ...DEFAULT_CAPABILITIES, ...row.capabilities }
}

// ---------------------------------------------------------------------------------------------------------------
// Effort clamping
// ---------------------------------------------------------------------------------------------------------------

const EFFORT_ORDER: ReadonlyArray<ReasoningEffort> = ["none", "minimal", "low", "medium", "high", "xhigh", "max"]

/**
 * The supported effort closest to the request: the requested one if supported, else the next one up (a client
 * that asked for thinking should not get less of it), else the highest supported (xhigh/max on a high-only model).
 * An empty list means "unknown": the request passes through.
 */
export const clampEffort = (effort: ReasoningEffort, supported: ReadonlyArray<ReasoningEffort>): ReasoningEffort => {
  if (supported.length === 0 || supported.includes(effort)) return effort
  const rank = EFFORT_ORDER.indexOf(effort)
  const ranked = [...supported].sort((a, b) => EFFORT_ORDER.indexOf(a) - EFFORT_ORDER.indexOf(b))
  return ranked.find((candidate) => EFFORT_ORDER.indexOf(candidate) > rank) ?? ranked[ranked.length - 1] ?? effort
}
