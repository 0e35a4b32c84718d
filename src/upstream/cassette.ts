/**
 * Cassettes: recorded upstream exchanges (status, headers, and the body as the chunks that arrived on the wire,
 * with the delay before each), replayed byte for byte in tests and benchmarks.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { UpstreamUnreachable } from "../errors.ts"

export const CassetteChunk = Schema.Struct({
  /** Milliseconds to wait before this chunk (relative to the previous one). */
  delayMs: Schema.optionalKey(Schema.Number),
  text: Schema.String
})

export const Cassette = Schema.Struct({
  name: Schema.String,
  description: Schema.optionalKey(Schema.String),
  /** What was sent upstream (secrets redacted); informative, and used by tests that check conversion. */
  request: Schema.optionalKey(Schema.Struct({
    method: Schema.optionalKey(Schema.String),
    path: Schema.optionalKey(Schema.String),
    body: Schema.optionalKey(Schema.Unknown)
  })),
  response: Schema.Struct({
    status: Schema.Number,
    headers: Schema.optionalKey(Schema.Record(Schema.String, Schema.String)),
    chunks: Schema.Array(CassetteChunk),
    /** The connection broke after the last chunk instead of ending cleanly. */
    abort: Schema.optionalKey(Schema.Boolean)
  })
})
export type Cassette = typeof Cassette.Type

export const decodeCassette = Schema.decodeUnknownSync(Cassette)

const encoder = new TextEncoder()

/** The cassette's body as the byte chunks that arrived, each after its recorded delay (honours the Clock). */
export const cassetteBytes = (cassette: Cassette): Stream.Stream<Uint8Array, UpstreamUnreachable> => {
  const body = Stream.fromIterable(cassette.response.chunks).pipe(
    Stream.mapEffect((chunk) => {
      const bytes = encoder.encode(chunk.text)
      return chunk.delayMs ? Effect.as(Effect.sleep(chunk.delayMs), bytes) : Effect.succeed(bytes)
    })
  )
  return cassette.response.abort
    ? Stream.concat(body, Stream.fail(new UpstreamUnreachable({ message: "connection reset by upstream" })))
    : body
}

/** Builds a streaming cassette from chunk objects: each becomes one `data:` event, then `data: [DONE]`. */
export const sseCassette = (
  name: string,
  chunks: ReadonlyArray<unknown>,
  options: { readonly delayMs?: number; readonly done?: boolean } = {}
): Cassette => ({
  name,
  response: {
    status: 200,
    headers: { "content-type": "text/event-stream" },
    chunks: [
      ...chunks.map((chunk) => ({ delayMs: options.delayMs ?? 0, text: `data: ${JSON.stringify(chunk)}\n\n` })),
      ...(options.done === false ? [] : [{ text: "data: [DONE]\n\n" }])
    ]
  }
})
