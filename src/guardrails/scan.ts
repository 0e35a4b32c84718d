/**
 * Finds (and redacts) secrets in the parts of an Anthropic request that carry text of the user's or their tools'
 * making, which is what a leaked credential rides on:
 *
 * - `system` (CLAUDE.md, environment notes), text blocks and plain-string content of every message,
 * - tool_result content (file reads, command output: the likeliest carrier), and text documents,
 * - tool_use inputs: the model composes them, but from what it read (a `Write` of a `.env` file), and they are sent
 *   back upstream on every later turn.
 *
 * Left alone: thinking (signed over its exact text, so a changed block is refused upstream, and it only restates
 * what was scanned here), redacted_thinking and base64 images/PDFs (opaque), tool definitions (the client's own
 * catalogue; rewriting a schema breaks the tool), and block types we do not know.
 *
 * Nothing is mutated: a redacted request is a copy that shares every untouched part with the original.
 */
import type { ContentBlock, DocumentBlock, MessagesRequest, ToolResultContentBlock } from "../protocol/anthropic.ts"
import type { SecretKind, SecretScanner } from "./secrets.ts"

export interface SecretFinding {
  readonly kind: SecretKind
  /** Where, never what: `messages.2.content.1 (tool_result)`. */
  readonly where: string
}

/** Gets a string, answers its replacement or undefined to keep it. `where` is built only when asked for. */
type Visit = (text: string, where: () => string) => string | undefined

type Json = Record<string, unknown>

/** Every secret, by kind and location; the request is not copied. */
export const findSecretsInRequest = (body: MessagesRequest, scanner: SecretScanner): ReadonlyArray<SecretFinding> => {
  const findings: Array<SecretFinding> = []
  rewriteRequest(body, (text, where) => {
    for (const match of scanner.find(text)) findings.push({ kind: match.kind, where: where() })
    return undefined
  })
  return findings
}

/** The request with each secret replaced by `[REDACTED:<kind>]`, and what was replaced where. */
export const redactSecretsInRequest = (
  body: MessagesRequest,
  scanner: SecretScanner
): { readonly body: MessagesRequest; readonly findings: ReadonlyArray<SecretFinding> } => {
  const findings: Array<SecretFinding> = []
  const redacted = rewriteRequest(body, (text, where) => {
    const result = scanner.redact(text)
    if (result === undefined) return undefined
    const at = where()
    for (const kind of result.kinds) findings.push({ kind, where: at })
    return result.text
  })
  return { body: redacted, findings }
}

// ---------------------------------------------------------------------------------------------------------------
// The walk: copy-on-write, so an untouched request comes back as the very same object
// ---------------------------------------------------------------------------------------------------------------

const rewriteRequest = (body: MessagesRequest, visit: Visit): MessagesRequest => {
  let system = body.system
  if (typeof system === "string") {
    system = visit(system, () => "system") ?? system
  } else if (system !== undefined) {
    system = mapArray(system, (block, i) => rewriteField(block, "text", visit, () => `system.${i}`))
  }
  const messages = mapArray(body.messages, (message, i) => {
    const content = message.content
    const at = `messages.${i}.content`
    if (typeof content === "string") {
      const text = visit(content, () => at)
      return text === undefined ? message : { ...message, content: text }
    }
    const blocks = mapArray(content, (block, j) => rewriteBlock(block, visit, `${at}.${j}`))
    return blocks === content ? message : { ...message, content: blocks }
  })
  if (system === body.system && messages === body.messages) return body
  return system === undefined ? { ...body, messages } : { ...body, system, messages }
}

const rewriteBlock = (block: ContentBlock, visit: Visit, at: string): ContentBlock => {
  switch (block.type) {
    case "text":
      return rewriteField(block, "text", visit, () => `${at} (text)`)
    case "tool_use": {
      const input = rewriteJson(block.input, visit, () => `${at} (tool_use input)`, 0)
      return input === block.input ? block : { ...block, input }
    }
    case "tool_result": {
      const content = block.content
      if (typeof content === "string") return rewriteField(block, "content", visit, () => `${at} (tool_result)`)
      if (!Array.isArray(content)) return block
      const inner = mapArray(content as ReadonlyArray<ToolResultContentBlock>, (part, k): ToolResultContentBlock => {
        const partAt = `${at}.content.${k}`
        if (part.type === "text") return rewriteField(part, "text", visit, () => `${partAt} (tool_result)`)
        return part.type === "document" ? rewriteDocument(part as DocumentBlock, visit, partAt) : part
      })
      return inner === content ? block : { ...block, content: inner }
    }
    case "document":
      return rewriteDocument(block as DocumentBlock, visit, at)
    default:
      return block
  }
}

/** Text documents carry plain text (`source.data`, or text blocks in `source.content`); the rest is base64 or ids. */
const rewriteDocument = (block: DocumentBlock, visit: Visit, at: string): DocumentBlock => {
  const source = block.source as Json
  let next: Json = source
  if (source.type === "text" && typeof source.data === "string") {
    next = rewriteField(source, "data", visit, () => `${at} (document)`)
  } else if (source.type === "content" && Array.isArray(source.content)) {
    const parts = mapArray(source.content as ReadonlyArray<unknown>, (part, k) =>
      isTextBlock(part) ? rewriteField(part, "text", visit, () => `${at}.source.content.${k} (document)`) : part)
    if (parts !== source.content) next = { ...source, content: parts }
  }
  return next === source ? block : ({ ...block, source: next } as DocumentBlock)
}

const isTextBlock = (value: unknown): value is Json & { text: string } =>
  typeof value === "object" && value !== null && (value as Json).type === "text" && typeof (value as Json).text === "string"

/** Every string value in a tool input (keys are field names, not data). */
const rewriteJson = (value: unknown, visit: Visit, where: () => string, depth: number): unknown => {
  if (typeof value === "string") return visit(value, where) ?? value
  // Ingress refuses bodies deeper than MAX_JSON_DEPTH (at most 1,000), so this recursion is bounded; the guard
  // only keeps a caller that skipped ingress from overflowing the stack.
  if (typeof value !== "object" || value === null || depth > MAX_RECURSION) return value
  if (Array.isArray(value)) return mapArray(value, (item) => rewriteJson(item, visit, where, depth + 1))
  let copy: Json | undefined
  for (const key of Object.keys(value)) {
    const child = (value as Json)[key]
    const next = rewriteJson(child, visit, where, depth + 1)
    if (next !== child) (copy ??= { ...(value as Json) })[key] = next
  }
  return copy ?? value
}

const MAX_RECURSION = 1_000

const rewriteField = <T extends object, K extends keyof T & string>(
  owner: T,
  key: K,
  visit: Visit,
  where: () => string
): T => {
  const text = owner[key]
  if (typeof text !== "string") return owner
  const next = visit(text, where)
  return next === undefined ? owner : { ...owner, [key]: next }
}

/** `array.map`, but the same array back when no element changed. */
const mapArray = <A>(array: ReadonlyArray<A>, f: (item: A, index: number) => A): ReadonlyArray<A> => {
  let copy: Array<A> | undefined
  for (let i = 0; i < array.length; i++) {
    const item = array[i]!
    const next = f(item, i)
    if (next !== item) (copy ??= array.slice())[i] = next
  }
  return copy ?? array
}
