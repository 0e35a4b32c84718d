/**
 * One observer per stream: stages that need a stream's ending read the logging stage's observations when it is in
 * the pipeline, and watch the stream themselves when it is not (a stage used alone, a de-duplicated call's own
 * stream). Either way they hear of the ending exactly once, with what the stream showed, and never for a stream that
 * was not started.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Layer, Scope, Stream } from "effect"
import { UpstreamFailure } from "../../src/errors.ts"
import { type RequestRecord, RequestSinks, RequestStats, withoutStream } from "../../src/observability/record.ts"
import { Log } from "../../src/log.ts"
import { makeLogging } from "../../src/pipeline/logging.ts"
import { breaker } from "../../src/pipeline/protection.ts"
import { compose, handOff, type Handler, type ProxyReply, type ProxyRequest, type Stage, streamReply } from "../../src/pipeline/stage.ts"
import { emptySeen, whenStreamEnds } from "../../src/pipeline/stream-watch.ts"
import { UpstreamBreaker } from "../../src/protection/breaker.ts"
import * as Protection from "../../src/protection/protection.ts"
import type { StreamEvent } from "../../src/protocol/anthropic.ts"

const usage = { input_tokens: 7, output_tokens: 3, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 }
const EVENTS: ReadonlyArray<StreamEvent> = [
  {
    type: "message_start",
    message: { id: "msg_1", type: "message", role: "assistant", model: "m", content: [], stop_reason: null, stop_sequence: null, usage }
  },
  { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } },
  { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "hi" } },
  { type: "content_block_stop", index: 0 },
  { type: "message_delta", delta: { stop_reason: "end_turn", stop_sequence: null }, usage },
  { type: "message_stop" }
]
const failure = new UpstreamFailure({ upstreamStatus: 502, message: "bad gateway", promptTooLong: false })

const request: ProxyRequest = {
  id: "req_1",
  body: { model: "claude-sonnet-4-6", max_tokens: 10, messages: [{ role: "user", content: "hi" }], stream: true },
  headers: {},
  client: {},
  upstream: "up",
  upstreamModel: "m",
  receivedBytes: 100,
  estimatedTokens: 25
}

const okCore: Handler = () => Effect.succeed(streamReply(Stream.fromArrays(...EVENTS.map((e) => [e])), "m"))
const failingCore: Handler = () =>
  Effect.succeed(streamReply(Stream.concat(Stream.fromArray(EVENTS.slice(0, 3)), Stream.fail(failure)), "m"))

/** A stage that notes each ending `whenStreamEnds` reports. */
const noting = (endings: Array<{ exit: Exit.Exit<unknown, unknown>; outputTokens: number | undefined }>): Stage => ({
  name: "noting",
  wrap: (next) => (req) =>
    Effect.flatMap(next(req), (reply): Effect.Effect<ProxyReply, never, Scope.Scope> =>
      reply._tag === "Stream"
        ? whenStreamEnds(reply, (seen) => Effect.sync(() => endings.push({ exit: seen.exit, outputTokens: seen.usage?.output_tokens })))
        : Effect.succeed(reply))
})

const drained = (handler: Handler, pull = true) =>
  Effect.scoped(Effect.flatMap(handler(request), (reply) =>
    reply._tag === "Stream" && pull ? Effect.exit(Stream.runDrain(reply.events)) : Effect.succeed(Exit.void)))

const records: Array<RequestRecord> = []
const sinks = Layer.succeed(RequestSinks, [{ record: (record: RequestRecord) => Effect.sync(() => records.push(record)) }])
const quiet = Log.capture([], "none")

describe("whenStreamEnds", () => {
  it.effect("alone, it watches the stream itself: once, at the end, with its usage", () =>
    Effect.gen(function*() {
      const endings: Array<{ exit: Exit.Exit<unknown, unknown>; outputTokens: number | undefined }> = []
      yield* drained(compose([noting(endings)], okCore))
      expect(endings).toHaveLength(1)
      expect(Exit.isSuccess(endings[0]!.exit)).toBe(true)
      expect(endings[0]!.outputTokens).toBe(3)
      yield* drained(compose([noting(endings)], failingCore))
      expect(endings).toHaveLength(2)
      expect(Exit.isFailure(endings[1]!.exit)).toBe(true)
    }))

  it.effect("inside the logging stage, it reads the logging stage's observations; the log record agrees", () =>
    Effect.gen(function*() {
      const endings: Array<{ exit: Exit.Exit<unknown, unknown>; outputTokens: number | undefined }> = []
      const logging = yield* makeLogging()
      records.length = 0
      const exit = yield* drained(compose([logging, noting(endings)], failingCore))
      expect(Exit.isFailure(exit)).toBe(true)
      expect(endings).toHaveLength(1)
      expect(Exit.isFailure(endings[0]!.exit)).toBe(true)
      expect(records).toHaveLength(1)
      expect(records[0]!.error).toContain("bad gateway")
    }).pipe(Effect.provide(Layer.mergeAll(sinks, quiet))))

  it.effect("a stream that is never started is never reported", () =>
    Effect.gen(function*() {
      const endings: Array<{ exit: Exit.Exit<unknown, unknown>; outputTokens: number | undefined }> = []
      const logging = yield* makeLogging()
      yield* drained(compose([noting(endings)], okCore), false)
      yield* drained(compose([logging, noting(endings)], okCore), false)
      expect(endings).toHaveLength(0)
    }).pipe(Effect.provide(Layer.mergeAll(sinks, quiet))))

  it.effect("without the stream observations (a de-duplicated call), it watches the stream itself", () =>
    Effect.gen(function*() {
      const endings: Array<{ exit: Exit.Exit<unknown, unknown>; outputTokens: number | undefined }> = []
      const stats = { upstream: null, routedBy: null, failedOver: null, retries: 0, cache: null, seen: emptySeen() }
      const view = withoutStream(stats)
      view.retries++
      expect(stats.retries).toBe(1)
      yield* drained(compose([noting(endings)], okCore)).pipe(Effect.provideService(RequestStats, view))
      expect(endings).toHaveLength(1)
      expect(stats.seen.exit).toBeUndefined()
    }))
})

describe("breaker stage", () => {
  const protection = Protection.layer(Protection.parseProtection({ CIRCUIT_BREAKER_FAILURE_THRESHOLD: "2" }))

  for (const withLogging of [false, true]) {
    it.effect(`streams that fail mid-way open the circuit (${withLogging ? "inside the logging stage" : "alone"})`, () =>
      Effect.gen(function*() {
        const stages = [...(withLogging ? [yield* makeLogging()] : []), yield* breaker]
        yield* drained(compose(stages, okCore))
        const circuits = yield* UpstreamBreaker
        expect((yield* circuits.states(["up"]))[0]?.circuit).toBe("closed")
        yield* drained(compose(stages, failingCore))
        yield* drained(compose(stages, failingCore))
        expect((yield* circuits.states(["up"]))[0]?.circuit).toBe("open")
      }).pipe(Effect.provide(Layer.mergeAll(protection, sinks, quiet))))
  }
})

describe("handOff", () => {
  it.effect("hands the request on once; running the same effect again dies instead of reaching the next stage twice", () =>
    Effect.gen(function*() {
      let calls = 0
      const next: Handler = () => Effect.sync(() => calls++).pipe(Effect.as(streamReply(Stream.empty, "m")))
      const handed = handOff(next, request)
      const once = Effect.suspend(handed)
      yield* Effect.scoped(once)
      expect(calls).toBe(1)
      const again = yield* Effect.exit(Effect.scoped(once))
      expect(Exit.isFailure(again) && Cause.hasDies(again.cause)).toBe(true)
      expect(calls).toBe(1)
    }))
})
