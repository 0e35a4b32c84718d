/** Replaying recorded upstream streams through the converter, and reading the result as Claude Code would. */
import Anthropic from "@anthropic-ai/sdk"
import { Effect, Exit, Fiber, Stream } from "effect"
import { TestClock } from "effect/testing"
import { readFileSync } from "node:fs"
import { type StreamContext, toEvents } from "../../src/convert/stream.ts"
import type { ProxyError } from "../../src/errors.ts"
import { streamErrorEvent } from "../../src/http/errors.ts"
import type { StreamEvent } from "../../src/protocol/anthropic.ts"
import { decodeChunks } from "../../src/sse/decode.ts"
import { encodeEvents } from "../../src/sse/encode.ts"
import { type Cassette, cassetteBytes, decodeCassette } from "../../src/upstream/cassette.ts"

const CASSETTES = new URL("../fixtures/cassettes/", import.meta.url)

export const loadCassette = (name: string): Cassette =>
  decodeCassette(JSON.parse(readFileSync(new URL(`${name}.json`, CASSETTES), "utf8")))

export const streamContext = (fields: Partial<StreamContext> = {}): StreamContext => ({
  messageId: "msg_01TEST",
  clientModel: "claude-sonnet-4-5",
  toolNames: new Map(),
  inputTokens: 100,
  ...fields
})

/** Runs a stream that sleeps (recorded delays) to its end under the TestClock; the events, and whether it failed. */
const runTimed = <A>(stream: Stream.Stream<A, ProxyError>) =>
  Effect.gen(function*() {
    const events: Array<A> = []
    const fiber = yield* Effect.forkChild(Effect.exit(Stream.runForEach(stream, (a) => Effect.sync(() => events.push(a)))))
    for (let i = 0; i < 5; i++) yield* Effect.yieldNow
    yield* TestClock.adjust("10 minutes")
    const exit = yield* Fiber.join(fiber)
    return { events, failed: Exit.isFailure(exit) }
  })

const converted = (name: string, ctx: StreamContext) => toEvents(ctx)(decodeChunks(cassetteBytes(loadCassette(name))))

/** The Anthropic events a cassette converts to under `ctx`. */
export const replayEvents = (name: string, ctx: StreamContext) => runTimed(converted(name, ctx))

/** Plays the encoded bytes to the official SDK's stream accumulator, as Claude Code would receive them. */
export const sdkFinalMessage = (bytes: ReadonlyArray<Uint8Array>) => {
  const client = new Anthropic({
    apiKey: "test",
    maxRetries: 0,
    fetch: async () =>
      new Response(new Blob(bytes.map((b) => new Uint8Array(b))).stream(), {
        status: 200,
        headers: { "content-type": "text/event-stream", "request-id": "req_test" }
      })
  })
  return client.messages.stream({ model: "claude-sonnet-4-5", max_tokens: 1024, messages: [{ role: "user", content: "hi" }] })
    .finalMessage()
}

/** The message the official SDK's stream accumulator builds from the bytes the proxy would send. */
export const replayAsClient = (name: string, ctx: StreamContext) =>
  Effect.gen(function*() {
    const { events: bytes } = yield* runTimed(encodeEvents(converted(name, ctx), streamErrorEvent))
    return yield* Effect.promise(() => sdkFinalMessage(bytes))
  })

export type { StreamEvent }
