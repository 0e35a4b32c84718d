import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Stream } from "effect"
import { UpstreamFailure, UpstreamProtocolError, UpstreamUnreachable } from "../../src/errors.ts"
import type { Chunk } from "../../src/protocol/openai.ts"
import { decodeChunks, SseChunkParser } from "../../src/sse/decode.ts"

const utf8 = new TextEncoder()

/** The wire text as byte pieces cut at the given byte offsets. */
const piecesAt = (wire: string, offsets: ReadonlyArray<number>): Array<Uint8Array> => {
  const bytes = utf8.encode(wire)
  const pieces: Array<Uint8Array> = []
  let last = 0
  for (const offset of offsets) {
    pieces.push(bytes.slice(last, offset))
    last = offset
  }
  pieces.push(bytes.slice(last))
  return pieces
}

/** Each piece is its own stream chunk, as network reads are. */
const network = (pieces: ReadonlyArray<Uint8Array>): Stream.Stream<Uint8Array> =>
  pieces.reduce<Stream.Stream<Uint8Array>>((stream, piece) => Stream.concat(stream, Stream.succeed(piece)), Stream.empty)

const decode = (wire: string, offsets: ReadonlyArray<number> = []) =>
  Stream.runCollect(decodeChunks(network(piecesAt(wire, offsets))))

const content = (text: string): Chunk => ({ choices: [{ index: 0, delta: { content: text } }] })
const data = (chunk: unknown) => `data: ${JSON.stringify(chunk)}\n\n`

describe("decodeChunks", () => {
  it.effect("parses data events and ends at [DONE], never reading what follows", () =>
    Effect.gen(function*() {
      const body = Stream.concat(
        network(piecesAt(`${data(content("a"))}${data(content("b"))}data: [DONE]\n\n`, [])),
        Stream.never // a server that keeps the connection open after [DONE]
      )
      const chunks = yield* Stream.runCollect(decodeChunks(body))
      expect(chunks).toEqual([content("a"), content("b")])
    }))

  it.effect("gives the same chunks whatever the network boundaries (mid-line, mid-JSON, mid-codepoint, mid-CRLF)", () =>
    Effect.gen(function*() {
      const wire = [
        "\uFEFF: OPENROUTER PROCESSING\r\n\r\n",
        "retry: 3000\r\nid: 7\r\n",
        `data: ${JSON.stringify(content("café ☕ 𝄞"))}\r\n\r\n`,
        "event: message\n",
        `data: {"choices":[{"index":0,\ndata: "delta":{"content":"two lines"}}]}\n\n`,
        `data:${JSON.stringify(content("no space after the colon"))}\r\r`,
        "data: [DONE]\n\n"
      ].join("")
      const expected = [content("café ☕ 𝄞"), content("two lines"), content("no space after the colon")]
      const size = utf8.encode(wire).length
      expect(yield* decode(wire)).toEqual(expected)
      for (let cut = 1; cut < size; cut++) expect(yield* decode(wire, [cut])).toEqual(expected)
      const everyByte = Array.from({ length: size - 1 }, (_, i) => i + 1)
      expect(yield* decode(wire, everyByte)).toEqual(expected)
    }))

  it("dispatches an event as soon as its blank line is certain, even with bare CR line ends", () => {
    const parser = new SseChunkParser()
    const out: Array<Chunk> = []
    parser.push(utf8.encode(`data: ${JSON.stringify(content("a"))}\r`), out)
    expect(out).toEqual([]) // the CR might still be half of a CRLF
    parser.push(utf8.encode("\r"), out)
    parser.push(utf8.encode(": next"), out)
    expect(out).toEqual([content("a")])
  })

  it.effect("delivers all events of one network read as one array", () =>
    Effect.gen(function*() {
      const sizes = yield* decodeChunks(network(piecesAt(`${data(content("a"))}${data(content("b"))}${data(content("c"))}`, [])))
        .pipe(Stream.mapArray((batch) => [batch.length]), Stream.runCollect)
      expect(sizes).toEqual([3])
    }))

  it.effect("skips comments, id/retry lines and vendor event kinds", () =>
    Effect.gen(function*() {
      const wire = `: keep-alive\n\nretry: 1000\n\nevent: ping\ndata: pong\n\n${data(content("x"))}`
      expect(yield* decode(wire)).toEqual([content("x")])
    }))

  it.effect("ends cleanly when the body ends without [DONE], keeping a last event that lacks its blank line", () =>
    Effect.gen(function*() {
      expect(yield* decode(`${data(content("a"))}data: ${JSON.stringify(content("b"))}`)).toEqual([content("a"), content("b")])
      expect(yield* decode(`${data(content("a"))}data: [DONE]`)).toEqual([content("a")])
    }))

  it.effect("drops an event cut off by the end of the body (the stream converter reports the early end)", () =>
    Effect.gen(function*() {
      expect(yield* decode(`${data(content("a"))}data: {"choices":[{"ind`)).toEqual([content("a")])
    }))

  it.effect("fails with the upstream's error after delivering earlier chunks (top-level error key)", () =>
    Effect.gen(function*() {
      const seen: Array<Chunk> = []
      const wire = `${data(content("a"))}${
        data({ error: { code: 429, message: "Rate limit exceeded: free-models-per-min" }, choices: [] })
      }${data(content("never"))}`
      const exit = yield* decodeChunks(network(piecesAt(wire, [])))
        .pipe(Stream.runForEach((chunk) => Effect.sync(() => seen.push(chunk))), Effect.exit)
      expect(seen).toEqual([content("a")])
      expect(exit).toEqual(Exit.fail(
        new UpstreamFailure({ upstreamStatus: 429, message: "Rate limit exceeded: free-models-per-min", promptTooLong: false })
      ))
    }))

  it.effect("fails on `event: error`, with a JSON or a plain-text payload", () =>
    Effect.gen(function*() {
      const json = yield* Effect.flip(decode(`event: error\ndata: {"error":{"message":"overloaded","code":503}}\n\n`))
      expect(json).toMatchObject({ _tag: "UpstreamFailure", upstreamStatus: 503, message: "overloaded" })
      const text = yield* Effect.flip(decode(`event: error\ndata: model crashed\n\n`))
      expect(text).toMatchObject({ _tag: "UpstreamFailure", upstreamStatus: 500, message: "model crashed" })
    }))

  it.effect("fails with UpstreamProtocolError on data that is not a JSON object", () =>
    Effect.gen(function*() {
      const broken = yield* Effect.flip(decode(`data: {"choices":[}\n\n`))
      expect(broken).toBeInstanceOf(UpstreamProtocolError)
      expect(broken.message).toContain("not JSON")
      const scalar = yield* Effect.flip(decode(`data: 42\n\n`))
      expect(scalar).toBeInstanceOf(UpstreamProtocolError)
    }))

  it.effect("passes the byte stream's own failure through", () =>
    Effect.gen(function*() {
      const body = Stream.concat(network(piecesAt(data(content("a")), [])), Stream.fail(new UpstreamUnreachable({ message: "reset" })))
      const seen: Array<Chunk> = []
      const error = yield* decodeChunks(body).pipe(
        Stream.runForEach((chunk) => Effect.sync(() => seen.push(chunk))),
        Effect.flip
      )
      expect(seen).toEqual([content("a")])
      expect(error).toEqual(new UpstreamUnreachable({ message: "reset" }))
    }))
})
