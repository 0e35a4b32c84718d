/**
 * OpenAI completion → Anthropic message (PROTOCOL.md §I.3), plus the mapping rules the streaming converter shares:
 * stop reasons, the usage split and reasoning extraction. Tool ids, names and arguments live in tool-calls.ts.
 *
 * Pure: no clock, no randomness. Ids we have to invent derive from the caller's `messageId`, so the same upstream
 * answer always converts to the same message.
 */
import * as Result from "effect/Result"
import { UpstreamProtocolError, type UpstreamFailure } from "../errors.ts"
import type { MessageResponse, ResponseBlock, StopReason, Usage } from "../protocol/anthropic.ts"
import type { ChatResponse, ReasoningDetail, ResponseToolCall, Usage as UpstreamUsage } from "../protocol/openai.ts"
import { contentPieces } from "./content-chunks.ts"
import { fromUpstreamErrorObject } from "./errors.ts"
import { carriesThoughtSignatures, signatureCarrier, thoughtSignatureOf } from "./gemini-signatures.ts"
import type { Provider } from "./models.ts"
import { profile } from "./profiles.ts"
import { isEncrypted, mergeDetails, PLACEHOLDER_SIGNATURE, sealDetails } from "./reasoning-replay.ts"
import { clientToolName, sanitizeToolId, syntheticToolId, toToolInput } from "./tool-calls.ts"
import type { ToolNames } from "./tools.ts"

export { JsonShape, sanitizeToolId, toToolInput } from "./tool-calls.ts"
export { PLACEHOLDER_SIGNATURE } from "./reasoning-replay.ts"

export interface ReplyContext {
  /** `msg_…`, chosen by the caller. */
  readonly messageId: string
  /** The model the client asked for; echoed back because Claude Code keys features off the name. */
  readonly clientModel: string
  readonly toolNames: ToolNames
  /** Values to redact from upstream error messages (our upstream key); bearer tokens and `sk-` keys always are. */
  readonly secrets?: ReadonlyArray<string> | undefined
  /**
   * The upstream's profile, when known: a vendor that wants its reasoning back (OpenRouter) gets it sealed into the
   * thinking blocks (reasoning-replay.ts). Without it, signatures are passed through as the upstream sent them.
   */
  readonly provider?: Provider | undefined
}

/** Whether the reply must seal the upstream's reasoning items into the thinking blocks for the next turn. */
export const sealsReasoning = (provider: Provider | undefined): boolean =>
  provider !== undefined && profile(provider).reasoningHistory === "reasoning_details"

// ---------------------------------------------------------------------------------------------------------------
// Stop reason
// ---------------------------------------------------------------------------------------------------------------

export interface Stop {
  readonly stop_reason: StopReason
  readonly stop_sequence: string | null
}

/**
 * `finish_reason` is only a hint: Ollama and Gemini say "stop" after tool calls, so content decides first.
 * `tool_calls` without any call is treated as a normal end, because a `tool_use` stop with no tool_use block would
 * contradict the content. The one exception is "length": a call cut off by the token limit has truncated input and
 * must not run, so it is `max_tokens` (as Anthropic reports it). vLLM names the matched stop string in the
 * non-standard `stop_reason` field.
 */
export const toStop = (
  finishReason: string | null | undefined,
  matchedStop: unknown,
  hasToolUse: boolean,
  hasRefusal: boolean
): Stop => {
  if (hasToolUse && finishReason !== "length") return { stop_reason: "tool_use", stop_sequence: null }
  if (hasRefusal || finishReason === "content_filter") return { stop_reason: "refusal", stop_sequence: null }
  if (finishReason === "length") return { stop_reason: "max_tokens", stop_sequence: null }
  if (finishReason === "stop" && typeof matchedStop === "string" && matchedStop !== "") {
    return { stop_reason: "stop_sequence", stop_sequence: matchedStop }
  }
  return { stop_reason: "end_turn", stop_sequence: null }
}

// ---------------------------------------------------------------------------------------------------------------
// Usage
// ---------------------------------------------------------------------------------------------------------------

const count = (value: unknown): number => (typeof value === "number" && Number.isFinite(value) && value > 0 ? value : 0)

/**
 * OpenAI's `prompt_tokens` includes cache reads and writes; Anthropic's `input_tokens` excludes both, so that
 * `input_tokens + cache_read_input_tokens + cache_creation_input_tokens` equals the prompt size.
 */
export const toUsage = (usage: UpstreamUsage | null | undefined): Usage => {
  const cacheRead = Math.max(count(usage?.prompt_tokens_details?.cached_tokens), count(usage?.prompt_cache_hit_tokens))
  const cacheWrite = count(usage?.prompt_tokens_details?.cache_write_tokens)
  const thinking = count(usage?.completion_tokens_details?.reasoning_tokens)
  const result: Usage = {
    input_tokens: Math.max(0, count(usage?.prompt_tokens) - cacheRead - cacheWrite),
    output_tokens: count(usage?.completion_tokens),
    cache_creation_input_tokens: cacheWrite,
    cache_read_input_tokens: cacheRead
  }
  if (thinking > 0) result.output_tokens_details = { thinking_tokens: thinking }
  return result
}

// ---------------------------------------------------------------------------------------------------------------
// Reasoning
// ---------------------------------------------------------------------------------------------------------------

export interface ReasoningSource {
  readonly reasoning_content?: string | null
  readonly reasoning?: string | null
  readonly reasoning_details?: ReadonlyArray<ReasoningDetail> | null
}

/**
 * OpenRouter sends the same text twice (`reasoning` and `reasoning_details`), so the plain fields win and the
 * details are only read for text when the plain fields are empty.
 */
export const reasoningText = (source: ReasoningSource): string => {
  const plain = source.reasoning_content || source.reasoning
  if (plain) return plain
  let text = ""
  for (const detail of source.reasoning_details ?? []) {
    if (detail.type === "reasoning.text" && detail.text) text += detail.text
    else if (detail.type === "reasoning.summary" && detail.summary) text += detail.summary
  }
  return text
}

/** The last signature in the details (Anthropic models behind OpenRouter sign the end of their thinking). */
export const reasoningSignature = (details: ReadonlyArray<ReasoningDetail> | null | undefined): string | undefined => {
  let signature: string | undefined
  for (const detail of details ?? []) if (detail.signature) signature = detail.signature
  return signature
}

// ---------------------------------------------------------------------------------------------------------------
// The message
// ---------------------------------------------------------------------------------------------------------------

type Message = NonNullable<NonNullable<ChatResponse["choices"]>[number]["message"]>

/**
 * Thinking first: one thinking block for the text (and summary) items, then one redacted_thinking block per
 * encrypted item. Sealed (see `sealsReasoning`), the thinking block's signature holds its items and each
 * redacted block's data its item, so the next request can give the vendor back exactly what it sent.
 */
const reasoningBlocks = (message: Message, seal: boolean): Array<ResponseBlock> => {
  const blocks: Array<ResponseBlock> = []
  const thinking = reasoningText(message)
  const items = mergeDetails(message.reasoning_details ?? [])
  const textItems = items.filter((item) => !isEncrypted(item))
  const signature = seal && textItems.length > 0 ? sealDetails(textItems) : reasoningSignature(textItems)
  if (thinking !== "" || signature !== undefined) {
    blocks.push({ type: "thinking", thinking, signature: signature ?? PLACEHOLDER_SIGNATURE })
  }
  for (const item of items) {
    if (isEncrypted(item) && item.data) blocks.push({ type: "redacted_thinking", data: seal ? sealDetails([item]) : item.data })
  }
  return blocks
}

/** The tool_use blocks; `signatures`, when given, collects Gemini's thought signatures by the ids shown. */
const toolUseBlocks = (
  calls: ReadonlyArray<ResponseToolCall>,
  ctx: ReplyContext,
  repair: boolean,
  signatures: Map<string, string> | undefined
): Array<ResponseBlock> => {
  const blocks: Array<ResponseBlock> = []
  const usedIds = new Set<string>()
  for (const call of calls) {
    const fn = call.function
    if (!fn) continue // custom (non-function) tools have no Anthropic counterpart
    const upstreamId = call.id ? sanitizeToolId(call.id) : undefined
    const id = upstreamId !== undefined && !usedIds.has(upstreamId)
      ? upstreamId
      : syntheticToolId(ctx.messageId, blocks.length)
    usedIds.add(id)
    const signature = thoughtSignatureOf(call)
    if (signatures !== undefined && signature !== undefined) signatures.set(id, signature)
    blocks.push({
      type: "tool_use",
      id,
      name: clientToolName(ctx.toolNames, fn.name ?? ""),
      input: toToolInput(fn.arguments, { repair })
    })
  }
  return blocks
}

export const toMessage = (
  response: ChatResponse,
  ctx: ReplyContext
): Result.Result<MessageResponse, UpstreamFailure | UpstreamProtocolError> => {
  const choice = response.choices?.[0]
  if (choice === undefined) {
    return Result.fail(
      response.error
        ? fromUpstreamErrorObject(response.error, ctx.secrets)
        : new UpstreamProtocolError({ message: "the upstream answer has no choices" })
    )
  }
  // OpenRouter reports a generation that broke off as finish_reason "error" (with the error object next to it).
  if (choice.finish_reason === "error") return Result.fail(fromUpstreamErrorObject(response.error ?? undefined, ctx.secrets))
  const message: Message = choice.message ?? {}
  const content: Array<ResponseBlock> = reasoningBlocks(message, sealsReasoning(ctx.provider))
  // A string, or Mistral's chunk list with thinking chunks (content-chunks.ts).
  for (const piece of contentPieces(message.content)) {
    content.push(piece.kind === "text"
      ? { type: "text", text: piece.text }
      : { type: "thinking", thinking: piece.text, signature: PLACEHOLDER_SIGNATURE })
  }
  if (message.refusal) content.push({ type: "text", text: message.refusal })
  const signatures = carriesThoughtSignatures(ctx.provider) ? new Map<string, string>() : undefined
  const tools = toolUseBlocks(message.tool_calls ?? [], ctx, choice.finish_reason !== "length", signatures)
  content.push(...tools)
  // Gemini's thought signatures travel to the next turn in a block of their own, after the calls.
  if (signatures !== undefined && signatures.size > 0) content.push(signatureCarrier(signatures))
  if (content.length === 0) content.push({ type: "text", text: "" })
  const stop = toStop(choice.finish_reason, choice.stop_reason, tools.length > 0, Boolean(message.refusal))
  return Result.succeed({
    id: ctx.messageId,
    type: "message",
    role: "assistant",
    model: ctx.clientModel,
    content,
    stop_reason: stop.stop_reason,
    stop_sequence: stop.stop_sequence,
    usage: toUsage(response.usage)
  })
}
