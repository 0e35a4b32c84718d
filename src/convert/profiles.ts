/**
 * One row per upstream profile: the request dialect the request converters follow, how the vendor wants reasoning
 * back across turns, and the response quirks it is known for. Pure data; the converters read a row instead of
 * testing provider names.
 *
 * Evidence is cited per field: a PROTOCOL.md section (which carries its own sources), or an issue/doc reference
 * for vendors PROTOCOL.md does not cover (Groq, Mistral, LM Studio). "observed" marks third-party reports.
 *
 * Response quirks are handled by the one stream/response converter for every upstream (it reads all reasoning
 * fields, keys tool calls by index and id, derives tool_use from content, reads usage wherever it comes); `quirks`
 * records which vendor does what, and test/convert/profiles.test.ts replays a cassette for each one listed.
 */
import { PROFILES, type Provider } from "./models.ts"

export { type Provider } from "./models.ts"

/** Which field carries the client's `max_tokens`. `by-model`: `max_completion_tokens` for models that need it. */
export type OutputLimitField = "max_tokens" | "max_completion_tokens" | "by-model"

/**
 * How thinking is asked for: OpenRouter's `reasoning` object, `reasoning_effort` (sent only to models that take it,
 * see models.ts), or not at all (a vendor that rejects unknown fields and documents no reasoning switch).
 */
export type ReasoningRequest = "reasoning-object" | "reasoning_effort" | "none"

/**
 * How an earlier assistant turn's thinking goes back upstream:
 * - `drop`: the vendor does not take it (OpenAI returns no reasoning text; others ignore or reject it);
 * - `reasoning_content`: DeepSeek, the thinking text on the assistant message;
 * - `reasoning_details`: OpenRouter, the reasoning items exactly as generated (signatures and encrypted items
 *   included). The reply carries them to the client inside the thinking block's signature (reasoning-replay.ts);
 * - `thought_signatures`: Gemini, the opaque signature of each tool call, back on that call
 *   (`extra_content.google.thought_signature`); thinking text is dropped. The reply carries them in a thinking block
 *   of their own (gemini-signatures.ts).
 */
export type ReasoningHistory = "drop" | "reasoning_content" | "reasoning_details" | "thought_signatures"

/** Tool-call ids the vendor accepts in history; `alnum9` ids are rewritten deterministically before sending. */
export type ToolIdRule = "any" | "alnum9"

/** What JSON Schema the vendor takes in tool parameters. */
export interface SchemaDialect {
  /** Keywords removed wherever they appear as a keyword (never as a property name). */
  readonly dropKeywords: ReadonlyArray<string>
  /** String `format`s kept; any other string format is removed. Undefined: every format is kept. */
  readonly stringFormats?: ReadonlyArray<string>
}

export interface RequestDialect {
  readonly outputLimit: OutputLimitField
  readonly reasoning: ReasoningRequest
  /** Sends `stream_options: {include_usage: true}` on streamed requests. */
  readonly streamUsage: boolean
  /** Takes `user` (the hashed `metadata.user_id`). */
  readonly user: boolean
  /** Takes `tool_choice`. */
  readonly toolChoice: boolean
  /** Accepts a system message after other messages; else all system text goes into one leading message. */
  readonly systemAnywhere: boolean
  /** PDF documents: as `file` parts (`data`), also by URL (`data-and-url`), or refused (`none`). */
  readonly documents: "none" | "data" | "data-and-url"
  /** Fetches `image_url` URLs itself (else only data URLs work, and a URL image gets a note). */
  readonly imageUrls: boolean
  readonly schema: SchemaDialect
  readonly toolIds: ToolIdRule
  /** `opt-in`: parallel tool calls are off unless the request sets `parallel_tool_calls: true`. */
  readonly parallelToolCalls: "default-on" | "opt-in"
}

/** Response behaviours seen from a vendor (see the module comment: documentation checked by cassette tests). */
export type ResponseQuirk =
  /** Reasoning text in `reasoning_content`. */
  | "reasoning-in-reasoning_content"
  /** Reasoning text in `reasoning`. */
  | "reasoning-in-reasoning"
  /** Structured `reasoning_details` (text with signatures, summaries, encrypted items). */
  | "reasoning-details"
  /** Parallel calls share `index` 0 or carry none, told apart only by id. */
  | "tool-index-reused"
  /** Argument fragments of parallel calls interleave. */
  | "tool-calls-interleaved"
  /** `finish_reason: "stop"` although tool calls were returned. */
  | "stop-after-tool-calls"
  /** Tool-call ids are 9 alphanumerics, and ids of that shape are required in history. */
  | "tool-ids-alnum9"
  /** Usage rides on the finish chunk (no separate usage chunk). */
  | "usage-on-finish-chunk"
  /** Usage comes after finish_reason, in a chunk of its own. */
  | "usage-after-finish"
  /** Usage under `x_groq.usage` instead of `usage`. */
  | "usage-under-x_groq"
  /** Cache hits as `prompt_cache_hit_tokens`, not `prompt_tokens_details.cached_tokens`. */
  | "deepseek-cache-fields"
  /** The matched stop string in the non-standard `choices[].stop_reason`. */
  | "stop-reason-string"
  /** A mid-stream error as a chunk with `error` and `finish_reason: "error"`. */
  | "error-chunk"
  /** Tool calls carry an opaque `extra_content.google.thought_signature` that must come back on them. */
  | "tool-call-thought-signatures"
  /** `content` as a list of chunks, reasoning in `{type: "thinking", thinking: [...]}` ones. */
  | "thinking-in-content-chunks"

export interface HeaderSettings {
  readonly referer: string
  readonly appName: string
}

export interface Profile {
  readonly name: Provider
  readonly request: RequestDialect
  readonly reasoningHistory: ReasoningHistory
  readonly quirks: ReadonlyArray<ResponseQuirk>
  /** Extra request headers the vendor wants (besides authorization). */
  readonly headers?: (settings: HeaderSettings) => Record<string, string>
}

const STANDARD_SCHEMA: SchemaDialect = { dropKeywords: [] }

/** What hosted OpenAI-style APIs take (PROTOCOL.md §E.2); rows below change only what differs. */
const HOSTED: RequestDialect = {
  outputLimit: "by-model",
  reasoning: "reasoning_effort",
  streamUsage: true,
  user: true,
  toolChoice: true,
  systemAnywhere: true,
  documents: "none",
  imageUrls: true,
  schema: STANDARD_SCHEMA,
  toolIds: "any",
  parallelToolCalls: "default-on"
}

/**
 * Self-hosted servers apply the model's chat template, and templates (Qwen3, Mistral, Gemma) reject a system
 * message that is not the first one, which Claude Code sends mid-conversation on every turn.
 */
const SELF_HOSTED: RequestDialect = { ...HOSTED, systemAnywhere: false }

const ROWS: { readonly [P in Provider]: Omit<Profile, "name"> } = {
  openai: {
    // Files as `file` parts (§I.2); max_completion_tokens for reasoning models, which reject max_tokens (§E.2).
    request: { ...HOSTED, documents: "data" },
    // Chat Completions returns no reasoning text, only its token count (§E.3), so there is nothing to send back.
    reasoningHistory: "drop",
    quirks: ["usage-after-finish"]
  },
  openrouter: {
    request: {
      ...HOSTED,
      // max_tokens is documented for every model and translated by OpenRouter itself (§G.1).
      outputLimit: "max_tokens",
      // The `reasoning` object (effort XOR max_tokens), exact budgets for Anthropic models (§G.1).
      reasoning: "reasoning-object",
      // It fetches URL documents itself (§I.2).
      documents: "data-and-url"
    },
    // "send back ... the full reasoning_details"; for Claude with tools, exactly as generated (§G.1).
    reasoningHistory: "reasoning_details",
    // reasoning + reasoning_details, usage in a final chunk with empty choices, error chunks mid-stream (§G.1).
    quirks: ["reasoning-details", "usage-after-finish", "error-chunk"],
    // App attribution headers (§G.1); OpenRouter still accepts X-Title next to X-OpenRouter-Title.
    headers: ({ appName, referer }) => ({ "http-referer": referer, "x-title": appName })
  },
  deepseek: {
    request: HOSTED,
    // Thinking mode 400s unless an assistant turn with tool calls carries its reasoning_content back (§G.2).
    reasoningHistory: "reasoning_content",
    // reasoning_content deltas; prompt_cache_hit_tokens (§G.2); usage rides on the last chunk, the finish chunk
    // (DeepSeek's Chat Completions reference: "no separate usage-only chunk is emitted").
    quirks: ["reasoning-in-reasoning_content", "deepseek-cache-fields", "usage-on-finish-chunk"]
  },
  gemini: {
    request: {
      ...HOSTED,
      // The compatibility layer rejects fields it does not know (observed: `user`).
      user: false,
      // Tool parameters become Gemini function declarations, which reject `$schema` ("Unknown name \"$schema\" at
      // 'tools[0].function_declarations[0].parameters'", router-for-me/CLIProxyAPI#97, janhq/jan#5927) and, with
      // it, `additionalProperties` and `propertyNames` (openswarm-ai/openswarm#24), and take only the `enum` and
      // `date-time` string formats (Gemini API Schema reference), so `uri`/`email` formats fail the request.
      schema: {
        dropKeywords: ["$schema", "$id", "additionalProperties", "propertyNames"],
        stringFormats: ["enum", "date-time"]
      }
    },
    // Gemini 3 answers 400 unless each step's first tool call comes back with its thought signature (§G.4; Gemini
    // API "Thought Signatures", section "Signatures for OpenAI compatibility"): carried by gemini-signatures.ts.
    reasoningHistory: "thought_signatures",
    // Parallel calls at index 0 or without index; "stop" after tool calls; signatures on tool calls (§G.4, §I.3).
    quirks: ["tool-index-reused", "stop-after-tool-calls", "usage-on-finish-chunk", "tool-call-thought-signatures"]
  },
  xai: {
    // Reasoning models reject stop/penalties and most take no reasoning_effort: models.ts knows which (§G.3).
    request: HOSTED,
    // grok-3-mini returns reasoning_content; the API does not ask for it back (§G.3).
    reasoningHistory: "drop",
    quirks: ["reasoning-in-reasoning_content", "usage-after-finish"]
  },
  groq: {
    request: {
      ...HOSTED,
      // max_completion_tokens is Groq's field; max_tokens is its deprecated alias (groq/groq-python#175).
      outputLimit: "max_completion_tokens"
    },
    reasoningHistory: "drop",
    // reasoning_format "parsed" puts reasoning in `reasoning` (groq/groq-python#183); usage on the finish chunk
    // under x_groq (vercel/ai#1651, Portkey-AI/gateway#1072).
    quirks: ["reasoning-in-reasoning", "usage-under-x_groq"]
  },
  mistral: {
    request: {
      ...HOSTED,
      // Mistral's API rejects every field it does not define ("extra_forbidden", 422): max_completion_tokens
      // (editor-code-assistant/eca#231), stream_options (dnakov/anon-kode#53, usage comes anyway), user.
      outputLimit: "max_tokens",
      streamUsage: false,
      user: false,
      // No documented reasoning switch on Chat Completions that its strict schema takes.
      reasoning: "none",
      // Mistral chat templates honour one leading system message; hoisting is safe either way.
      systemAnywhere: false,
      // "Tool call id was abc123 but must be a-z, A-Z, 0-9, with a length of 9." (langchain-ai/langchain#24668)
      toolIds: "alnum9"
    },
    // reasoning_content on an assistant message is rejected as extra_forbidden (charmbracelet/crush#1590).
    reasoningHistory: "drop",
    // Magistral and reasoning_effort models answer with content chunks, thinking in ThinkChunks (content-chunks.ts).
    quirks: ["tool-ids-alnum9", "usage-on-finish-chunk", "thinking-in-content-chunks"]
  },
  ollama: {
    request: {
      ...SELF_HOSTED,
      // max_tokens, reasoning_effort and stream_options are supported; tool_choice and user are not; images only
      // as data URLs (§G.5).
      outputLimit: "max_tokens",
      user: false,
      toolChoice: false,
      imageUrls: false
    },
    reasoningHistory: "drop",
    // `reasoning` deltas; "stop" after streamed tool calls (§G.5).
    quirks: ["reasoning-in-reasoning", "stop-after-tool-calls", "usage-after-finish"]
  },
  vllm: {
    // tool_choice "auto" needs server flags, which we cannot see (§G.6).
    request: SELF_HOSTED,
    reasoningHistory: "drop",
    // `reasoning` (formerly reasoning_content), the matched stop string in stop_reason (§G.6); interleaved calls.
    quirks: ["reasoning-in-reasoning", "stop-reason-string", "tool-calls-interleaved", "usage-after-finish"]
  },
  llamacpp: {
    // Parallel tool calls only when the request asks for them (§G.7).
    request: { ...SELF_HOSTED, parallelToolCalls: "opt-in" },
    reasoningHistory: "drop",
    // --reasoning-format deepseek puts thoughts in reasoning_content (openai-php/client#780, observed); usage
    // follows the finish chunk (strands-agents/harness-sdk#3955, observed).
    quirks: ["reasoning-in-reasoning_content", "usage-after-finish"]
  },
  lmstudio: {
    request: SELF_HOSTED,
    reasoningHistory: "drop",
    // "Separate reasoning_content" option since 0.3.9 (Mintplex-Labs/anything-llm#4267, observed); fresh ids at
    // reused indexes (§I.4, [S57b]).
    quirks: ["reasoning-in-reasoning_content", "tool-index-reused"]
  },
  generic: {
    request: SELF_HOSTED,
    reasoningHistory: "drop",
    quirks: []
  }
}

const TABLE = Object.fromEntries(PROFILES.map((name) => [name, { name, ...ROWS[name] }])) as {
  readonly [P in Provider]: Profile
}

export const profile = (name: Provider): Profile => TABLE[name]
