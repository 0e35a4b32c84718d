/**
 * The Anthropic Messages API as we read it (requests) and write it (responses, stream events, errors).
 *
 * Request schemas are open: every object keeps the fields we do not know, so a newer client never gets a 400 for a
 * field we have not heard of, and conversion can still see everything. Known block types are checked strictly;
 * unknown block types fall through to `OtherBlock` and are handled (or dropped) by the converter.
 */
import * as Schema from "effect/Schema"

const Rest = [Schema.Record(Schema.String, Schema.Unknown)] as const
const open = <const F extends Schema.Struct.Fields>(fields: F) => Schema.StructWithRest(Schema.Struct(fields), Rest)
const JsonObject = Schema.Record(Schema.String, Schema.Unknown)

// ---------------------------------------------------------------------------------------------------------------
// Request content blocks
// ---------------------------------------------------------------------------------------------------------------

export const TextBlock = open({ type: Schema.Literal("text"), text: Schema.String })

export const ImageSource = Schema.Union([
  open({ type: Schema.Literal("base64"), media_type: Schema.String, data: Schema.String }),
  open({ type: Schema.Literal("url"), url: Schema.String }),
  open({ type: Schema.Literal("file"), file_id: Schema.String })
])
export const ImageBlock = open({ type: Schema.Literal("image"), source: ImageSource })

export const DocumentSource = Schema.Union([
  open({ type: Schema.Literal("base64"), media_type: Schema.String, data: Schema.String }),
  open({ type: Schema.Literal("text"), media_type: Schema.optionalKey(Schema.String), data: Schema.String }),
  open({ type: Schema.Literal("url"), url: Schema.String }),
  open({ type: Schema.Literal("file"), file_id: Schema.String }),
  open({ type: Schema.Literal("content"), content: Schema.Union([Schema.String, Schema.Array(JsonObject)]) })
])
export const DocumentBlock = open({
  type: Schema.Literal("document"),
  source: DocumentSource,
  title: Schema.optionalKey(Schema.NullOr(Schema.String)),
  context: Schema.optionalKey(Schema.NullOr(Schema.String))
})

export const ToolUseBlock = open({
  type: Schema.Literal("tool_use"),
  id: Schema.String,
  name: Schema.String,
  input: Schema.Unknown
})

export const ThinkingBlock = open({
  type: Schema.Literal("thinking"),
  thinking: Schema.String,
  signature: Schema.optionalKey(Schema.String)
})
export const RedactedThinkingBlock = open({ type: Schema.Literal("redacted_thinking"), data: Schema.String })

const KNOWN_BLOCK_TYPES: ReadonlySet<string> = new Set([
  "text",
  "image",
  "document",
  "tool_use",
  "tool_result",
  "thinking",
  "redacted_thinking"
])

/** Any block type we do not convert (server tool round trips, search results, ...): kept, then dropped or flattened. */
export const OtherBlock = open({
  type: Schema.String.check(
    Schema.makeFilter((t: string) => !KNOWN_BLOCK_TYPES.has(t) || `malformed "${t}" block`)
  )
})

/** What a tool result may contain. */
export const ToolResultContentBlock = Schema.Union([TextBlock, ImageBlock, DocumentBlock, OtherBlock])

export const ToolResultBlock = open({
  type: Schema.Literal("tool_result"),
  tool_use_id: Schema.String,
  content: Schema.optionalKey(Schema.NullOr(Schema.Union([Schema.String, Schema.Array(ToolResultContentBlock)]))),
  is_error: Schema.optionalKey(Schema.NullOr(Schema.Boolean))
})

export const ContentBlock = Schema.Union([
  TextBlock,
  ImageBlock,
  DocumentBlock,
  ToolUseBlock,
  ToolResultBlock,
  ThinkingBlock,
  RedactedThinkingBlock,
  OtherBlock
])

export const Message = open({
  role: Schema.Literals(["user", "assistant", "system"]),
  content: Schema.Union([Schema.String, Schema.Array(ContentBlock)])
})

// ---------------------------------------------------------------------------------------------------------------
// Tools, tool choice, thinking
// ---------------------------------------------------------------------------------------------------------------

/** A custom tool has an `input_schema`; Anthropic-defined tools (web_search_20250305, bash_20250124...) have a versioned type. */
export const Tool = open({
  name: Schema.String,
  type: Schema.optionalKey(Schema.NullOr(Schema.String)),
  description: Schema.optionalKey(Schema.NullOr(Schema.String)),
  input_schema: Schema.optionalKey(JsonObject)
})

export const ToolChoice = Schema.Union([
  open({ type: Schema.Literal("auto"), disable_parallel_tool_use: Schema.optionalKey(Schema.Boolean) }),
  open({ type: Schema.Literal("any"), disable_parallel_tool_use: Schema.optionalKey(Schema.Boolean) }),
  open({ type: Schema.Literal("tool"), name: Schema.String, disable_parallel_tool_use: Schema.optionalKey(Schema.Boolean) }),
  open({ type: Schema.Literal("none") })
])

export const Thinking = Schema.Union([
  open({ type: Schema.Literal("enabled"), budget_tokens: Schema.Number }),
  open({ type: Schema.Literal("disabled") }),
  open({ type: Schema.Literal("adaptive") })
])

export const OutputConfig = open({
  effort: Schema.optionalKey(Schema.NullOr(Schema.String))
})

const SystemPrompt = Schema.Union([Schema.String, Schema.Array(TextBlock)])

const NonNegativeInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

// ---------------------------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------------------------

export const MessagesRequest = open({
  model: Schema.String,
  max_tokens: NonNegativeInt,
  messages: Schema.Array(Message),
  system: Schema.optionalKey(SystemPrompt),
  stream: Schema.optionalKey(Schema.NullOr(Schema.Boolean)),
  temperature: Schema.optionalKey(Schema.NullOr(Schema.Number)),
  top_p: Schema.optionalKey(Schema.NullOr(Schema.Number)),
  top_k: Schema.optionalKey(Schema.NullOr(Schema.Number)),
  stop_sequences: Schema.optionalKey(Schema.NullOr(Schema.Array(Schema.String))),
  tools: Schema.optionalKey(Schema.NullOr(Schema.Array(Tool))),
  tool_choice: Schema.optionalKey(Schema.NullOr(ToolChoice)),
  thinking: Schema.optionalKey(Schema.NullOr(Thinking)),
  output_config: Schema.optionalKey(Schema.NullOr(OutputConfig)),
  metadata: Schema.optionalKey(Schema.NullOr(open({ user_id: Schema.optionalKey(Schema.NullOr(Schema.String)) })))
})

export const CountTokensRequest = open({
  model: Schema.String,
  messages: Schema.Array(Message),
  system: Schema.optionalKey(SystemPrompt),
  tools: Schema.optionalKey(Schema.NullOr(Schema.Array(Tool)))
})

export type TextBlock = typeof TextBlock.Type
export type ImageBlock = typeof ImageBlock.Type
export type DocumentBlock = typeof DocumentBlock.Type
export type ToolUseBlock = typeof ToolUseBlock.Type
export type ToolResultBlock = typeof ToolResultBlock.Type
export type ThinkingBlock = typeof ThinkingBlock.Type
export type RedactedThinkingBlock = typeof RedactedThinkingBlock.Type
export type OtherBlock = typeof OtherBlock.Type
export type ContentBlock = typeof ContentBlock.Type
export type ToolResultContentBlock = typeof ToolResultContentBlock.Type
export type Message = typeof Message.Type
export type Tool = typeof Tool.Type
export type ToolChoice = typeof ToolChoice.Type
export type Thinking = typeof Thinking.Type
export type MessagesRequest = typeof MessagesRequest.Type
export type CountTokensRequest = typeof CountTokensRequest.Type

// ---------------------------------------------------------------------------------------------------------------
// Responses and stream events (we write these, so plain types are enough)
// ---------------------------------------------------------------------------------------------------------------

export type StopReason =
  | "end_turn"
  | "max_tokens"
  | "stop_sequence"
  | "tool_use"
  | "pause_turn"
  | "refusal"
  | "model_context_window_exceeded"

export interface Usage {
  input_tokens: number
  output_tokens: number
  cache_creation_input_tokens: number
  cache_read_input_tokens: number
  output_tokens_details?: { thinking_tokens: number }
}

export type ResponseBlock =
  | { type: "text"; text: string }
  | { type: "thinking"; thinking: string; signature: string }
  | { type: "redacted_thinking"; data: string }
  | { type: "tool_use"; id: string; name: string; input: Record<string, unknown> }

export interface MessageResponse {
  id: string
  type: "message"
  role: "assistant"
  model: string
  content: Array<ResponseBlock>
  stop_reason: StopReason | null
  stop_sequence: string | null
  usage: Usage
}

export type BlockDelta =
  | { type: "text_delta"; text: string }
  | { type: "thinking_delta"; thinking: string }
  | { type: "signature_delta"; signature: string }
  | { type: "input_json_delta"; partial_json: string }

export type ErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "billing_error"
  | "permission_error"
  | "not_found_error"
  | "request_too_large"
  | "rate_limit_error"
  | "api_error"
  | "timeout_error"
  | "overloaded_error"

export type StreamEvent =
  | { type: "message_start"; message: MessageResponse }
  | { type: "content_block_start"; index: number; content_block: ResponseBlock }
  | { type: "content_block_delta"; index: number; delta: BlockDelta }
  | { type: "content_block_stop"; index: number }
  | {
    type: "message_delta"
    delta: { stop_reason: StopReason | null; stop_sequence: string | null }
    usage: Partial<Usage> & { output_tokens: number }
  }
  | { type: "message_stop" }
  | { type: "ping" }
  | { type: "error"; error: { type: ErrorType; message: string } }

export interface ErrorBody {
  type: "error"
  error: { type: ErrorType; message: string }
  request_id: string | null
}
