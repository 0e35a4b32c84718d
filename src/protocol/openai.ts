/**
 * OpenAI Chat Completions as we write it (requests) and read it (responses, stream chunks, errors).
 *
 * Upstream answers come from many vendors with many quirks, so the read side is typed loosely (every field
 * optional or nullable) and the converters decide what a missing field means.
 */

export type TextPart = { type: "text"; text: string }
export type ImagePart = { type: "image_url"; image_url: { url: string; detail?: "auto" | "low" | "high" } }
export type FilePart = { type: "file"; file: { filename?: string; file_data?: string; file_id?: string } }
export type ContentPart = TextPart | ImagePart | FilePart

export interface ToolCall {
  id: string
  type: "function"
  function: { name: string; arguments: string }
  /** Gemini: the call's thought signature, returned exactly as the vendor sent it (PROTOCOL.md §G.4). */
  extra_content?: { google: { thought_signature: string } }
}

export type ChatMessage =
  | { role: "system" | "developer"; content: string }
  | { role: "user"; content: string | Array<ContentPart> }
  | {
    role: "assistant"
    content: string | null
    tool_calls?: Array<ToolCall>
    /** DeepSeek: the turn's chain of thought, which its thinking mode needs back on tool-call turns. */
    reasoning_content?: string
    /** OpenRouter: the turn's reasoning items, returned exactly as generated (PROTOCOL.md §G.1). */
    reasoning_details?: Array<ReasoningDetail>
  }
  | { role: "tool"; tool_call_id: string; content: string }

export interface FunctionTool {
  type: "function"
  function: { name: string; description?: string; parameters: Record<string, unknown> }
}

export type ToolChoice = "auto" | "none" | "required" | { type: "function"; function: { name: string } }

export type ReasoningEffort = "none" | "minimal" | "low" | "medium" | "high" | "xhigh" | "max"

export interface ChatRequest {
  model: string
  messages: Array<ChatMessage>
  stream?: boolean
  stream_options?: { include_usage: boolean }
  max_tokens?: number
  max_completion_tokens?: number
  temperature?: number
  top_p?: number
  stop?: Array<string>
  tools?: Array<FunctionTool>
  tool_choice?: ToolChoice
  parallel_tool_calls?: boolean
  reasoning_effort?: ReasoningEffort
  /** OpenRouter's unified reasoning switch. */
  reasoning?: { effort?: ReasoningEffort; max_tokens?: number; enabled?: boolean; exclude?: boolean }
  user?: string
}

// ---------------------------------------------------------------------------------------------------------------
// Read side
// ---------------------------------------------------------------------------------------------------------------

export interface Usage {
  prompt_tokens?: number | null
  completion_tokens?: number | null
  total_tokens?: number | null
  prompt_tokens_details?: { cached_tokens?: number | null; cache_write_tokens?: number | null } | null
  completion_tokens_details?: { reasoning_tokens?: number | null } | null
  /** DeepSeek's names for the cache split. */
  prompt_cache_hit_tokens?: number | null
  prompt_cache_miss_tokens?: number | null
}

/** OpenRouter's structured reasoning item (`reasoning.text`, `reasoning.summary`, `reasoning.encrypted`). */
export interface ReasoningDetail {
  type?: string
  text?: string | null
  summary?: string | null
  signature?: string | null
  data?: string | null
  id?: string | null
  /** Which model family made it, e.g. `anthropic-claude-v1`, `openai-responses-v1`. */
  format?: string | null
  /** Position among the message's items; stream fragments of one item share it. */
  index?: number | null
}

export interface ResponseToolCall {
  id?: string | null
  type?: string | null
  function?: { name?: string | null; arguments?: string | null } | null
  /** Gemini: `google.thought_signature`, on the first call of a step (PROTOCOL.md §G.4). */
  extra_content?: { google?: { thought_signature?: string | null } | null } | null
}

/**
 * Mistral: `content` may be a list of chunks instead of a string; reasoning models put their thinking in
 * `{type: "thinking", thinking: [{type: "text", text}]}` chunks next to `{type: "text", text}` ones.
 */
export interface ContentChunk {
  type?: string | null
  text?: string | null
  thinking?: ReadonlyArray<ContentChunk | null> | null
}

export interface ErrorObject {
  message?: string | null
  type?: string | null
  code?: string | number | null
  param?: string | null
  metadata?: Record<string, unknown> | null
}

/** What an assistant message (whole, or one stream delta of it) may carry, across vendors. */
export interface AssistantOutput<Call> {
  role?: string | null
  content?: string | ReadonlyArray<ContentChunk | null> | null
  refusal?: string | null
  /** DeepSeek, xAI grok-3-mini, older vLLM. */
  reasoning_content?: string | null
  /** OpenRouter, newer vLLM. */
  reasoning?: string | null
  /** OpenRouter's structured reasoning, with signatures. */
  reasoning_details?: Array<ReasoningDetail> | null
  tool_calls?: Array<Call> | null
}

interface Choice {
  index?: number
  finish_reason?: string | null
  /** vLLM: the matched stop string (or stop token id) when finish_reason is "stop". */
  stop_reason?: string | number | null
}

/** The envelope shared by whole completions and stream chunks. */
interface Envelope<C> {
  id?: string | null
  model?: string | null
  choices?: Array<C> | null
  usage?: Usage | null
  error?: ErrorObject | null
}

export type ChatResponse = Envelope<Choice & { message?: AssistantOutput<ResponseToolCall> | null }>

export interface ChunkToolCall extends ResponseToolCall {
  index?: number | null
}

export type Chunk = Envelope<Choice & { delta?: AssistantOutput<ChunkToolCall> | null }> & {
  /** Groq: usage on the finish chunk, under its own key (vercel/ai#1651). */
  x_groq?: { usage?: Usage | null } | null
}

/**
 * Not on the wire: the upstream reader's word that nothing arrived for the ping interval. The stream converter
 * turns it into an Anthropic `ping` event.
 */
export const SILENCE: unique symbol = Symbol("ccproxy/silence")
export type Silence = typeof SILENCE

/** What the upstream stream yields: chunks, and silences between them. */
export type UpstreamEvent = Chunk | Silence
