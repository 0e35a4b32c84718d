/**
 * OpenAI chunks → Anthropic stream events (PROTOCOL.md §I.4), as one explicit state machine.
 *
 * Anthropic blocks are strictly sequential: a block opens, gets deltas, closes, and never reopens. OpenAI deltas are
 * not: parallel tool calls may alternate their argument fragments (index 0, 1, 0, 1…), and text can follow a tool
 * call whose arguments are still arriving. So the machine keeps the answer as an ordered list of *segments* (a
 * thinking run, a text run, a redacted thinking item, one tool call), in order of first appearance:
 *
 * - the first unfinished segment is the open block; its content streams live, one delta per upstream fragment;
 * - later segments buffer what they receive and flush it as one delta when their block opens;
 * - the open block closes when it is finished and a later segment exists. Text and thinking runs are finished when
 *   anything else starts; a tool call is finished when its arguments form a complete JSON object or array (tracked
 *   incrementally by `JsonShape`), because only then is it certain no fragment is still to come;
 * - `finish_reason` finishes everything: the remaining segments are emitted in order.
 *
 * For the usual upstreams (sequential tool calls, whole-argument calls from Gemini/Ollama) everything streams live;
 * interleaved calls stream the first call live and the others as soon as their turn comes. Either way every
 * tool_use block's accumulated `input_json_delta`s equal that call's full upstream arguments, up to the end of the
 * first complete JSON value: once a call's JSON is complete, whatever else arrives for it (some vendors repeat the
 * full arguments) is dropped, as the non-streaming path cuts at the same place.
 *
 * A failure before finish_reason closes the open block and ends the machine with `failure` set; the machine never
 * writes an `error` event itself, the HTTP edge renders the failure (ARCHITECTURE.md, house rules).
 */
import * as Cause from "effect/Cause"
import { type ProxyError, UpstreamProtocolError } from "../errors.ts"
import type { BlockDelta, ResponseBlock, StreamEvent, Usage } from "../protocol/anthropic.ts"
import {
  type Chunk,
  type ChunkToolCall,
  type ReasoningDetail,
  SILENCE,
  type UpstreamEvent,
  type Usage as UpstreamUsage
} from "../protocol/openai.ts"
import { contentPieces } from "./content-chunks.ts"
import { fromUpstreamErrorObject } from "./errors.ts"
import { carriesThoughtSignatures, signatureCarrier, thoughtSignatureOf } from "./gemini-signatures.ts"
import { isEncrypted, mergeDetail, PLACEHOLDER_SIGNATURE, sealDetails } from "./reasoning-replay.ts"
import { reasoningText, type ReplyContext, sealsReasoning, toStop, toUsage } from "./response.ts"
import { clientToolName, JsonShape, sanitizeToolId, syntheticToolId } from "./tool-calls.ts"

export interface StreamContext extends ReplyContext {
  /** Our estimate of the prompt size, for `message_start`; the upstream's count replaces it at the end. */
  readonly inputTokens: number
}

type SegmentKind = "thinking" | "text" | "redacted_thinking" | "tool_use"

interface Segment {
  readonly kind: SegmentKind
  /** Position in the answer; below the cursor means its block has closed. */
  readonly position: number
  /** Content received before the segment's block opened. */
  pending: string
  /** No more content will come. */
  sealed: boolean
  /** thinking: the upstream's signature, if it sent one. */
  signature: string | undefined
  /** thinking, when sealing: the upstream's reasoning items behind this block, fragments merged. */
  details: Array<ReasoningDetail> | undefined
  /** redacted_thinking: the opaque payload. */
  readonly data: string
  /** tool_use: the id we show the client, the upstream name (may arrive late), the argument structure so far. */
  readonly toolId: string
  toolName: string | undefined
  readonly shape: JsonShape | undefined
}

const PING: StreamEvent = { type: "ping" }

/** Characters per token for the output estimate used when the upstream sends no usage. */
const CHARS_PER_TOKEN = 4

/** "Streaming" until finish_reason; "finished" while waiting for the usage chunk; "done" once the stream has ended. */
type Phase = "streaming" | "finished" | "done"

export class StreamTranslator {
  private readonly segments: Array<Segment> = []
  /** Index of the first segment whose block has not closed. */
  private cursor = 0
  /** Whether `segments[cursor]` has its block open. */
  private opened = false
  private nextBlockIndex = 0
  private readonly callsById = new Map<string, Segment>()
  private readonly callsByIndex = new Map<number, Segment>()
  private lastCall: Segment | undefined = undefined
  private toolCount = 0
  private emittedToolUse = false
  private sawRefusal = false
  private finishReason: string | undefined = undefined
  private matchedStop: unknown = undefined
  private usage: UpstreamUsage | undefined = undefined
  private producedChars = 0
  private phase: Phase = "streaming"
  private ending: Cause.Cause<ProxyError> | undefined = undefined
  private out: Array<StreamEvent> = []
  private readonly ctx: StreamContext
  /** The vendor wants its reasoning items back: they are sealed into the blocks (reasoning-replay.ts). */
  private readonly seal: boolean
  /** Gemini's thought signatures by tool id shown, when carried (gemini-signatures.ts); any fragment may bring one. */
  private readonly thoughtSignatures: Map<string, string> | undefined

  constructor(ctx: StreamContext) {
    this.ctx = ctx
    this.seal = sealsReasoning(ctx.provider)
    this.thoughtSignatures = carriesThoughtSignatures(ctx.provider) ? new Map() : undefined
  }

  /** The message completed (`message_stop` is out) or failed (see `failure`); further input is ignored. */
  get isDone(): boolean {
    return this.phase === "done"
  }

  /** Why the stream ended badly, once it has: what it must fail with after the closing events are out. */
  get failure(): Cause.Cause<ProxyError> | undefined {
    return this.ending
  }

  start(): StreamEvent {
    return {
      type: "message_start",
      message: {
        id: this.ctx.messageId,
        type: "message",
        role: "assistant",
        model: this.ctx.clientModel,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: {
          input_tokens: this.ctx.inputTokens,
          output_tokens: 1,
          cache_creation_input_tokens: 0,
          cache_read_input_tokens: 0
        }
      }
    }
  }

  step(chunk: Chunk): Array<StreamEvent> {
    return this.stepAll([chunk])
  }

  /**
   * One network read's worth of upstream events → the events they cause, appended to `out`. A SILENCE becomes a
   * `ping` in place, so quiet connections stay alive (also while the usage chunk is awaited).
   */
  stepAll(events: ReadonlyArray<UpstreamEvent>, out: Array<StreamEvent> = []): Array<StreamEvent> {
    this.out = out
    for (const event of events) this.read(event)
    return out
  }

  /** The upstream ended cleanly. Without a finish_reason the answer is incomplete, and the client must know. */
  finish(out: Array<StreamEvent> = []): Array<StreamEvent> {
    this.out = out
    if (this.phase === "streaming") {
      this.abort(new UpstreamProtocolError({ message: "upstream closed the stream before finishing" }))
    } else if (this.phase === "finished") {
      this.complete()
    }
    return out
  }

  /**
   * The upstream failed (an error event, a timeout, a broken connection): the open block closes and `failure` holds
   * the error. After finish_reason the answer is already whole and only the usage chunk can be lost, so the message
   * completes normally instead.
   */
  fail(error: ProxyError, out: Array<StreamEvent> = []): Array<StreamEvent> {
    this.out = out
    if (this.phase === "streaming") this.abort(error)
    else if (this.phase === "finished") this.complete()
    return out
  }

  /**
   * A defect (a bug of ours, or in the stream below): the open block closes, so the client still sees a
   * well-formed end, and the stream fails with `cause` for the edge to render. Given the `out` of a step that threw,
   * the events it made before the throw go out first: each push is a whole event, so they agree with the state the
   * block is closed from.
   */
  failInternally(cause: Cause.Cause<never>, out: Array<StreamEvent> = []): Array<StreamEvent> {
    this.out = out
    if (this.phase !== "done") this.end(cause)
    return out
  }

  // -------------------------------------------------------------------------------------------------------------
  // Reading chunks
  // -------------------------------------------------------------------------------------------------------------

  private read(event: UpstreamEvent): void {
    if (this.phase === "done") return
    if (event === SILENCE) {
      this.out.push(PING)
      return
    }
    const chunk = event
    // Groq reports usage under x_groq (profiles.ts); everyone else under `usage`.
    const usage = chunk.usage ?? chunk.x_groq?.usage
    if (usage) this.usage = usage
    if (this.phase !== "streaming") return
    if (chunk.error) return this.abort(fromUpstreamErrorObject(chunk.error, this.ctx.secrets))
    const choice = firstChoice(chunk)
    if (choice === undefined) return
    const delta = choice.delta
    if (delta) {
      const thinking = reasoningText(delta)
      if (thinking !== "") this.appendRun("thinking", thinking)
      for (const detail of delta.reasoning_details ?? []) this.readDetail(detail)
      // A string, or Mistral's chunk list with thinking chunks (content-chunks.ts).
      for (const piece of contentPieces(delta.content)) this.appendRun(piece.kind, piece.text)
      if (delta.refusal) {
        this.sawRefusal = true
        this.appendRun("text", delta.refusal)
      }
      for (const call of delta.tool_calls ?? []) this.readToolCall(call)
      this.advance()
    }
    const finishReason = choice.finish_reason
    if (!finishReason) return
    if (finishReason === "error") {
      // OpenRouter: the provider failed mid-generation (the error object usually rides along and was seen above).
      return this.abort(fromUpstreamErrorObject({ message: "upstream stopped with an error" }))
    }
    this.finishReason = finishReason
    this.matchedStop = choice.stop_reason
    // The signatures' carrier goes last: a signature can arrive with any fragment of its call.
    if (this.thoughtSignatures !== undefined && this.thoughtSignatures.size > 0) {
      this.pushSegment("thinking", {}).signature = signatureCarrier(this.thoughtSignatures).signature
    }
    this.closeAll()
    this.phase = "finished"
  }

  private appendRun(kind: "thinking" | "text", text: string): void {
    this.write(this.openRun(kind), text)
  }

  private openRun(kind: "thinking" | "text"): Segment {
    const tail = this.segments[this.segments.length - 1]
    return tail !== undefined && tail.kind === kind && !tail.sealed ? tail : this.pushSegment(kind, {})
  }

  /**
   * An OpenRouter reasoning item (fragment). Its text already came through `reasoningText`; here an encrypted item
   * becomes a redacted_thinking block, a signature goes to the thinking run it signs (often in a chunk of its own;
   * with no run open it starts one), and when sealing, the fragment joins the run's items.
   */
  private readDetail(detail: ReasoningDetail): void {
    if (isEncrypted(detail)) {
      if (detail.data) this.pushSegment("redacted_thinking", { data: this.seal ? sealDetails([detail]) : detail.data })
      return
    }
    const carries = Boolean(detail.signature) || (this.seal && Boolean(detail.text || detail.summary))
    if (!carries) return
    const run = this.openRun("thinking")
    if (detail.signature) run.signature = detail.signature
    if (this.seal) mergeDetail(run.details ??= [], detail)
  }

  private readToolCall(fragment: ChunkToolCall): void {
    const name = fragment.function?.name || undefined
    const args = fragment.function?.arguments || undefined
    const call = this.findCall(fragment) ?? (fragment.id || name || args ? this.newCall(fragment) : undefined)
    if (call === undefined) return
    if (call.toolName === undefined && name !== undefined) call.toolName = name
    const signature = thoughtSignatureOf(fragment)
    if (signature !== undefined) this.thoughtSignatures?.set(call.toolId, signature)
    if (args !== undefined && call.position >= this.cursor) this.write(call, args)
  }

  /**
   * Calls are keyed by index AND id: a new id starts a new call even at a known index (Gemini puts every call at
   * index 0, Kimi/LM Studio reuse indexes); fragments without an id continue the call at their index, or the latest
   * call when there is no index either.
   */
  private findCall(fragment: ChunkToolCall): Segment | undefined {
    if (fragment.id) return this.callsById.get(fragment.id)
    return typeof fragment.index === "number" ? this.callsByIndex.get(fragment.index) : this.lastCall
  }

  private newCall(fragment: ChunkToolCall): Segment {
    const ordinal = this.toolCount++
    const call = this.pushSegment("tool_use", {
      toolId: fragment.id ? sanitizeToolId(fragment.id) : syntheticToolId(this.ctx.messageId, ordinal),
      shape: new JsonShape()
    })
    if (fragment.id) this.callsById.set(fragment.id, call)
    if (typeof fragment.index === "number") this.callsByIndex.set(fragment.index, call)
    this.lastCall = call
    return call
  }

  private pushSegment(
    kind: SegmentKind,
    fields: { readonly data?: string; readonly toolId?: string; readonly shape?: JsonShape }
  ): Segment {
    const tail = this.segments[this.segments.length - 1]
    if (tail !== undefined && (tail.kind === "text" || tail.kind === "thinking")) tail.sealed = true
    const segment: Segment = {
      kind,
      position: this.segments.length,
      pending: "",
      sealed: kind === "redacted_thinking",
      signature: undefined,
      details: undefined,
      data: fields.data ?? "",
      toolId: fields.toolId ?? "",
      toolName: undefined,
      shape: fields.shape
    }
    this.segments.push(segment)
    return segment
  }

  private write(segment: Segment, text: string): void {
    this.producedChars += text.length
    const kept = segment.shape === undefined ? text : segment.shape.take(text)
    if (kept === "") return
    if (this.opened && segment.position === this.cursor) this.emitDelta(segment, kept)
    else segment.pending += kept
  }

  // -------------------------------------------------------------------------------------------------------------
  // Opening and closing blocks
  // -------------------------------------------------------------------------------------------------------------

  /** Opens the first unfinished segment, and moves past finished ones while a later segment is waiting. */
  private advance(): void {
    while (this.cursor < this.segments.length) {
      const head = this.segments[this.cursor]!
      if (!this.opened) {
        // A tool block needs its name at content_block_start; wait for it unless nothing more will come.
        if (head.kind === "tool_use" && head.toolName === undefined && !head.sealed) return
        this.open(head)
      }
      const finished = head.sealed || head.shape?.isComplete === true
      if (!finished || this.cursor + 1 >= this.segments.length) return
      this.close(head)
    }
  }

  private closeAll(): void {
    for (const segment of this.segments) segment.sealed = true
    this.advance()
    const head = this.segments[this.cursor]
    if (this.opened && head !== undefined) this.close(head)
  }

  private open(segment: Segment): void {
    this.out.push({ type: "content_block_start", index: this.nextBlockIndex, content_block: this.emptyBlock(segment) })
    this.opened = true
    if (segment.kind === "tool_use") this.emittedToolUse = true
    if (segment.pending !== "") {
      this.emitDelta(segment, segment.pending)
      segment.pending = ""
    }
  }

  private close(segment: Segment): void {
    const index = this.nextBlockIndex
    if (segment.kind === "thinking") {
      this.out.push({
        type: "content_block_delta",
        index,
        delta: { type: "signature_delta", signature: this.signatureOf(segment) }
      })
    }
    this.out.push({ type: "content_block_stop", index })
    this.nextBlockIndex++
    this.cursor++
    this.opened = false
  }

  private signatureOf(segment: Segment): string {
    if (this.seal && segment.details !== undefined && segment.details.length > 0) return sealDetails(segment.details)
    return segment.signature ?? PLACEHOLDER_SIGNATURE
  }

  private emptyBlock(segment: Segment): ResponseBlock {
    switch (segment.kind) {
      case "thinking":
        return { type: "thinking", thinking: "", signature: "" }
      case "text":
        return { type: "text", text: "" }
      case "redacted_thinking":
        return { type: "redacted_thinking", data: segment.data }
      case "tool_use":
        return {
          type: "tool_use",
          id: segment.toolId,
          name: clientToolName(this.ctx.toolNames, segment.toolName ?? ""),
          input: {}
        }
    }
  }

  private emitDelta(segment: Segment, text: string): void {
    this.out.push({ type: "content_block_delta", index: this.nextBlockIndex, delta: deltaOf(segment.kind, text) })
  }

  // -------------------------------------------------------------------------------------------------------------
  // Ending
  // -------------------------------------------------------------------------------------------------------------

  private complete(): void {
    const stop = toStop(this.finishReason, this.matchedStop, this.emittedToolUse, this.sawRefusal)
    this.out.push(
      {
        type: "message_delta",
        delta: { stop_reason: stop.stop_reason, stop_sequence: stop.stop_sequence },
        usage: this.finalUsage()
      },
      { type: "message_stop" }
    )
    this.phase = "done"
  }

  /** Overwrites message_start's numbers; our estimates stand in for whatever the upstream did not report. */
  private finalUsage(): Usage {
    const usage = toUsage(this.usage)
    if (typeof this.usage?.prompt_tokens !== "number") usage.input_tokens = this.ctx.inputTokens
    if (typeof this.usage?.completion_tokens !== "number") {
      usage.output_tokens = Math.ceil(this.producedChars / CHARS_PER_TOKEN)
    }
    return usage
  }

  private abort(error: ProxyError): void {
    this.end(Cause.fail(error))
  }

  /** Closes the open block (buffered segments are dropped: the client discards the message anyway) and ends. */
  private end(cause: Cause.Cause<ProxyError>): void {
    const head = this.segments[this.cursor]
    if (this.opened && head !== undefined) this.close(head)
    this.ending = cause
    this.phase = "done"
  }
}

const firstChoice = (chunk: Chunk) => {
  const choices = chunk.choices
  if (!Array.isArray(choices)) return undefined
  // With n > 1 other choices interleave; only the first one is the answer.
  for (const choice of choices) if (choice && (choice.index ?? 0) === 0) return choice
  return undefined
}

const deltaOf = (kind: SegmentKind, text: string): BlockDelta => {
  switch (kind) {
    case "thinking":
      return { type: "thinking_delta", thinking: text }
    case "tool_use":
      return { type: "input_json_delta", partial_json: text }
    default:
      return { type: "text_delta", text }
  }
}
