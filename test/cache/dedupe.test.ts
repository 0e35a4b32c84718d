/**
 * DEDUPE over real HTTP: identical requests in flight share one upstream call. Everyone gets the whole answer (late
 * joiners too), each with its own message id; a client hanging up cuts nobody else; everyone hanging up aborts the
 * upstream request (the scripted upstream's `aborted()`); a failure reaches everyone in flight and the next request
 * calls afresh; limiter permits all come back.
 */
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Exit, Fiber } from "effect"
import { type Cassette, sseCassette } from "../../src/upstream/cassette.ts"
import { Harness, harness } from "../support/harness.ts"
import { expectPermitsBack } from "../support/leaks.ts"
import {
  body,
  completion,
  eventually,
  gate,
  hangUp,
  messageSummary,
  onePermit,
  post,
  postSaying,
  streamed,
  streamSummary,
  textChunk,
  
} from "./http-support.ts"

describe("single-flight over HTTP", () => {
  layer(harness({ ...onePermit, CACHE: "on" }), { excludeTestServices: true })("DEDUPE (on with the cache)", (it) => {
    it.effect("N identical streams in flight: one upstream call, everyone gets the whole answer, each its own id", () =>
      Effect.gen(function*() {
        const { url, upstream } = yield* Harness
        upstream.reset()
        upstream.enqueue(streamed(["one ", "two ", "three"], 60))
        const first = yield* Effect.forkChild(post(url, body("together?", { stream: true })))
        yield* eventually(() => upstream.requests.length === 1)
        const others = yield* Effect.all(Array.from({ length: 4 }, () => post(url, body("together?", { stream: true }))), {
          concurrency: "unbounded"
        })
        const answers = [yield* Fiber.join(first), ...others].map((answer) => streamSummary(answer.text))
        expect(upstream.requests.length).toBe(1)
        for (const answer of answers) expect(answer).toMatchObject({ text: "one two three", complete: true, stop: "end_turn" })
        expect(new Set(answers.map((a) => a.id)).size).toBe(5)
        yield* expectPermitsBack(yield* Harness)
        // One upstream call is billed once: the four that joined it are recorded as shared, at no cost.
        const { logs } = yield* Harness
        yield* eventually(() => logs.filter((l) => l.msg === "request" && l.cache === "shared").length === 4)
        expect(logs.filter((l) => l.msg === "request" && l.cache === "shared" && l.cost_usd === 0)).toHaveLength(4)
      }))

    it.effect("a client that joins late gets the events so far, then the live ones", () =>
      Effect.gen(function*() {
        const { url, upstream } = yield* Harness
        upstream.reset()
        upstream.enqueue(streamed(["a", "b", "c", "d", "e", "f"], 80))
        const first = yield* Effect.forkChild(post(url, body("late?", { stream: true })))
        yield* Effect.sleep("250 millis")
        const late = yield* post(url, body("late?", { stream: true }))
        expect(streamSummary(late.text)).toMatchObject({ text: "abcdef", complete: true })
        expect(streamSummary((yield* Fiber.join(first)).text).text).toBe("abcdef")
        expect(upstream.requests.length).toBe(1)
      }))

    it.effect("the first client hanging up does not cut the others", () =>
      Effect.gen(function*() {
        const { url, upstream } = yield* Harness
        upstream.reset()
        upstream.enqueue(streamed(["x", "y", "z", "w"], 80))
        const stayerIn = gate()
        const leaver = yield* Effect.forkChild(hangUp(url, body("leave?", { stream: true }), stayerIn.opened))
        yield* eventually(() => upstream.requests.length === 1)
        const stayer = yield* postSaying(url, body("leave?", { stream: true }), stayerIn.open)
        expect(yield* Fiber.join(leaver)).toBe(200)
        expect(streamSummary(stayer)).toMatchObject({ text: "xyzw", complete: true })
        expect(upstream.requests.length).toBe(1)
        expect(upstream.aborted()).toBe(0)
        // And the shared call was stored whole.
        expect((yield* post(url, body("leave?", { stream: true }))).cache).toBe("hit")
      }))

    it.effect("everyone hanging up aborts the upstream call; the next request calls afresh", () =>
      Effect.gen(function*() {
        const { url, upstream } = yield* Harness
        upstream.reset()
        upstream.enqueue(streamed(Array.from({ length: 30 }, (_, i) => `${i} `), 100), streamed(["fresh"]))
        const bothIn = gate()
        let reading = 0
        const inFlight = () => {
          if (++reading === 2) bothIn.open()
        }
        yield* Effect.all([
          hangUp(url, body("abandon?", { stream: true }), bothIn.opened, inFlight),
          hangUp(url, body("abandon?", { stream: true }), bothIn.opened, inFlight)
        ], { concurrency: "unbounded" })
        expect(upstream.requests.length).toBe(1)
        expect(yield* eventually(() => upstream.aborted() === 1)).toBe(true)
        yield* expectPermitsBack(yield* Harness)
        const next = yield* post(url, body("abandon?", { stream: true }))
        expect([next.cache, streamSummary(next.text).text]).toEqual(["miss", "fresh"])
        expect(upstream.requests.length).toBe(2)
      }))

    it.effect("an upstream failure reaches everyone in flight; the next identical request makes a fresh call", () =>
      Effect.gen(function*() {
        const { url, upstream } = yield* Harness
        upstream.reset()
        const slowError: Cassette = {
          name: "slow-400",
          response: {
            status: 400,
            headers: { "content-type": "application/json" },
            chunks: [{ delayMs: 200, text: JSON.stringify({ error: { message: "no such model", type: "invalid_request_error" } }) }]
          }
        }
        upstream.enqueue(slowError, streamed(["recovered"]))
        const answers = yield* Effect.all(Array.from({ length: 3 }, () => post(url, body("fails?", { stream: true }))), {
          concurrency: "unbounded"
        })
        expect(answers.map((a) => a.status)).toEqual([400, 400, 400])
        for (const answer of answers) expect(JSON.parse(answer.text).error.type).toBe("invalid_request_error")
        expect(upstream.requests.length).toBe(1)
        yield* expectPermitsBack(yield* Harness)
        const retry = yield* post(url, body("fails?", { stream: true }))
        expect([retry.status, streamSummary(retry.text).text]).toEqual([200, "recovered"])
        expect(upstream.requests.length).toBe(2)
      }))

    it.effect("a mid-stream failure reaches everyone in flight as the stream's error event", () =>
      Effect.gen(function*() {
        const { url, upstream } = yield* Harness
        upstream.reset()
        upstream.enqueue(sseCassette("err", [textChunk("part"), { error: { message: "boom", code: 502 } }], { delayMs: 150 }))
        const answers = yield* Effect.all(Array.from({ length: 3 }, () => post(url, body("breaks?", { stream: true }))), {
          concurrency: "unbounded"
        })
        const summaries = answers.map((answer) => streamSummary(answer.text))
        for (const summary of summaries) expect(summary).toMatchObject({ text: "part", complete: false, error: summaries[0]!.error })
        expect(summaries[0]!.error).toEqual(expect.any(String))
        expect(upstream.requests.length).toBe(1)
      }))

    it.effect("identical JSON requests in flight share the message", () =>
      Effect.gen(function*() {
        const { url, upstream } = yield* Harness
        upstream.reset()
        upstream.enqueue({ ...completion("shared"), response: { ...completion("shared").response, chunks: [{ delayMs: 200, text: completion("shared").response.chunks[0]!.text }] } })
        const answers = yield* Effect.all(Array.from({ length: 3 }, () => post(url, body("json together?"))), { concurrency: "unbounded" })
        expect(answers.map((a) => messageSummary(a.text).text)).toEqual(["shared", "shared", "shared"])
        expect(new Set(answers.map((a) => messageSummary(a.text).id)).size).toBe(3)
        expect(upstream.requests.length).toBe(1)
      }))
  })

  layer(harness({ DEDUPE: "on" }), { excludeTestServices: true })("DEDUPE=on, CACHE off", (it) => {
    it.effect("shares calls in flight, stores nothing, and sends no cache header", () =>
      Effect.gen(function*() {
        const { url, upstream } = yield* Harness
        upstream.reset()
        upstream.enqueue(streamed(["p", "q"], 100), streamed(["r"]))
        const both = yield* Effect.all([post(url, body("x?", { stream: true })), post(url, body("x?", { stream: true }))], {
          concurrency: "unbounded"
        })
        expect(both.map((a) => [a.cache, streamSummary(a.text).text])).toEqual([[null, "pq"], [null, "pq"]])
        expect(upstream.requests.length).toBe(1)
        expect(streamSummary((yield* post(url, body("x?", { stream: true }))).text).text).toBe("r")
        expect(upstream.requests.length).toBe(2)
      }))
  })

  layer(harness({ CACHE: "on", DEDUPE: "off" }), { excludeTestServices: true })("CACHE=on, DEDUPE=off", (it) => {
    it.effect("identical requests in flight each call the upstream", () =>
      Effect.gen(function*() {
        const { url, upstream } = yield* Harness
        upstream.reset()
        upstream.enqueue(streamed(["s"], 100), streamed(["s"], 100))
        const both = yield* Effect.all([post(url, body("y?", { stream: true })), post(url, body("y?", { stream: true }))], {
          concurrency: "unbounded"
        })
        expect(both.map((a) => a.cache)).toEqual(["miss", "miss"])
        expect(upstream.requests.length).toBe(2)
        expect(Exit.isSuccess(yield* Effect.exit(post(url, body("y?"))))).toBe(true)
      }))
  })
})

