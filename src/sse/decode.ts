/**
 * Upstream SSE bytes → OpenAI chunk objects.
 *
 * Our own parser rather than effect's `Sse.decode`, which fails on `retry:` lines and costs a step per line: here
 * each network chunk is decoded and split in one pass, and only complete `data:` payloads are parsed. Follows the
 * WHATWG event-stream rules where they matter (LF, CRLF and CR line ends split anywhere, `:` comments, multi-line
 * `data`, one optional space after the colon, a leading BOM) and the OpenAI conventions on top: `data: [DONE]` ends
 * the stream; `event: error` or a payload with a top-level `error` key fails it.
 */
import * as Arr from "effect/Array"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Pull from "effect/Pull"
import * as Stream from "effect/Stream"
import { UpstreamProtocolError, type UpstreamFailure } from "../errors.ts"
import type { Chunk } from "../protocol/openai.ts"
import { fromUpstreamErrorObject, readErrorObject } from "../convert/errors.ts"
import { tryParseJson as parseJson } from "../util/json.ts"
import { clip } from "../util/text.ts"

export type DecodeError = UpstreamFailure | UpstreamProtocolError

const CR = "\r"
const LF = "\n"


/** Incremental SSE → chunk parser. Push bytes, collect chunks; `failure` and `ended` say why it stopped. */
export class SseChunkParser {
  private readonly decoder = new TextDecoder("utf-8")
  /** Pieces of a line whose end has not arrived yet (joined once the end does, so long lines stay linear). */
  private partial: Array<string> = []
  private data: string | undefined = undefined
  private eventName = ""
  private atEnd = false
  failure: DecodeError | undefined = undefined
  /** `[DONE]`, a failure, or the end of input: nothing more will be produced. */
  ended = false

  /** `secrets`: values to scrub from upstream error messages (our own key, should the upstream echo it). */
  private readonly secrets: ReadonlyArray<string>
  constructor(secrets: ReadonlyArray<string> = []) {
    this.secrets = secrets
  }

  push(bytes: Uint8Array, out: Array<Chunk>): void {
    if (this.ended) return
    this.feed(this.decoder.decode(bytes, { stream: true }), out)
  }

  /** The byte stream ended. A last event without its blank line is still delivered, unless it is cut short. */
  end(out: Array<Chunk>): void {
    if (this.ended) return
    this.atEnd = true
    this.feed(this.decoder.decode() + LF, out)
    if (!this.ended) this.dispatch(out)
    this.ended = true
  }

  private feed(text: string, out: Array<Chunk>): void {
    // A CR at the very end may be the first half of a CRLF: it is held back until the next piece shows.
    const heldCr = this.partial.length > 0 && this.partial[this.partial.length - 1]!.endsWith(CR)
    const firstCr = text.indexOf(CR)
    const hasBreak = text.includes(LF) || (firstCr !== -1 && firstCr < text.length - 1) || (heldCr && text !== "")
    if (!hasBreak) {
      this.partial.push(text)
      return
    }
    const buffer = this.partial.length === 0 ? text : this.partial.join("") + text
    this.partial = []
    let lineStart = 0
    let nextLf = buffer.indexOf(LF)
    let nextCr = buffer.indexOf(CR)
    while (!this.ended) {
      let lineEnd: number
      let next: number
      if (nextCr !== -1 && (nextLf === -1 || nextCr < nextLf)) {
        if (nextCr === buffer.length - 1) break
        lineEnd = nextCr
        next = nextCr + 1 === nextLf ? nextLf + 1 : nextCr + 1
      } else if (nextLf !== -1) {
        lineEnd = nextLf
        next = nextLf + 1
      } else {
        break
      }
      this.line(buffer.slice(lineStart, lineEnd), out)
      lineStart = next
      if (nextLf !== -1 && nextLf < lineStart) nextLf = buffer.indexOf(LF, lineStart)
      if (nextCr !== -1 && nextCr < lineStart) nextCr = buffer.indexOf(CR, lineStart)
    }
    if (lineStart < buffer.length && !this.ended) this.partial.push(buffer.slice(lineStart))
  }

  private line(line: string, out: Array<Chunk>): void {
    if (line.length === 0) return this.dispatch(out)
    const colon = line.indexOf(":")
    if (colon === 0) return // comment, e.g. ": OPENROUTER PROCESSING"
    const field = colon === -1 ? line : line.slice(0, colon)
    const valueStart = colon === -1 ? line.length : line.charCodeAt(colon + 1) === 32 ? colon + 2 : colon + 1
    if (field === "data") {
      const value = line.slice(valueStart)
      this.data = this.data === undefined ? value : `${this.data}\n${value}`
    } else if (field === "event") {
      this.eventName = line.slice(valueStart)
    }
    // `id:`, `retry:` and unknown fields mean nothing for a one-shot completion stream.
  }

  private dispatch(out: Array<Chunk>): void {
    const data = this.data
    const name = this.eventName
    this.data = undefined
    this.eventName = ""
    if (data === undefined) return
    if (name === "error") return this.fail(fromUpstreamErrorObject(readErrorObject(this.errorBody(data)), this.secrets))
    if (name !== "" && name !== "message") return // a vendor's own event kinds (keep-alives and such)
    if (data === "[DONE]" || data.trim() === "[DONE]") {
      this.ended = true
      return
    }
    const parsed = parseJson(data)
    if (!parsed.ok) {
      // At the end of input this is an event cut off mid-way; the stream converter reports the early end.
      if (this.atEnd) return
      return this.fail(new UpstreamProtocolError({ message: `upstream sent an event that is not JSON: ${clip(data, 200)}` }))
    }
    const value = parsed.value
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      return this.fail(new UpstreamProtocolError({ message: `upstream sent an event that is not an object: ${clip(data, 200)}` }))
    }
    const error = (value as { error?: unknown }).error
    if (error !== undefined && error !== null) return this.fail(fromUpstreamErrorObject(readErrorObject(value), this.secrets))
    out.push(value as Chunk)
  }

  private errorBody(data: string): unknown {
    const parsed = parseJson(data)
    return parsed.ok && typeof parsed.value === "object" && parsed.value !== null ? parsed.value : { message: data }
  }

  private fail(error: DecodeError): void {
    this.failure = error
    this.ended = true
  }
}

/**
 * Decodes an upstream body given as an Effect byte stream. Stops pulling at `[DONE]`, so a server that keeps the
 * connection open afterwards cannot hold the reply; chunks parsed before a failure are delivered first, then the
 * failure. The proxy itself reads Node streams with `upstream/sse-reader.ts` (same parser, its own timers); this
 * serves byte streams from elsewhere, such as cassettes replayed under the TestClock.
 */
export const decodeChunks = <E, R = never>(
  bytes: Stream.Stream<Uint8Array, E, R>,
  secrets: ReadonlyArray<string> = []
): Stream.Stream<Chunk, E | DecodeError, R> =>
  Stream.transformPull(bytes, (pull) =>
    Effect.sync(() => {
      const parser = new SseChunkParser(secrets)
      const deliver = (out: Array<Chunk>, more: Pull.Pull<Arr.NonEmptyReadonlyArray<Chunk>, E | DecodeError>) =>
        Arr.isArrayNonEmpty(out) ? Effect.succeed(out) : more
      const next: Pull.Pull<Arr.NonEmptyReadonlyArray<Chunk>, E | DecodeError> = Effect.suspend(() => {
        if (parser.failure !== undefined) return Effect.fail(parser.failure)
        if (parser.ended) return Cause.done()
        return Pull.matchEffect(pull, {
          onSuccess: (batch) => {
            const out: Array<Chunk> = []
            for (const bytes of batch) parser.push(bytes, out)
            return deliver(out, next)
          },
          onFailure: Effect.failCause,
          onDone: () => {
            const out: Array<Chunk> = []
            parser.end(out)
            return deliver(out, next)
          }
        })
      })
      return next
    }))
