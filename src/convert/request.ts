/**
 * Anthropic Messages request → OpenAI Chat Completions request (PROTOCOL.md §I.1, §I.6, §I.7). Pure.
 *
 * The upstream request is built from scratch out of an allow-list of fields; nothing from the client body is spread
 * into it, so Anthropic-only fields (cache_control, context_management, output_config, citations...) cannot leak.
 *
 * Decisions where Anthropic and OpenAI do not line up:
 * - `max_tokens: 0` (Anthropic's cache pre-warm) becomes 1: OpenAI-compatible APIs reject 0.
 * - Thinking budget → effort: < 4096 low, < 16384 medium, else high. Adaptive thinking without an effort: medium
 *   (OpenAI's own default). `output_config.effort` wins over a budget. `thinking: disabled` sends nothing.
 * - Which output-limit field, reasoning switch, `user` and `stream_options` go out is the provider's request
 *   dialect (profiles.ts). OpenRouter gets its `reasoning` object whatever the model: it drops what the model
 *   cannot use. `reasoning_effort` goes only to models that accept it.
 * - `metadata.user_id` → `user` as `u_` + 32 hex of its SHA-256, where the dialect takes `user`.
 *
 * Messages are converted in messages.ts, tools in tools.ts; this module sets the top-level fields and composes them.
 */
import { createHash } from "node:crypto"
import * as Result from "effect/Result"
import { InvalidRequest } from "../errors.ts"
import type * as A from "../protocol/anthropic.ts"
import type * as O from "../protocol/openai.ts"
import { withThoughtSignatures } from "./gemini-signatures.ts"
import { toChatMessages, upstreamToolId } from "./messages.ts"
import { capabilities, clampEffort } from "./models.ts"
import { profile } from "./profiles.ts"
import { type Context, reject, type Target } from "./request-context.ts"
import { planTools, reverseToolNames, setTools, type ToolNames } from "./tools.ts"

export type { Target, ToolNames }
export { MAX_TOOLS } from "./tools.ts"

export interface Converted {
  readonly request: O.ChatRequest
  readonly toolNames: ToolNames
  /** What was dropped or changed, for a debug log. */
  readonly notes: ReadonlyArray<string>
}

export const MAX_STOP_SEQUENCES = 4

export const toChatRequest = (req: A.MessagesRequest, target: Target): Result.Result<Converted, InvalidRequest> => {
  try {
    return Result.succeed(convert(req, target))
  } catch (error) {
    if (error instanceof InvalidRequest) return Result.fail(error)
    throw error
  }
}

const convert = (req: A.MessagesRequest, target: Target): Converted => {
  const notes = new Set<string>()
  const caps = capabilities(target.model)
  const { functionTools, toolNames } = planTools(req, notes)
  const context: Context = { target, caps, profile: profile(target.provider), toolNames, notes }

  const converted = toChatMessages(req, context)
  // Gemini's thought signatures go back on the tool calls they came with (gemini-signatures.ts).
  const messages = context.profile.reasoningHistory === "thought_signatures"
    ? withThoughtSignatures(converted, req.messages, context, (id) => upstreamToolId(id, context.profile.request.toolIds))
    : converted
  const request: O.ChatRequest = { model: target.model, messages }
  if (request.messages.length === 0) reject("messages: at least one non-empty message is required")

  setOutputLimit(request, req.max_tokens, context)
  setSampling(request, req, context)
  setReasoning(request, req, context)
  setTools(request, req, functionTools, context)
  setUser(request, req.metadata?.user_id, context)
  if (req.stream === true) {
    request.stream = true
    // Usage is asked for where the option is accepted; the stream converter tolerates its absence either way.
    if (context.profile.request.streamUsage) request.stream_options = { include_usage: true }
  }
  // Messages go last. They hold most of the bytes and usually the first character beyond Latin-1, after which
  // JSON.stringify writes everything in two-byte form; what comes before them (the tools) stays one-byte, which
  // makes serialising the body 20-30% cheaper.
  const { messages: _, ...head } = request
  return { request: { ...head, messages }, toolNames: reverseToolNames(toolNames), notes: [...notes] }
}

// ---------------------------------------------------------------------------------------------------------------
// Limits, sampling, reasoning, user
// ---------------------------------------------------------------------------------------------------------------

const setOutputLimit = (request: O.ChatRequest, requested: number, { target, caps, profile, notes }: Context): void => {
  const cap = caps.outputCap
  const capped = cap !== undefined && requested > cap ? cap : requested
  if (capped < requested) notes.add(`lowered max_tokens ${requested} to ${target.model}'s output cap ${capped}`)
  if (requested === 0) notes.add("max_tokens 0 sent as 1 (OpenAI-compatible APIs reject 0)")
  const limit = Math.max(1, capped)
  const field = profile.request.outputLimit
  if (field === "max_completion_tokens" || (field === "by-model" && caps.usesMaxCompletionTokens)) {
    request.max_completion_tokens = limit
  } else {
    request.max_tokens = limit
  }
}

const setSampling = (request: O.ChatRequest, req: A.MessagesRequest, { target, caps, notes }: Context): void => {
  const samplingAllowed = !caps.reasoning && !caps.fixedSampling
  if (req.temperature != null) {
    if (samplingAllowed) request.temperature = req.temperature
    else notes.add(`dropped temperature: ${target.model} does not take it`)
  }
  if (req.top_p != null) {
    if (samplingAllowed) request.top_p = req.top_p
    else notes.add(`dropped top_p: ${target.model} does not take it`)
  }
  if (req.top_k != null) notes.add("dropped top_k: not part of Chat Completions")
  const stops = (req.stop_sequences ?? []).filter((stop) => stop !== "")
  if (stops.length === 0) return
  if (!caps.acceptsStop) {
    notes.add(`dropped stop_sequences: ${target.model} does not take stop`)
    return
  }
  if (stops.length > MAX_STOP_SEQUENCES) {
    notes.add(`sent only the first ${MAX_STOP_SEQUENCES} of ${stops.length} stop_sequences`)
  }
  request.stop = stops.slice(0, MAX_STOP_SEQUENCES)
}

const ANTHROPIC_EFFORTS: ReadonlySet<string> = new Set(["low", "medium", "high", "xhigh", "max"])

export const effortForBudget = (budgetTokens: number): O.ReasoningEffort =>
  budgetTokens < 4096 ? "low" : budgetTokens < 16384 ? "medium" : "high"

/** What the client asked for, as an effort (and the exact budget when it gave one). */
const requestedReasoning = (req: A.MessagesRequest): { effort: O.ReasoningEffort; budget?: number } | undefined => {
  const thinking = req.thinking
  if (thinking?.type === "disabled") return undefined
  const effort = req.output_config?.effort
  if (effort != null && ANTHROPIC_EFFORTS.has(effort)) return { effort: effort as O.ReasoningEffort }
  if (thinking?.type === "enabled") {
    return { effort: effortForBudget(thinking.budget_tokens), budget: thinking.budget_tokens }
  }
  if (thinking?.type === "adaptive") return { effort: "medium" }
  return undefined
}

const setReasoning = (request: O.ChatRequest, req: A.MessagesRequest, { target, caps, profile, notes }: Context): void => {
  const wanted = requestedReasoning(req)
  if (wanted === undefined) return
  const dialect = profile.request.reasoning
  if (dialect === "none") {
    notes.add(`dropped thinking: ${profile.name} takes no reasoning switch`)
    return
  }
  if (dialect === "reasoning-object") {
    // OpenRouter needs the budget below max_tokens; our output cap may have lowered max_tokens under it.
    const limit = request.max_tokens ?? request.max_completion_tokens ?? 1
    request.reasoning = wanted.budget === undefined
      ? { effort: wanted.effort }
      : { max_tokens: Math.max(1, Math.min(wanted.budget, limit - 1)) }
    return
  }
  if (!caps.reasoning) {
    notes.add(`dropped thinking: ${target.model} does not take reasoning_effort`)
    return
  }
  const effort = clampEffort(wanted.effort, caps.efforts)
  if (effort !== wanted.effort) {
    notes.add(`reasoning effort ${wanted.effort} sent as ${effort} (${target.model}'s nearest)`)
  }
  request.reasoning_effort = effort
}

const setUser = (request: O.ChatRequest, userId: string | null | undefined, { profile, notes }: Context): void => {
  if (userId == null || userId === "") return
  if (profile.request.user) request.user = stableUserId(userId)
  else notes.add(`dropped metadata.user_id: ${profile.name} does not take user`)
}

/** Claude Code's user_id can be a long JSON string; a hash keeps it short, stable and free of account details. */
export const stableUserId = (userId: string): string =>
  `u_${createHash("sha256").update(userId).digest("hex").slice(0, 32)}`
