/**
 * The response cache's key: a SHA-256 of what would go upstream once the request is converted and routed, so two
 * requests share an entry exactly when the upstream would be asked the same question.
 *
 * - In: the upstream's name and every field of the Chat Completions request (model, messages with the system prompt,
 *   tools, tool_choice, sampling, stop, output cap, reasoning), walked generically, so a field the converter learns
 *   to send later takes part without anyone remembering to add it here.
 * - Out: `stream` and `stream_options` (a JSON request and a stream request share an entry), `user` (Claude Code's
 *   per-install id; it does not change the answer), and everything that never reaches the conversion: request ids,
 *   headers, metadata. Claude Code's per-request billing line is already stripped by the conversion.
 * - Object keys are taken in their order, as the upstream body would be: the converter builds its objects in a fixed
 *   order and the client's JSON schemas come in the client's order, which Claude Code keeps from turn to turn.
 *
 * Cost: a long session sends the same tool results again on every turn. Long strings are hashed once and their
 * digests kept in a small LRU keyed by the string itself; the rest is written as JSON text (subtrees without long
 * strings, such as tool schemas, by one native JSON.stringify each) and hashed in one piece. Every request brings
 * fresh string objects, so a memo hit still costs V8 one pass to hash the string for the Map; V8 then keeps that
 * hash in the string, and the upstream's literal cache (upstream/request-body.ts) finds the same strings cheaper.
 * Measured by test/cache/key.bench.ts (CPU, min): what the key adds to a request that also serialises its upstream
 * body is ~90 µs at 50 KB and ~600 µs at 500 KB; hashing the serialised body instead would cost ~30 / ~285 µs, if
 * the body were serialised once before this stage and handed to the upstream (a change outside the cache).
 */
import { createHash, type Hash } from "node:crypto"
import type { ChatRequest } from "../protocol/openai.ts"

/** Fields of the upstream request that do not change the answer. */
const IGNORED: ReadonlySet<string> = new Set(["stream", "stream_options", "user"])

/** Strings shorter than this are cheaper to hash inline than to look up. */
const MIN_MEMO_CHARS = 1024

/** Bumped when the encoding changes, so a shared (Redis) store never mixes two encodings. */
const VERSION = "k1"

/** SHA-256 digests of long strings, least recently used first; bounded by the strings' size. */
class DigestMemo {
  private readonly digests = new Map<string, Buffer>()
  private chars = 0
  private readonly maxChars: number

  constructor(maxBytes: number) {
    // Strings are held at up to two bytes a character.
    this.maxChars = Math.floor(maxBytes / 2)
  }

  digest(text: string): Buffer {
    const known = this.digests.get(text)
    if (known !== undefined) {
      this.digests.delete(text)
      this.digests.set(text, known)
      return known
    }
    // As UTF-8: a lone surrogate reads as U+FFFD, so two long strings that differ only there share a digest.
    const digest = createHash("sha256").update(text).digest()
    if (text.length > this.maxChars / 4) return digest
    this.digests.set(text, digest)
    this.chars += text.length
    for (const oldest of this.digests.keys()) {
      if (this.chars <= this.maxChars) break
      this.digests.delete(oldest)
      this.chars -= oldest.length
    }
    return digest
  }
}

/**
 * Where long strings can be: message contents and their parts, tool calls and their arguments, tool descriptions,
 * images and files. Anything else (JSON schemas, stop lists, reasoning settings) is written whole by JSON.stringify,
 * which is native and several times faster than walking it here.
 */
const HOLDS_LONG_STRINGS: ReadonlySet<string> = new Set(["messages", "content", "tool_calls", "function", "tools", "image_url", "file"])

/** Writes the request as JSON text into the hash, except that each long string becomes its digest. */
class KeyWriter {
  private text = ""
  private readonly hash: Hash
  private readonly memo: DigestMemo

  constructor(hash: Hash, memo: DigestMemo) {
    this.hash = hash
    this.memo = memo
  }

  value(value: unknown, walk: boolean): void {
    if (typeof value === "string" && value.length >= MIN_MEMO_CHARS) {
      // A digest cannot be confused with JSON text: the marker is not valid JSON, and the digest's length is fixed.
      this.hash.update(`${this.text}#`)
      this.text = ""
      this.hash.update(this.memo.digest(value))
    } else if (walk && Array.isArray(value)) {
      this.text += "["
      for (const item of value) {
        this.value(item, true)
        this.text += ","
      }
      this.text += "]"
    } else if (walk && typeof value === "object" && value !== null) {
      this.object(value as Record<string, unknown>)
    } else {
      // undefined inside an array has no JSON form; the upstream body has null there.
      this.text += value === undefined ? "null" : JSON.stringify(value)
    }
  }

  object(value: Record<string, unknown>, skip?: ReadonlySet<string>): void {
    this.text += "{"
    for (const key of Object.keys(value)) {
      const field = value[key]
      if (field === undefined || (skip !== undefined && skip.has(key))) continue
      this.text += `${JSON.stringify(key)}:`
      this.value(field, HOLDS_LONG_STRINGS.has(key))
      this.text += ","
    }
    this.text += "}"
  }

  finish(): void {
    this.hash.update(this.text)
    this.text = ""
  }
}

export interface CacheKeyer {
  /** The key of `request` as `upstream` would get it: 43 base64url characters. */
  readonly keyOf: (upstream: string, request: ChatRequest) => string
}

/** A keyer with its own memo of long strings' digests, bounded by `memoBytes` of strings (default 32 MiB). */
export const makeKeyer = (memoBytes = 32 * 1024 * 1024): CacheKeyer => {
  const memo = new DigestMemo(memoBytes)
  return {
    keyOf: (upstream, request) => {
      const hash = createHash("sha256")
      const writer = new KeyWriter(hash, memo)
      hash.update(`${VERSION}\0${upstream}\0`)
      writer.object(request as unknown as Record<string, unknown>, IGNORED)
      writer.finish()
      return hash.digest("base64url")
    }
  }
}
