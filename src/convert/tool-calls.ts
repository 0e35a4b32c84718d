/**
 * OpenAI tool calls → Anthropic tool_use pieces, shared by the response and stream converters (PROTOCOL.md §I.3,
 * §I.4): tool ids and names, and tool arguments (incremental JSON shape tracking, light repair, the input object).
 * Pure.
 */
import type { ToolNames } from "./tools.ts"
import { type Parsed, tryParseJson as parseJson } from "../util/json.ts"

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

  /**
   * Feeds `text` and returns the part of it that belongs to the top-level value: all of it while the value is
   * open, up to the closing bracket in the piece that completes it, nothing once it is complete.
   */
  take(text: string): string {
    if (this.isComplete) return ""
    const start = this.seen
    this.feed(text)
    return this.isComplete ? text.slice(0, this.end - start) : text
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
