/**
 * Anthropic system prompt and messages → OpenAI chat messages (PROTOCOL.md §I.2). Pure.
 *
 * Decisions where Anthropic and OpenAI do not line up:
 * - Message order per user turn: one `tool` message per answered call (block order), placeholders for unanswered
 *   calls, then one user message holding attachments moved out of tool results, then the user's own content.
 * - A tool result can only answer a call of the assistant turn right before it; any other result becomes user text.
 * - Consecutive user (or assistant) turns are merged first, as the Anthropic API does.
 * - Thinking history follows the profile (profiles.ts, reasoning-replay.ts): DeepSeek gets `reasoning_content` on
 *   every assistant message ("" when the history has none), because its thinking mode rejects assistant turns
 *   without it; OpenRouter gets `reasoning_details` rebuilt from the thinking blocks; others get nothing. Blocks
 *   that carry Gemini's thought signatures are skipped here: they go back on the tool calls (request.ts).
 * - Documents: text is inlined; PDFs become `file` parts where the dialect takes files and are refused elsewhere;
 *   URL documents only where the vendor fetches them; Files-API ids are refused (they mean nothing upstream).
 * - Tool-call ids pass verbatim, except to a vendor with an id rule (Mistral: 9 alphanumerics), where every id is
 *   rewritten by the same pure function in calls and results alike, so pairs stay pairs.
 * - A trailing assistant message (prefill) stays a trailing assistant message; OpenAI-style APIs read it as history.
 */
import { createHash } from "node:crypto"
import type * as A from "../protocol/anthropic.ts"
import type * as O from "../protocol/openai.ts"
import { modelFamily } from "./models.ts"
import type { ToolIdRule } from "./profiles.ts"
import { isSignatureCarrier } from "./gemini-signatures.ts"
import { detailsOfBlock } from "./reasoning-replay.ts"
import { type Context, reject } from "./request-context.ts"

const BILLING_HEADER_PREFIX = "x-anthropic-billing-header:"
const MISSING_RESULT = "(no result: the client did not return a result for this tool call)"

/**
 * The system prompt and the conversation, in upstream order. Where the dialect allows system messages only first
 * (chat templates of self-hosted servers), mid-conversation system text is hoisted into the leading one.
 */
export const toChatMessages = (req: A.MessagesRequest, context: Context): Array<O.ChatMessage> => {
  const messages = [...systemMessages(req.system, context.notes), ...convertMessages(req.messages, context)]
  return context.profile.request.systemAnywhere ? messages : hoistSystem(messages, context.notes)
}

/** All system text in one leading message; user messages that become neighbours are merged, as templates expect. */
const hoistSystem = (messages: Array<O.ChatMessage>, notes: Set<string>): Array<O.ChatMessage> => {
  const system: Array<string> = []
  const rest: Array<O.ChatMessage> = []
  for (const message of messages) {
    if (message.role === "system" || message.role === "developer") {
      system.push(message.content)
      continue
    }
    const previous = rest.at(-1)
    if (message.role === "user" && previous?.role === "user") rest[rest.length - 1] = mergeUser(previous, message)
    else rest.push(message)
  }
  if (system.length > 1 || (system.length === 1 && messages[0]?.role !== "system")) {
    notes.add("moved mid-conversation system messages into the leading system message for a self-hosted upstream")
  }
  return system.length === 0 ? rest : [{ role: "system", content: system.join("\n\n") }, ...rest]
}

type UserMessage = Extract<O.ChatMessage, { role: "user" }>

const asParts = (content: UserMessage["content"]): Array<O.ContentPart> =>
  typeof content === "string" ? [{ type: "text", text: content }] : content

const mergeUser = (a: UserMessage, b: UserMessage): UserMessage =>
  typeof a.content === "string" && typeof b.content === "string"
    ? { role: "user", content: `${a.content}\n\n${b.content}` }
    : { role: "user", content: [...asParts(a.content), ...asParts(b.content)] }

// ---------------------------------------------------------------------------------------------------------------
// Block type guards (the open OtherBlock fallback has `type: string`, so `block.type === "x"` alone cannot narrow)
// ---------------------------------------------------------------------------------------------------------------

const isText = (block: A.ContentBlock): block is A.TextBlock => block.type === "text"
const isImage = (block: A.ContentBlock): block is A.ImageBlock => block.type === "image"
const isDocument = (block: A.ContentBlock): block is A.DocumentBlock => block.type === "document"
export const isToolUse = (block: A.ContentBlock): block is A.ToolUseBlock => block.type === "tool_use"
const isToolResult = (block: A.ContentBlock): block is A.ToolResultBlock => block.type === "tool_result"
const isThinking = (block: A.ContentBlock): block is A.ThinkingBlock => block.type === "thinking"
const isRedactedThinking = (block: A.ContentBlock): block is A.RedactedThinkingBlock =>
  block.type === "redacted_thinking"

const isBlank = (text: string): boolean => text.trim() === ""

// ---------------------------------------------------------------------------------------------------------------
// System prompt
// ---------------------------------------------------------------------------------------------------------------

/**
 * Claude Code's attribution line carries a per-request hash, so keeping it would defeat upstream prefix caching.
 * Only a text that has the line is split: the system prompt's big blocks (16 K characters on every turn) pass as
 * they are, not copied line by line.
 */
const withoutAttribution = (text: string): string =>
  !text.includes(BILLING_HEADER_PREFIX) ? text : text
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

/** The tool calls of the latest assistant turn: the client's id → upstream tool name, in call order. */
type OpenCalls = ReadonlyMap<string, string>

const ALNUM9 = /^[a-zA-Z0-9]{9}$/
const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

/** 9 base-62 digits of the id's SHA-256: the same id always maps to the same value, distinct ids practically never meet. */
const alnum9 = (id: string): string => {
  const digest = createHash("sha256").update(id).digest()
  let out = ""
  for (let i = 0; i < 9; i++) out += BASE62[digest[i]! % 62]
  return out
}

/** The id the upstream sees for a client tool id. */
export const upstreamToolId = (id: string, rule: ToolIdRule): string =>
  rule === "alnum9" && !ALNUM9.test(id) ? alnum9(id) : id

const placeholderResults = (ids: Iterable<string>, context: Context): Array<O.ChatMessage> =>
  [...ids].map((id) => ({ role: "tool", tool_call_id: upstreamToolId(id, context.profile.request.toolIds), content: MISSING_RESULT }))

const convertMessages = (messages: ReadonlyArray<A.Message>, context: Context): Array<O.ChatMessage> => {
  const out: Array<O.ChatMessage> = []
  let openCalls: OpenCalls = new Map()
  const closeUnanswered = () => {
    if (openCalls.size > 0) context.notes.add("added placeholder results for tool calls the client did not answer")
    out.push(...placeholderResults(openCalls.keys(), context))
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
  const calls = new Map<string, string>()
  const history = context.profile.reasoningHistory
  const thinking: Array<string> = []
  const details: Array<O.ReasoningDetail> = []
  const claude = modelFamily(context.target.model).startsWith("claude")
  const idRule = context.profile.request.toolIds
  for (const block of blocks) {
    if (isText(block)) {
      if (!isBlank(block.text)) texts.push(block.text)
    } else if (isToolUse(block)) {
      const name = context.toolNames.get(block.name) ?? block.name
      calls.set(block.id, name)
      const id = upstreamToolId(block.id, idRule)
      toolCalls.push({ id, type: "function", function: { name, arguments: toolArguments(block.input) } })
    } else if (isSignatureCarrier(block)) {
      // Gemini's thought signatures: request.ts puts them back on the tool calls (gemini-signatures.ts).
    } else if (history === "reasoning_content" && isThinking(block)) {
      if (block.thinking !== "") thinking.push(block.thinking)
    } else if (history === "reasoning_details" && (isThinking(block) || isRedactedThinking(block))) {
      const replayed = detailsOfBlock(block, claude)
      if ("details" in replayed) details.push(...replayed.details)
      else context.notes.add(`dropped ${replayed.dropped} from assistant history`)
    } else if (block.type === "thinking" || block.type === "redacted_thinking") {
      context.notes.add(`dropped ${block.type} blocks from assistant history`)
    } else {
      context.notes.add(`dropped a ${block.type} block from an assistant message`)
    }
  }
  if (texts.length === 0 && toolCalls.length === 0) return { message: undefined, calls }
  const message: O.ChatMessage = {
    role: "assistant",
    content: texts.length > 0 ? texts.join("\n\n") : null,
    ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
    ...(history === "reasoning_content" ? { reasoning_content: thinking.join("\n\n") } : {}),
    ...(details.length > 0 ? { reasoning_details: details } : {})
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
      toolMessages.push({ role: "tool", tool_call_id: upstreamToolId(id, context.profile.request.toolIds), content: result.text })
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
  return [...toolMessages, ...placeholderResults(unanswered, context), ...(user === undefined ? [] : [user])]
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

/**
 * Claude Code's ToolSearch answers with `{type:"tool_reference", tool_name}` blocks, which make the named (deferred)
 * tools available. OpenAI has no counterpart, so the model is told in words, under the tool's upstream name.
 */
const toolReferenceText = (block: A.ToolResultContentBlock, context: Context): string | undefined => {
  if (block.type !== "tool_reference" || typeof block.tool_name !== "string" || block.tool_name === "") return undefined
  return `Tool loaded: ${context.toolNames.get(block.tool_name) ?? block.tool_name}`
}

const toolResultParts = (block: A.ToolResultContentBlock, context: Context): Array<O.ContentPart> => {
  const reference = toolReferenceText(block, context)
  return reference === undefined ? userParts(block, context) : [textPart(reference)]
}

/** Tool messages are text-only, so images and PDFs travel on to the next user message. */
const toolResultContent = (
  block: A.ToolResultBlock,
  context: Context
): { text: string; attachments: Array<O.ContentPart> } => {
  const texts: Array<string> = []
  const attachments: Array<O.ContentPart> = []
  const content = block.content ?? []
  const parts = typeof content === "string"
    ? [textPart(content)]
    : content.flatMap((item) => toolResultParts(item, context))
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
      if (!context.profile.request.imageUrls) {
        context.notes.add(`${context.profile.name} only takes data-URL images; sent a URL image anyway`)
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

/** The text items' texts; anything else in the list (even `null`, which the open schema lets through) is skipped. */
const textsOf = (items: ReadonlyArray<Record<string, unknown> | null>): Array<string> =>
  items.flatMap((item) => (item?.type === "text" && typeof item.text === "string" ? [item.text] : []))

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
  const documents = context.profile.request.documents
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
      if (documents === "none") {
        return reject(
          `document: PDF input is not supported by provider "${provider}" (model "${model}"): its Chat Completions ` +
            "API takes no file parts. Use an OpenAI or OpenRouter upstream, or send the document's text instead."
        )
      }
      return [filePart(block, `data:application/pdf;base64,${source.data}`)]
    case "url":
      if (documents !== "data-and-url") {
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
