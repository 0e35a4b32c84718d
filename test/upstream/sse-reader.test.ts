/**
 * The upstream SSE reader over real Node streams and real timers: chunk boundaries, the idle timeout (only while
 * waiting, comments count), silences that become pings, and what happens to the body when the stream stops.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Scope, Stream } from "effect"
import { MaxOpsBeforeYield } from "effect/Scheduler"
import { readFileSync } from "node:fs"
import { PassThrough, type Readable } from "node:stream"
import { toEvents } from "../../src/convert/stream.ts"
import { SILENCE, type UpstreamEvent } from "../../src/protocol/openai.ts"
import { decodeCassette } from "../../src/upstream/cassette.ts"
import { cassetteBody } from "../../src/upstream/replay.ts"
import { type ReaderOptions, readSse } from "../../src/upstream/sse-reader.ts"

const data = (content: string) => `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content } }] })}\n\n`
const contentOf = (event: UpstreamEvent): string | null | undefined => {
  if (event === SILENCE) return "(silence)"
  const content = event.choices?.[0]?.delta?.content
  return content == null || typeof content === "string" ? content : JSON.stringify(content)
}
const options = { idleMillis: 0, pingMillis: 0, secrets: [] }
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** A body written from a script: strings are written, numbers are pauses; `end` closes it. */
const scriptedBody = (steps: ReadonlyArray<string | number>, end = true) => {
  const body = new PassThrough()
  void (async () => {
    for (const step of steps) {
      if (typeof step === "number") await sleep(step)
      else if (!body.destroyed) body.write(step)
    }
    if (end && !body.destroyed) body.end()
  })()
  return body
}

/** The reader's stream, with the body tied to the stream's own scope (the proxy ties it to the request's). */
const read = (body: Readable, opts: ReaderOptions) => Stream.unwrap(readSse(body, opts))

describe("readSse", () => {
  it.live("a stream that is never run: the body is closed when the request scope ends", () =>
    Effect.gen(function*() {
      const body = scriptedBody([data("a")], false)
      const scope = yield* Scope.make()
      yield* readSse(body, options).pipe(Scope.provide(scope))
      expect(body.destroyed).toBe(false)
      yield* Scope.close(scope, Exit.void)
      expect(body.destroyed).toBe(true)
    }))

  it.live("a stream that ran: the request scope's end leaves the body to the reader (drain after [DONE])", () =>
    Effect.gen(function*() {
      const body = scriptedBody([`${data("a")}data: [DONE]\n\n`, 30])
      const scope = yield* Scope.make()
      const stream = yield* readSse(body, options).pipe(Scope.provide(scope))
      yield* Stream.runCollect(stream)
      yield* Scope.close(scope, Exit.void)
      expect(body.destroyed).toBe(false)
      yield* Effect.promise(() => sleep(60))
      expect(body.readableEnded).toBe(true)
    }))

  it.live("joins events split anywhere across reads and stops at [DONE]", () =>
    Effect.gen(function*() {
      const wire = `${data("a")}${data("b")}data: [DONE]\n\n${data("never")}`
      const body = scriptedBody([wire.slice(0, 7), 5, wire.slice(7, 40), 5, wire.slice(40)])
      const events = yield* Stream.runCollect(read(body, options))
      expect(events.map(contentOf)).toEqual(["a", "b"])
    }))

  it.live("after [DONE], lets the body end by itself so the connection can be reused", () =>
    Effect.gen(function*() {
      const body = scriptedBody([`${data("a")}data: [DONE]\n\n`, 30])
      yield* Stream.runCollect(read(body, options))
      expect(body.destroyed && !body.readableEnded).toBe(false)
      yield* Effect.promise(() => sleep(60))
      expect(body.readableEnded).toBe(true)
    }))

  it.live("destroys the body (aborting the upstream request) when the consumer stops early", () =>
    Effect.gen(function*() {
      const body = scriptedBody([data("a"), data("b")], false)
      const events = yield* Stream.runCollect(Stream.take(read(body, options), 1))
      expect(events.map(contentOf)).toEqual(["a"])
      expect(body.destroyed).toBe(true)
    }))

  it.live("a body that breaks mid-stream fails with a connection error, after what arrived", () =>
    Effect.gen(function*() {
      const body = scriptedBody([data("a")], false)
      setTimeout(() => body.destroy(Object.assign(new Error("other side closed"), { code: "UND_ERR_SOCKET" })), 20)
      const seen: Array<string | null | undefined> = []
      const exit = yield* Stream.runForEach(read(body, options), (event) => Effect.sync(() => seen.push(contentOf(event)))).pipe(Effect.exit)
      expect(seen).toEqual(["a"])
      expect(Exit.isFailure(exit) && JSON.stringify(exit.cause)).toContain("connection lost mid-stream (UND_ERR_SOCKET: other side closed)")
    }))

  it.live("a body that broke before the stream started fails at once, not at the idle timeout", () =>
    Effect.gen(function*() {
      const body = new PassThrough()
      body.on("error", () => undefined)
      body.destroy(Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }))
      yield* Effect.promise(() => sleep(5))
      const started = Date.now()
      const exit = yield* Stream.runCollect(read(body, { ...options, idleMillis: 5_000 })).pipe(Effect.exit)
      expect(Exit.isFailure(exit) && JSON.stringify(exit.cause)).toContain("connection lost mid-stream (ECONNRESET: socket hang up)")
      expect(Date.now() - started).toBeLessThan(1_000)
    }))

  it.live("misses no wake-up when the fiber yields often (ends without [DONE], with every yield budget)", () =>
    Effect.gen(function*() {
      for (let budget = 3; budget <= 16; budget++) {
        for (let i = 0; i < 15; i++) {
          const body = new PassThrough()
          body.write(data("a"))
          setImmediate(() => body.end(data("b")))
          const events = yield* Stream.runCollect(read(body, options)).pipe(
            Effect.timeoutOrElse({ duration: "1 second", orElse: () => Effect.die(new Error(`stalled (budget ${budget})`)) }),
            Effect.provideService(MaxOpsBeforeYield, budget)
          )
          expect(events.map(contentOf)).toEqual(["a", "b"])
        }
      }
    }))

  it.live("an end without [DONE] delivers the last event, then ends", () =>
    Effect.gen(function*() {
      const events = yield* Stream.runCollect(read(scriptedBody([data("a"), `data: {"choices":[]}`]), options))
      expect(events.length).toBe(2)
    }))

  describe("idle timeout", () => {
    it.live("fails after the idle time without a byte", () =>
      Effect.gen(function*() {
        const body = scriptedBody([data("a"), 400], false)
        const exit = yield* Stream.runCollect(read(body, { ...options, idleMillis: 80 })).pipe(Effect.exit)
        expect(Exit.isFailure(exit) && JSON.stringify(exit.cause)).toContain("UpstreamTimeout")
        expect(body.destroyed).toBe(true)
      }))

    it.live("is not reset by the pings it sends meanwhile", () =>
      Effect.gen(function*() {
        const body = scriptedBody([data("a"), 1000], false)
        const seen: Array<string | null | undefined> = []
        const exit = yield* Stream.runForEach(
          read(body, { ...options, idleMillis: 150, pingMillis: 40 }),
          (event) => Effect.sync(() => seen.push(contentOf(event)))
        ).pipe(Effect.exit)
        expect(Exit.isFailure(exit) && JSON.stringify(exit.cause)).toContain("UpstreamTimeout")
        expect(seen[0]).toBe("a")
        expect(seen.slice(1).every((event) => event === "(silence)") && seen.length >= 3).toBe(true)
      }))

    it.live("counts SSE comments as activity", () =>
      Effect.gen(function*() {
        const keepAlives = Array.from({ length: 6 }, () => [40, ": keep-alive\n\n"]).flat()
        const body = scriptedBody([data("a"), ...keepAlives, data("b")])
        const events = yield* Stream.runCollect(read(body, { ...options, idleMillis: 100 }))
        expect(events.map(contentOf)).toEqual(["a", "b"])
      }))

    it.live("counts only time spent waiting: a consumer slower than the timeout never trips it", () =>
      Effect.gen(function*() {
        const body = scriptedBody([data("a"), data("b"), data("c")])
        const seen: Array<string | null | undefined> = []
        yield* Stream.runForEach(
          read(body, { ...options, idleMillis: 50 }),
          (event) => Effect.promise(() => sleep(120)).pipe(Effect.as(seen.push(contentOf(event))))
        )
        expect(seen).toEqual(["a", "b", "c"])
      }))
  })

  describe("silences", () => {
    it.live("a silence after each ping interval without output, none in a chatty stream", () =>
      Effect.gen(function*() {
        const body = scriptedBody([data("a"), 130, data("b"), 20, data("c")])
        const events = yield* Stream.runCollect(read(body, { ...options, pingMillis: 50 }))
        expect(events.map(contentOf)).toEqual(["a", "(silence)", "(silence)", "b", "c"])
      }))

    it.live("become pings where the upstream was silent (DeepSeek thinking, at 1/20 of its recorded pace)", () =>
      Effect.gen(function*() {
        const cassette = decodeCassette(
          JSON.parse(readFileSync(new URL("../fixtures/cassettes/deepseek-slow-pings.json", import.meta.url), "utf8"))
        )
        const faster = {
          ...cassette,
          response: {
            ...cassette.response,
            chunks: cassette.response.chunks.map((c) => ({ ...c, delayMs: Math.round((c.delayMs ?? 0) / 20) }))
          }
        }
        const context = { messageId: "msg_1", clientModel: "claude-sonnet-4-5", toolNames: new Map(), inputTokens: 1 }
        const events = yield* Stream.runCollect(toEvents(context)(read(cassetteBody(faster), { ...options, pingMillis: 250 })))
        // Role chunk at 15 ms, a keep-alive comment at 615, thinking at 655, the answer at 1005.
        expect(events.map((event) => event.type)).toEqual([
          "message_start",
          "ping",
          "ping",
          "content_block_start",
          "content_block_delta",
          "ping",
          "content_block_delta",
          "content_block_stop",
          "content_block_start",
          "content_block_delta",
          "content_block_stop",
          "message_delta",
          "message_stop"
        ])
      }))
  })
})
