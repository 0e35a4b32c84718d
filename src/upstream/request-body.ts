/**
 * The Chat Completions request as UTF-8 bytes, the same bytes `JSON.stringify` would give.
 *
 * Claude Code sends the whole conversation on every turn, so a long session's body is mostly tool results, file
 * contents and tool definitions that were already sent, unchanged, a turn ago. Escaping and encoding those strings
 * again is the largest cost on the request path (two-thirds of serialising a 500 KB session), so long strings are
 * serialised once and their bytes kept in a small LRU keyed by the string itself; the rest of the request goes
 * through `JSON.stringify` in pieces, in the same key order.
 */
import type { ChatRequest } from "../protocol/openai.ts"

const encoder = new TextEncoder()

/** Strings shorter than this are cheaper to serialise than to look up. */
const MIN_CACHED_CHARS = 1024

/**
 * Strings kept per length. Equal lengths are rare among long strings (a session's files and tool results), and the
 * bound keeps a lookup to a few comparisons even for a client that sends many strings of one length.
 */
const PER_LENGTH = 8

/** Containers on the way to the long strings (message contents, tool descriptions, tool-call arguments, images). */
const DESCEND = new Set(["messages", "tools", "content", "tool_calls", "function", "image_url", "file"])

/**
 * JSON string literals (quotes and escapes included) of long strings, as UTF-8, least recently used first.
 *
 * Found by length, then compared: the request's strings are fresh every turn, and a `Map` lookup by the string
 * would hash each one whole first (V8 hashes every character), which was 4 % of the proxy's instructions on a
 * 49 KB Claude Code turn (callgrind). A comparison stops at the first difference and, on a hit, reads the string
 * once. The strings kept under one length are few (at most `PER_LENGTH`), so a lookup compares against few.
 */
export class LiteralCache {
  private readonly entries = new Map<string, Uint8Array>()
  private readonly byLength = new Map<number, Array<string>>()
  private bytes = 0
  private readonly maxBytes: number

  /** `maxBytes` bounds the literals plus the strings that key them (at two bytes a character). */
  constructor(maxBytes: number) {
    this.maxBytes = maxBytes
  }

  literal(text: string): Uint8Array {
    const sameLength = this.byLength.get(text.length)
    if (sameLength !== undefined) {
      for (let i = 0; i < sameLength.length; i++) {
        const kept = sameLength[i]!
        if (kept !== text) continue
        // `kept` was hashed when it was stored: moving it to the recent end (of the cache and of its length's
        // list, whose first is the one to go) hashes nothing new.
        const hit = this.entries.get(kept)!
        this.entries.delete(kept)
        this.entries.set(kept, hit)
        sameLength.splice(i, 1)
        sameLength.push(kept)
        return hit
      }
    }
    const literal = encoder.encode(JSON.stringify(text))
    const cost = literal.byteLength + text.length * 2
    if (cost > this.maxBytes / 2) return literal
    if (sameLength !== undefined && sameLength.length >= PER_LENGTH) this.evict(sameLength[0]!)
    this.entries.set(text, literal)
    const bucket = this.byLength.get(text.length)
    if (bucket === undefined) this.byLength.set(text.length, [text])
    else bucket.push(text)
    this.bytes += cost
    for (const oldest of this.entries.keys()) {
      if (this.bytes <= this.maxBytes) break
      this.evict(oldest)
    }
    return literal
  }

  private evict(text: string): void {
    const literal = this.entries.get(text)
    if (literal === undefined) return
    this.entries.delete(text)
    this.bytes -= literal.byteLength + text.length * 2
    const bucket = this.byLength.get(text.length)!
    bucket.splice(bucket.indexOf(text), 1)
    if (bucket.length === 0) this.byLength.delete(text.length)
  }

  get size(): number {
    return this.entries.size
  }
}

/** Collects the body: runs of small JSON text between the cached literals, written into one buffer at the end. */
class BodyWriter {
  private readonly parts: Array<string | Uint8Array> = []
  private pending = ""
  private readonly cache: LiteralCache

  constructor(cache: LiteralCache) {
    this.cache = cache
  }

  value(value: unknown, descend: boolean): void {
    if (typeof value === "string" && value.length >= MIN_CACHED_CHARS) {
      if (this.pending !== "") this.parts.push(this.pending)
      this.pending = ""
      this.parts.push(this.cache.literal(value))
    } else if (descend && Array.isArray(value)) {
      this.pending += "["
      for (let i = 0; i < value.length; i++) {
        if (i > 0) this.pending += ","
        const item: unknown = value[i]
        // As JSON.stringify: what has no JSON form is null inside an array.
        if (item === undefined || typeof item === "function" || typeof item === "symbol") this.pending += "null"
        else this.value(item, true)
      }
      this.pending += "]"
    } else if (descend && typeof value === "object" && value !== null && !("toJSON" in value)) {
      this.pending += "{"
      let first = true
      for (const key of Object.keys(value)) {
        const field: unknown = (value as Record<string, unknown>)[key]
        // As JSON.stringify: such fields are left out of an object.
        if (field === undefined || typeof field === "function" || typeof field === "symbol") continue
        this.pending += `${first ? "" : ","}${JSON.stringify(key)}:`
        first = false
        this.value(field, DESCEND.has(key))
      }
      this.pending += "}"
    } else {
      this.pending += JSON.stringify(value)
    }
  }

  bytes(): Uint8Array {
    if (this.parts.length === 0) return encoder.encode(this.pending)
    if (this.pending !== "") this.parts.push(this.pending)
    this.pending = ""
    let size = 0
    for (const part of this.parts) size += typeof part === "string" ? Buffer.byteLength(part) : part.byteLength
    const body = Buffer.allocUnsafe(size)
    let at = 0
    for (const part of this.parts) {
      if (typeof part === "string") {
        at += body.write(part, at, "utf8")
      } else {
        body.set(part, at)
        at += part.byteLength
      }
    }
    return body
  }
}

export const serializeChatRequest = (request: ChatRequest, cache: LiteralCache): Uint8Array => {
  const writer = new BodyWriter(cache)
  writer.value(request, true)
  return writer.bytes()
}
