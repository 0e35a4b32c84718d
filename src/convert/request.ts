/**
 * Anthropic Messages request → OpenAI Chat Completions request (PROTOCOL.md §I.1, §I.2, §I.6, §I.7). Pure.
 *
 * The upstream request is built from scratch out of an allow-list of fields; nothing from the client body is spread
 * into it, so Anthropic-only fields (cache_control, context_management, output_config, citations...) cannot leak.
 *
 * Decisions where Anthropic and OpenAI do not line up:
 * - Message order per user turn: one `tool` message per answered call (block order), placeholders for unanswered
 *   calls, then one user message holding attachments moved out of tool results, then the user's own content.
 * - A tool result can only answer a call of the assistant turn right before it; any other result becomes user text.
 * - Consecutive user (or assistant) turns are merged first, as the Anthropic API does.
 * - `max_tokens: 0` (Anthropic's cache pre-warm) becomes 1: OpenAI-compatible APIs reject 0.
 * - Thinking budget → effort: < 4096 low, < 16384 medium, else high. Adaptive thinking without an effort: medium
 *   (OpenAI's own default). `output_config.effort` wins over a budget. `thinking: disabled` sends nothing.
 * - OpenRouter gets its `reasoning` object (and `max_tokens`, its documented field) whatever the model: it drops
 *   what the model cannot use. Other providers get `reasoning_effort` only when the model accepts it.
 * - DeepSeek gets `reasoning_content` on every assistant message ("" when the history has none), because its
 *   thinking mode rejects assistant turns without it.
 * - Documents: text is inlined; PDFs become `file` parts for OpenAI/OpenRouter and are refused elsewhere; URL
 *   documents only for OpenRouter (it fetches them); Files-API ids are refused (they mean nothing upstream).
 * - Anthropic-defined tools (any `type` but custom) are dropped: server tools cannot run upstream, and client tools
 *   like bash_20250124 carry no schema the upstream model could follow.
 * - A trailing assistant message (prefill) stays a trailing assistant message; OpenAI-style APIs read it as history.
 * - `metadata.user_id` → `user` as `u_` + 32 hex of its SHA-256; not sent to Gemini or Ollama.
 */
import { createHash } from "node:crypto"
import { Result } from "effect"
import { InvalidRequest } from "../errors.ts"
import type * as A from "../protocol/anthropic.ts"
import type * as O from "../protocol/openai.ts"
import { capabilities, clampEffort, type ModelCapabilities, type Provider } from "./models.ts"

export interface Target {
  readonly model: string
  readonly provider: Provider
}

/** Upstream (sanitised) tool name → the client's original name, for every tool name the request uses. */
export type ToolNames = ReadonlyMap<string, string>

export interface Converted {
  readonly request: O.ChatRequest
  readonly toolNames: ToolNames
  /** What was dropped or changed, for a debug log. */
  readonly notes: ReadonlyArray<string>
}

export const MAX_TOOLS = 128
export const MAX_STOP_SEQUENCES = 4
const BILLING_HEADER_PREFIX = "x-anthropic-billing-header:"
const MISSING_RESULT = "(no result: the client did not return a result for this tool call)"

interface Context {
  readonly target: Target
  readonly caps: ModelCapabilities
  /** Client tool name → upstream tool name. */
  readonly toolNames: ReadonlyMap<string, string>
  readonly notes: Set<string>
}

/** Conversion failures are thrown deep inside the walk and turned into a Result at the single entry point. */
const reject = (message: string): never => {
  throw new InvalidRequest({ message })
}

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
  const clientTools = req.tools ?? []
  const functionTools = clientTools.filter(isCustomTool)
  for (const tool of clientTools.filter((tool) => !isCustomTool(tool))) {
    notes.add(`dropped tool "${tool.name}" (${tool.type}): Anthropic-defined tools cannot run on this upstream`)
  }
  if (functionTools.length > MAX_TOOLS) {
    reject(
      `tools: ${functionTools.length} tools were sent, but OpenAI-compatible upstreams accept at most ${MAX_TOOLS}. ` +
        "Disable some MCP servers or tools."
    )
  }
  const toolNames = assignToolNames([
    ...functionTools.map((tool) => tool.name),
    ...toolUseNames(req.messages),
    ...(req.tool_choice?.type === "tool" ? [req.tool_choice.name] : [])
  ])
  const context: Context = { target, caps, toolNames, notes }

  const messages = [...systemMessages(req.system, notes), ...convertMessages(req.messages, context)]
  const request: O.ChatRequest = { model: target.model, messages }
  if (request.messages.length === 0) reject("messages: at least one non-empty message is required")

  setOutputLimit(request, req.max_tokens, context)
  setSampling(request, req, context)
  setReasoning(request, req, context)
  if (functionTools.length > 0) {
    request.tools = functionTools.map((tool) => functionTool(tool, context))
    setToolChoice(request, req.tool_choice, clientTools, context)
  } else if (req.tool_choice != null) {
    notes.add("dropped tool_choice: no tools are left to choose from")
  }
  setUser(request, req.metadata?.user_id, context)
  if (req.stream === true) {
    request.stream = true
    request.stream_options = { include_usage: true }
  }
  return { request, toolNames: reverse(toolNames), notes: [...notes] }
}

// ---------------------------------------------------------------------------------------------------------------
// Block type guards (the open OtherBlock fallback has `type: string`, so `block.type === "x"` alone cannot narrow)
// ---------------------------------------------------------------------------------------------------------------

const isText = (block: A.ContentBlock): block is A.TextBlock => block.type === "text"
const isImage = (block: A.ContentBlock): block is A.ImageBlock => block.type === "image"
const isDocument = (block: A.ContentBlock): block is A.DocumentBlock => block.type === "document"
const isToolUse = (block: A.ContentBlock): block is A.ToolUseBlock => block.type === "tool_use"
const isToolResult = (block: A.ContentBlock): block is A.ToolResultBlock => block.type === "tool_result"
const isThinking = (block: A.ContentBlock): block is A.ThinkingBlock => block.type === "thinking"

const isBlank = (text: string): boolean => text.trim() === ""

// ---------------------------------------------------------------------------------------------------------------
// System prompt
// ---------------------------------------------------------------------------------------------------------------

/** Claude Code's attribution line carries a per-request hash, so keeping it would defeat upstream prefix caching. */
const withoutAttribution = (text: string): string =>
  text
    .split("\n")
    .filter((line) => !line.trimStart().startsWith(BILLING_HEADER_PREFIX))
    .join("\n")

const systemMessages = (system: A.MessagesRequest["system"], notes: Set<string>): Array<O.ChatMessage> => {
  if (system === undefined) return []
  const texts = typeof system === "string" ? [system] : system.map((block) => block.text)
  const kept = texts.map(withoutAttribution)
  if (kept.some((text, i) => text !== texts[i])) notes.add("stripped the x-anthropic-billing-header line from system")
  const content = kept.filter((text) => !isBlank(text)).join("\n\n")
  return content === "" ? [] : [{ role: "system", content }]
}

// ---------------------------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------------------------

interface Turn {
  readonly role: A.Message["role"]
  readonly blocks: Array<A.ContentBlock>
}

const blocksOf = (content: A.Message["content"]): ReadonlyArray<A.ContentBlock> =>
  typeof content === "string" ? [{ type: "text", text: content }] : content

/** The Anthropic API merges consecutive user (or assistant) turns; doing it first keeps tool results together. */
const mergeTurns = (messages: ReadonlyArray<A.Message>): Array<Turn> => {
  const turns: Array<Turn> = []
  for (const message of messages) {
    const last = turns[turns.length - 1]
    if (last !== undefined && last.role === message.role && message.role !== "system") {
      last.blocks.push(...blocksOf(message.content))
    } else {
      turns.push({ role: message.role, blocks: [...blocksOf(message.content)] })
    }
  }
  return turns
}

/** The tool calls of the latest assistant turn: id → upstream tool name, in call order. */
type OpenCalls = ReadonlyMap<string, string>

const placeholderResults = (ids: Iterable<string>): Array<O.ChatMessage> =>
  [...ids].map((id) => ({ role: "tool", tool_call_id: id, content: MISSING_RESULT }))

const convertMessages = (messages: ReadonlyArray<A.Message>, context: Context): Array<O.ChatMessage> => {
  const out: Array<O.ChatMessage> = []
  let openCalls: OpenCalls = new Map()
  const closeUnanswered = () => {
    if (openCalls.size > 0) context.notes.add("added placeholder results for tool calls the client did not answer")
    out.push(...placeholderResults(openCalls.keys()))
    openCalls = new Map()
  }
  for (const turn of mergeTurns(messages)) {
    if (turn.role === "user") {
      out.push(...userTurn(turn.blocks, openCalls, context))
      openCalls = new Map()
    } else if (turn.role === "system") {
      closeUnanswered()
      const content = systemTurnText(turn.blocks, context)
      if (content !== "") out.push({ role: "system", content })
    } else {
      closeUnanswered()
      const { message, calls } = assistantTurn(turn.blocks, context)
      if (message !== undefined) out.push(message)
      openCalls = calls
    }
  }
  closeUnanswered()
  return out
}

const systemTurnText = (blocks: ReadonlyArray<A.ContentBlock>, context: Context): string => {
  const texts: Array<string> = []
  for (const block of blocks) {
    if (isText(block)) {
      if (!isBlank(block.text)) texts.push(block.text)
    } else {
      context.notes.add(`dropped a ${block.type} block from a system message`)
    }
  }
  return texts.join("\n\n")
}

// ---------------------------------------------------------------------------------------------------------------
// Assistant turns
// ---------------------------------------------------------------------------------------------------------------

const toolArguments = (input: unknown): string => (typeof input === "string" ? input : JSON.stringify(input ?? {}))

const assistantTurn = (
  blocks: ReadonlyArray<A.ContentBlock>,
  context: Context
): { message: O.ChatMessage | undefined; calls: OpenCalls } => {
  const texts: Array<string> = []
  const toolCalls: Array<O.ToolCall> = []
  const thinking: Array<string> = []
  const keepThinking = context.target.provider === "deepseek"
  for (const block of blocks) {
    if (isText(block)) {
      if (!isBlank(block.text)) texts.push(block.text)
    } else if (isToolUse(block)) {
      const name = context.toolNames.get(block.name) ?? block.name
      toolCalls.push({ id: block.id, type: "function", function: { name, arguments: toolArguments(block.input) } })
    } else if (isThinking(block) && keepThinking) {
      if (block.thinking !== "") thinking.push(block.thinking)
    } else if (block.type === "thinking" || block.type === "redacted_thinking") {
      context.notes.add(`dropped ${block.type} blocks from assistant history`)
    } else {
      context.notes.add(`dropped a ${block.type} block from an assistant message`)
    }
  }
  const calls: OpenCalls = new Map(toolCalls.map((call) => [call.id, call.function.name]))
  if (texts.length === 0 && toolCalls.length === 0) return { message: undefined, calls }
  const message: O.ChatMessage = {
    role: "assistant",
    content: texts.length > 0 ? texts.join("\n\n") : null,
    ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
    ...(keepThinking ? { reasoning_content: thinking.join("\n\n") } : {})
  }
  return { message, calls }
}

// ---------------------------------------------------------------------------------------------------------------
// User turns
// ---------------------------------------------------------------------------------------------------------------

const userTurn = (
  blocks: ReadonlyArray<A.ContentBlock>,
  openCalls: OpenCalls,
  context: Context
): Array<O.ChatMessage> => {
  const toolMessages: Array<O.ChatMessage> = []
  const answered = new Set<string>()
  const moved: Array<O.ContentPart> = []
  const own: Array<O.ContentPart> = []
  for (const block of blocks) {
    if (!isToolResult(block)) {
      own.push(...userParts(block, context))
      continue
    }
    const id = block.tool_use_id
    const toolName = openCalls.get(id)
    const result = toolResultContent(block, context)
    if (toolName !== undefined && !answered.has(id)) {
      answered.add(id)
      toolMessages.push({ role: "tool", tool_call_id: id, content: result.text })
      if (result.attachments.length > 0) {
        moved.push(textPart(`Attachments from the result of tool call ${id} (${toolName}):`), ...result.attachments)
      }
    } else {
      context.notes.add(`tool_result ${id} answers no tool call of the previous assistant turn; sent as user text`)
      own.push(textPart(`Tool result ${id}:\n${result.text}`), ...result.attachments)
    }
  }
  const unanswered = [...openCalls.keys()].filter((id) => !answered.has(id))
  if (unanswered.length > 0) context.notes.add("added placeholder results for tool calls the client did not answer")
  const user = userMessage([...moved, ...own])
  return [...toolMessages, ...placeholderResults(unanswered), ...(user === undefined ? [] : [user])]
}

const textPart = (text: string): O.TextPart => ({ type: "text", text })

/** Adjacent text is merged; text alone becomes a plain string; nothing at all means no message. */
const userMessage = (parts: ReadonlyArray<O.ContentPart>): O.ChatMessage | undefined => {
  const merged: Array<O.ContentPart> = []
  for (const part of parts) {
    const last = merged[merged.length - 1]
    if (part.type === "text" && last?.type === "text") {
      merged[merged.length - 1] = textPart(`${last.text}\n\n${part.text}`)
    } else {
      merged.push(part)
    }
  }
  const [first] = merged
  if (first === undefined) return undefined
  if (merged.length === 1 && first.type === "text") return { role: "user", content: first.text }
  return { role: "user", content: merged }
}

const userParts = (block: A.ContentBlock, context: Context): Array<O.ContentPart> => {
  if (isText(block)) return isBlank(block.text) ? [] : [textPart(block.text)]
  if (isImage(block)) return [imagePart(block, context)]
  if (isDocument(block)) return documentParts(block, context)
  if (block.type === "search_result") return [textPart(searchResultText(block))]
  context.notes.add(`dropped a ${block.type} block from a user message`)
  return []
}

/** Tool messages are text-only, so images and PDFs travel on to the next user message. */
const toolResultContent = (
  block: A.ToolResultBlock,
  context: Context
): { text: string; attachments: Array<O.ContentPart> } => {
  const texts: Array<string> = []
  const attachments: Array<O.ContentPart> = []
  const content = block.content ?? []
  const parts = typeof content === "string" ? [textPart(content)] : content.flatMap((item) => userParts(item, context))
  for (const item of parts) {
    if (item.type === "text") texts.push(item.text)
    else attachments.push(item)
  }
  if (attachments.length > 0) texts.push(`(${attachments.length} attachment(s) follow in the next user message)`)
  const text = texts.filter((t) => t !== "").join("\n")
  if (block.is_error !== true) return { text, attachments }
  return { text: text === "" ? "Error" : `Error: ${text}`, attachments }
}

const imagePart = (block: A.ImageBlock, context: Context): O.ImagePart => {
  const source = block.source
  switch (source.type) {
    case "base64":
      return { type: "image_url", image_url: { url: `data:${source.media_type};base64,${source.data}` } }
    case "url":
      if (context.target.provider === "ollama") {
        context.notes.add("ollama only takes data-URL images; sent a URL image anyway")
      }
      return { type: "image_url", image_url: { url: source.url } }
    case "file":
      return reject(
        "image: a Files API source (file_id) cannot be sent to an OpenAI-compatible upstream; " +
          "send the image as base64 or url"
      )
  }
}

const isPresent = (part: unknown): part is string => typeof part === "string" && part !== ""

const titled = (block: A.DocumentBlock, text: string): string =>
  [block.title, block.context, text].filter(isPresent).join("\n\n")

const textsOf = (items: ReadonlyArray<Record<string, unknown>>): Array<string> =>
  items.flatMap((item) => (item.type === "text" && typeof item.text === "string" ? [item.text] : []))

const canTakeFiles = (provider: Provider): boolean => provider === "openai" || provider === "openrouter"

const pdfFilename = (block: A.DocumentBlock): string => {
  const title = block.title ?? "document"
  return title.toLowerCase().endsWith(".pdf") ? title : `${title}.pdf`
}

const filePart = (block: A.DocumentBlock, fileData: string): O.FilePart => ({
  type: "file",
  file: { filename: pdfFilename(block), file_data: fileData }
})

const documentParts = (block: A.DocumentBlock, context: Context): Array<O.ContentPart> => {
  const source = block.source
  const { provider, model } = context.target
  switch (source.type) {
    case "text":
      return [textPart(titled(block, source.data))]
    case "content": {
      const text = typeof source.content === "string" ? source.content : textsOf(source.content).join("\n")
      return [textPart(titled(block, text))]
    }
    case "base64":
      if (source.media_type.startsWith("text/")) {
        return [textPart(titled(block, Buffer.from(source.data, "base64").toString("utf8")))]
      }
      if (source.media_type !== "application/pdf") {
        return reject(`document: unsupported media_type "${source.media_type}" (PDF or text only)`)
      }
      if (!canTakeFiles(provider)) {
        return reject(
          `document: PDF input is not supported by provider "${provider}" (model "${model}"): its Chat Completions ` +
            "API takes no file parts. Use an OpenAI or OpenRouter upstream, or send the document's text instead."
        )
      }
      return [filePart(block, `data:application/pdf;base64,${source.data}`)]
    case "url":
      if (provider !== "openrouter") {
        return reject(
          `document: URL sources are not supported by provider "${provider}" (the proxy does not fetch URLs); ` +
            "send the document as base64 or text"
        )
      }
      return [filePart(block, source.url)]
    case "file":
      return reject("document: a Files API source (file_id) cannot be sent to an OpenAI-compatible upstream")
  }
}

const searchResultText = (block: A.ContentBlock): string => {
  const content = Array.isArray(block.content) ? (block.content as ReadonlyArray<Record<string, unknown>>) : []
  return [block.title, block.source, ...textsOf(content)].filter(isPresent).join("\n")
}

// ---------------------------------------------------------------------------------------------------------------
// Tools
// ---------------------------------------------------------------------------------------------------------------

const isCustomTool = (tool: A.Tool): boolean => tool.type == null || tool.type === "custom"

const toolUseNames = (messages: ReadonlyArray<A.Message>): Array<string> =>
  messages.flatMap((message) =>
    typeof message.content === "string" ? [] : message.content.filter(isToolUse).map((block) => block.name)
  )

const VALID_TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/
const MAX_TOOL_NAME = 64
const HASHED_PREFIX = 55

const shortHash = (text: string): string => createHash("sha256").update(text).digest("hex").slice(0, 8)

const withSuffix = (name: string, suffix: string): string => `${name.slice(0, MAX_TOOL_NAME - suffix.length)}${suffix}`

const sanitizeToolName = (name: string): string => {
  const cleaned = name.replace(/[^a-zA-Z0-9_-]/g, "_") || "tool"
  return cleaned.length <= MAX_TOOL_NAME ? cleaned : `${cleaned.slice(0, HASHED_PREFIX)}_${shortHash(name)}`
}

/**
 * Client name → upstream name. Valid names keep themselves and are reserved first, so a renamed tool can never take
 * the name of one that was already valid; a collision between renamed tools is broken with a hash of the original.
 */
const assignToolNames = (names: ReadonlyArray<string>): Map<string, string> => {
  const unique = [...new Set(names)]
  const taken = new Set(unique.filter((name) => VALID_TOOL_NAME.test(name)))
  const assigned = new Map<string, string>()
  for (const name of unique) {
    if (VALID_TOOL_NAME.test(name)) {
      assigned.set(name, name)
      continue
    }
    let candidate = sanitizeToolName(name)
    if (taken.has(candidate)) candidate = withSuffix(sanitizeToolName(name), `_${shortHash(name)}`)
    for (let n = 2; taken.has(candidate); n++) candidate = withSuffix(candidate, `_${n}`)
    taken.add(candidate)
    assigned.set(name, candidate)
  }
  return assigned
}

const reverse = (names: ReadonlyMap<string, string>): Map<string, string> =>
  new Map([...names].map(([client, upstream]) => [upstream, client]))

/** Only name, description and schema cross over: cache_control, strict, defer_loading and the like stay behind. */
const functionTool = (tool: A.Tool, context: Context): O.FunctionTool => ({
  type: "function",
  function: {
    name: context.toolNames.get(tool.name) ?? tool.name,
    ...(tool.description != null && tool.description !== "" ? { description: tool.description } : {}),
    parameters: tool.input_schema ?? { type: "object", properties: {} }
  }
})

const setToolChoice = (
  request: O.ChatRequest,
  choice: A.MessagesRequest["tool_choice"],
  clientTools: ReadonlyArray<A.Tool>,
  context: Context
): void => {
  if (choice == null) return
  if (choice.disable_parallel_tool_use === true) request.parallel_tool_calls = false
  if (context.target.provider === "ollama") {
    context.notes.add("dropped tool_choice: ollama does not support it")
    return
  }
  switch (choice.type) {
    case "auto":
      request.tool_choice = "auto"
      return
    case "any":
      request.tool_choice = "required"
      return
    case "none":
      request.tool_choice = "none"
      return
    case "tool": {
      const tool = clientTools.find((t) => t.name === choice.name)
      if (tool === undefined) return reject(`tool_choice: tool "${choice.name}" is not among the request's tools`)
      if (!isCustomTool(tool)) {
        context.notes.add(`dropped tool_choice: it forces "${choice.name}", which was dropped`)
        return
      }
      request.tool_choice = { type: "function", function: { name: context.toolNames.get(choice.name) ?? choice.name } }
      return
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Limits, sampling, reasoning, user
// ---------------------------------------------------------------------------------------------------------------

const setOutputLimit = (request: O.ChatRequest, requested: number, { target, caps, notes }: Context): void => {
  const cap = caps.outputCap
  const capped = cap !== undefined && requested > cap ? cap : requested
  if (capped < requested) notes.add(`lowered max_tokens ${requested} to ${target.model}'s output cap ${capped}`)
  if (requested === 0) notes.add("max_tokens 0 sent as 1 (OpenAI-compatible APIs reject 0)")
  const limit = Math.max(1, capped)
  // OpenRouter documents max_tokens for every model and translates it itself.
  if (caps.usesMaxCompletionTokens && target.provider !== "openrouter") request.max_completion_tokens = limit
  else request.max_tokens = limit
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

const setReasoning = (request: O.ChatRequest, req: A.MessagesRequest, { target, caps, notes }: Context): void => {
  const wanted = requestedReasoning(req)
  if (wanted === undefined) return
  if (target.provider === "openrouter") {
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

// Gemini's compatibility layer rejects fields it does not know, and Ollama documents `user` as unsupported.
const TAKES_USER: ReadonlySet<Provider> = new Set(["openai", "openrouter", "deepseek", "xai", "generic"])

const setUser = (request: O.ChatRequest, userId: string | null | undefined, { target, notes }: Context): void => {
  if (userId == null || userId === "") return
  if (TAKES_USER.has(target.provider)) request.user = stableUserId(userId)
  else notes.add(`dropped metadata.user_id: ${target.provider} does not take user`)
}

/** Claude Code's user_id can be a long JSON string; a hash keeps it short, stable and free of account details. */
export const stableUserId = (userId: string): string =>
  `u_${createHash("sha256").update(userId).digest("hex").slice(0, 32)}`
