/**
 * OpenAI completion → Anthropic message (PROTOCOL.md §I.3), plus the mapping rules the streaming converter shares:
 * stop reasons, the usage split, tool ids and names, reasoning extraction and tool-argument parsing.
 *
 * Pure: no clock, no randomness. Ids we have to invent derive from the caller's `messageId`, so the same upstream
 * answer always converts to the same message.
 */
import { Result } from "effect"
import { UpstreamProtocolError, type UpstreamFailure } from "../errors.ts"
import type { MessageResponse, ResponseBlock, StopReason, Usage } from "../protocol/anthropic.ts"
import type { ChatResponse, ReasoningDetail, ResponseToolCall, Usage as UpstreamUsage } from "../protocol/openai.ts"
import { fromUpstreamErrorObject } from "./errors.ts"
import type { ToolNames } from "./request.ts"

export interface ReplyContext {
  /** `msg_…`, chosen by the caller. */
  readonly messageId: string
  /** The model the client asked for; echoed back because Claude Code keys features off the name. */
  readonly clientModel: string
  readonly toolNames: ToolNames
}

/**
 * Signature for thinking that did not come from Anthropic. Clients must send thinking blocks back unchanged, so the
 * request converter recognises this value and strips it before replaying history upstream.
 */
export const PLACEHOLDER_SIGNATURE = "ccproxy-unsigned-thinking"

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
 * contradict the content. vLLM names the matched stop string in the non-standard `stop_reason` field.
 */
export const toStop = (
  finishReason: string | null | undefined,
  matchedStop: unknown,
  hasToolUse: boolean,
  hasRefusal: boolean
): Stop => {
  if (hasToolUse) return { stop_reason: "tool_use", stop_sequence: null }
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
// Tool ids and names
// ---------------------------------------------------------------------------------------------------------------

const VALID_TOOL_ID = /^[a-zA-Z0-9_-]+$/

const fnv1a = (text: string): string => {
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return (hash >>> 0).toString(16).padStart(8, "0")
}

/**
 * Anthropic rejects tool ids outside `[a-zA-Z0-9_-]` when the client sends them back. Replacing characters alone
 * could merge two ids (`a.1`, `a:1`), so a changed id also gets a hash of the original. Deterministic, so the
 * request converter can recompute it.
 */
export const sanitizeToolId = (id: string): string =>
  VALID_TOOL_ID.test(id) ? id : `${id.replace(/[^a-zA-Z0-9_-]+/g, "_")}_${fnv1a(id)}`

/** An id for a call the upstream sent without one; unique because message ids are. */
export const syntheticToolId = (messageId: string, ordinal: number): string =>
  `toolu_${messageId.replace(/^msg_/, "").replace(/[^a-zA-Z0-9_-]+/g, "_")}_${ordinal}`

export const clientToolName = (toolNames: ToolNames, upstreamName: string): string =>
  toolNames.get(upstreamName) ?? upstreamName

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
// Tool arguments
// ---------------------------------------------------------------------------------------------------------------

const QUOTE = 34
const BACKSLASH = 92
const OPEN_BRACE = 123
const CLOSE_BRACE = 125
const OPEN_BRACKET = 91
const CLOSE_BRACKET = 93

const isJsonWhitespace = (c: number): boolean => c === 32 || c === 10 || c === 13 || c === 9

/**
 * Follows the bracket structure of JSON text fed in pieces, without parsing it: enough to tell when a streamed
 * argument object is complete (the streaming converter uses that to know a tool call is over) and what would close
 * a truncated one (the repair below). Linear in the text; each piece is scanned once.
 */
export class JsonShape {
  private readonly owed: Array<string> = []
  private inString = false
  private escaped = false
  private kind: "unknown" | "container" | "scalar" = "unknown"
  private seen = 0
  /** Offset just past the bracket that closed the top-level object/array; -1 while it is still open. */
  end = -1

  get isComplete(): boolean {
    return this.end >= 0
  }

  feed(text: string): void {
    if (this.end < 0 && this.kind !== "scalar") this.scan(text)
    this.seen += text.length
  }

  /** What would close everything still open: an unterminated string, then the brackets. */
  closingSuffix(): string {
    let suffix = this.inString ? "\"" : ""
    for (let i = this.owed.length - 1; i >= 0; i--) suffix += this.owed[i]
    return suffix
  }

  private scan(text: string): void {
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i)
      if (this.inString) {
        if (this.escaped) this.escaped = false
        else if (c === BACKSLASH) this.escaped = true
        else if (c === QUOTE) this.inString = false
      } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
        this.kind = "container"
        this.owed.push(c === OPEN_BRACE ? "}" : "]")
      } else if (this.kind === "unknown") {
        if (isJsonWhitespace(c)) continue
        this.kind = "scalar"
        return
      } else if (c === QUOTE) {
        this.inString = true
      } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
        this.owed.pop()
        if (this.owed.length === 0) {
          this.end = this.seen + i + 1
          return
        }
      }
    }
  }
}

type Parsed = { readonly ok: true; readonly value: unknown } | { readonly ok: false }

const parseJson = (text: string): Parsed => {
  try {
    return { ok: true, value: JSON.parse(text) }
  } catch {
    return { ok: false }
  }
}

const CODE_FENCE = /^```[a-zA-Z]*\s*([\s\S]*?)\s*```$/

/** Light repairs for what models commonly get wrong: code fences, text after the object, missing closers. */
const repairJson = (text: string): Parsed => {
  const fenced = CODE_FENCE.exec(text)
  const candidate = fenced ? fenced[1] ?? "" : text
  if (fenced) {
    const parsed = parseJson(candidate)
    if (parsed.ok) return parsed
  }
  const shape = new JsonShape()
  shape.feed(candidate)
  if (shape.isComplete) return parseJson(candidate.slice(0, shape.end))
  const suffix = shape.closingSuffix()
  if (suffix === "") return { ok: false }
  return parseJson(candidate.replace(/[\s,]+$/, "") + suffix)
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const asToolInput = (value: unknown): Record<string, unknown> =>
  isPlainObject(value) ? value : value === null ? {} : { value }

/**
 * Anthropic's `input` must be an object. Invalid JSON is repaired when that is safe, else kept visible as
 * `raw_arguments` so the tool call fails loudly instead of running with made-up input. Repair is off for answers
 * cut by the token limit: closing a truncated object would hand the tool half of its input as if it were whole.
 */
export const toToolInput = (
  args: string | null | undefined,
  options: { readonly repair: boolean }
): Record<string, unknown> => {
  const text = args?.trim() ?? ""
  if (text === "") return {}
  const parsed = parseJson(text)
  if (parsed.ok) return asToolInput(parsed.value)
  if (options.repair) {
    const repaired = repairJson(text)
    if (repaired.ok) return asToolInput(repaired.value)
  }
  return { raw_arguments: args ?? "" }
}

// ---------------------------------------------------------------------------------------------------------------
// The message
// ---------------------------------------------------------------------------------------------------------------

type Message = NonNullable<NonNullable<ChatResponse["choices"]>[number]["message"]>

const reasoningBlocks = (message: Message): Array<ResponseBlock> => {
  const blocks: Array<ResponseBlock> = []
  const thinking = reasoningText(message)
  const signature = reasoningSignature(message.reasoning_details)
  if (thinking !== "" || signature !== undefined) {
    blocks.push({ type: "thinking", thinking, signature: signature ?? PLACEHOLDER_SIGNATURE })
  }
  for (const detail of message.reasoning_details ?? []) {
    if (detail.type === "reasoning.encrypted" && detail.data) blocks.push({ type: "redacted_thinking", data: detail.data })
  }
  return blocks
}

const toolUseBlocks = (
  calls: ReadonlyArray<ResponseToolCall>,
  ctx: ReplyContext,
  repair: boolean
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
        ? fromUpstreamErrorObject(response.error)
        : new UpstreamProtocolError({ message: "the upstream answer has no choices" })
    )
  }
  // OpenRouter reports a generation that broke off as finish_reason "error" (with the error object next to it).
  if (choice.finish_reason === "error") return Result.fail(fromUpstreamErrorObject(response.error ?? undefined))
  const message: Message = choice.message ?? {}
  const content: Array<ResponseBlock> = reasoningBlocks(message)
  if (message.content) content.push({ type: "text", text: message.content })
  if (message.refusal) content.push({ type: "text", text: message.refusal })
  const tools = toolUseBlocks(message.tool_calls ?? [], ctx, choice.finish_reason !== "length")
  content.push(...tools)
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
