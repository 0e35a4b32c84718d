/**
 * The cache stage over real HTTP, in front of the scripted upstream (whose `requests.length` counts upstream calls):
 * misses and hits for JSON and streams, JSON and streams sharing an entry, hits that need no limiter permit, the
 * bypass/refresh header, the outcome in the request log line, and failed or cut streams never stored.
 */
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { type Cassette, sseCassette } from "../../src/upstream/cassette.ts"
import { Harness, harness } from "../support/harness.ts"
import { expectPermitsBack } from "../support/leaks.ts"
import { jsonCassette } from "../support/scripted-upstream.ts"
import { body, completion, eventually, messageSummary, onePermit, post, sseEvents, streamed, streamSummary, textChunk } from "./http-support.ts"

describe("cache stage over HTTP", () => {
  layer(harness({ ...onePermit, CACHE: "on" }), { excludeTestServices: true })("CACHE=on", (it) => {
    it.effect("a JSON miss, then a hit at once: one upstream call, same answer, fresh id", () =>
      Effect.gen(function*() {
        const { url, upstream } = yield* Harness
        upstream.reset()
        upstream.enqueue(completion("Paris."))
        const first = yield* post(url, body("capital of France?"))
        const started = Date.now()
        const second = yield* post(url, body("capital of France?"))
        expect(Date.now() - started).toBeLessThan(1_000)
        expect(upstream.requests.length).toBe(1)
        expect([first.cache, second.cache]).toEqual(["miss", "hit"])
        const [a, b] = [messageSummary(first.text), messageSummary(second.text)]
        expect(b).toEqual({ ...a, id: b.id })
        expect(b.id).toMatch(/^msg_/)
        expect(b.id).not.toBe(a.id)
      }))

    it.effect("the request log line says hit, miss or bypass", () =>
      Effect.gen(function*() {
        const { url, upstream, logs } = yield* Harness
        upstream.reset()
        upstream.enqueue(completion("logged"), completion("bypassed"))
        const before = logs.length
        yield* post(url, body("logged?"))
        yield* post(url, body("logged?"))
        yield* post(url, body("logged?"), { "x-ccproxy-cache": "bypass" })
        yield* eventually(() => logs.slice(before).filter((line) => line.msg === "request").length === 3)
        expect(logs.slice(before).filter((line) => line.msg === "request").map((line) => line.cache)).toEqual(["miss", "hit", "bypass"])
      }))

    it.effect("a stream hit replays the SSE: same content and usage, fresh message id", () =>
      Effect.gen(function*() {
        const { url, upstream } = yield* Harness
        upstream.reset()
        upstream.enqueue(streamed(["Ber", "lin."]))
        const first = yield* post(url, body("capital of Germany?", { stream: true }))
        const second = yield* post(url, body("capital of Germany?", { stream: true }))
        expect(upstream.requests.length).toBe(1)
        expect([first.cache, second.cache]).toEqual(["miss", "hit"])
        const [a, b] = [streamSummary(first.text), streamSummary(second.text)]
        expect(a).toMatchObject({ text: "Berlin.", complete: true })
        expect(b).toEqual({ ...a, id: b.id })
        expect(b.id).not.toBe(a.id)
        // The replay is the stored events, in order, with no pings.
        const kinds = (text: string) => sseEvents(text).map((e) => e.type).filter((t) => t !== "ping")
        expect(kinds(second.text)).toEqual(kinds(first.text))
      }))

    it.effect("a hit touches no limiter: it is answered while the only permit is held by a slow stream", () =>
      Effect.gen(function*() {
        const h = yield* Harness
        const { url, upstream } = h
        upstream.reset()
        upstream.enqueue(completion("stored"), streamed(["slow ", "answer"], 300))
        yield* post(url, body("stored?"))
        const slow = yield* Effect.forkChild(post(url, body("slow?", { stream: true })))
        yield* eventually(() => upstream.requests.length === 2)
        const refused = yield* post(url, body("another?"))
        expect(refused.status).toBe(529) // the permit is taken
        const hit = yield* post(url, body("stored?"))
        expect([hit.status, hit.cache, messageSummary(hit.text).text]).toEqual([200, "hit", "stored"])
        expect(streamSummary((yield* Fiber.join(slow)).text).text).toBe("slow answer")
        yield* expectPermitsBack(h)
      }))

    it.effect("JSON and stream requests share an entry, both ways; the hit carries the client's model", () =>
      Effect.gen(function*() {
        const { url, upstream } = yield* Harness
        upstream.reset()
        upstream.enqueue(completion("Rome."), streamed(["Ma", "drid."]))
        const json = yield* post(url, body("capital of Italy?"))
        const asStream = yield* post(url, body("capital of Italy?", { stream: true }))
        expect(asStream.cache).toBe("hit")
        expect(streamSummary(asStream.text)).toMatchObject({ text: "Rome.", complete: true, usage: messageSummary(json.text).usage })

        const stream = yield* post(url, body("capital of Spain?", { stream: true }))
        const asJson = yield* post(url, body("capital of Spain?", { model: "claude-opus-4-6" }))
        expect(asJson.cache).toBe("hit")
        expect(messageSummary(asJson.text)).toMatchObject({ text: "Madrid.", model: "claude-opus-4-6", stop: "end_turn" })
        expect(messageSummary(asJson.text).usage).toEqual(streamSummary(stream.text).usage)
        expect(upstream.requests.length).toBe(2)
      }))

    it.effect("metadata.user_id does not split entries; a different prompt or max_tokens does", () =>
      Effect.gen(function*() {
        const { url, upstream } = yield* Harness
        upstream.reset()
        upstream.enqueue(completion("a"), completion("b"), completion("c"))
        yield* post(url, body("same?", { metadata: { user_id: "one" } }))
        expect((yield* post(url, body("same?", { metadata: { user_id: "two" } }))).cache).toBe("hit")
        expect((yield* post(url, body("same?", { max_tokens: 51 }))).cache).toBe("miss")
        expect((yield* post(url, body("same!"))).cache).toBe("miss")
        expect(upstream.requests.length).toBe(3)
      }))

    it.effect("x-ccproxy-cache: bypass skips lookup and store; refresh skips the lookup and stores", () =>
      Effect.gen(function*() {
        const { url, upstream } = yield* Harness
        upstream.reset()
        upstream.enqueue(completion("one"), completion("two"), completion("three"))
        const bypass = yield* post(url, body("count?"), { "x-ccproxy-cache": "bypass" })
        expect(bypass.cache).toBe("bypass")
        const first = yield* post(url, body("count?"))
        expect(first.cache).toBe("miss") // the bypassed answer was not stored
        expect(messageSummary((yield* post(url, body("count?"))).text).text).toBe("two")
        const again = yield* post(url, body("count?"), { "x-ccproxy-cache": "bypass" })
        expect([again.cache, messageSummary(again.text).text]).toEqual(["bypass", "three"])
        upstream.enqueue(completion("four"))
        const refresh = yield* post(url, body("count?"), { "x-ccproxy-cache": "refresh" })
        expect([refresh.cache, messageSummary(refresh.text).text]).toEqual(["miss", "four"])
        const after = yield* post(url, body("count?"))
        expect([after.cache, messageSummary(after.text).text]).toEqual(["hit", "four"])
        expect(upstream.requests.length).toBe(4)
      }))

    it.effect("a stream that fails mid-way or is cut is not stored; the next request goes upstream", () =>
      Effect.gen(function*() {
        const { url, upstream } = yield* Harness
        upstream.reset()
        const cut: Cassette = { ...streamed(["half"]), response: { ...streamed(["half"]).response, chunks: streamed(["half"]).response.chunks.slice(0, 1), abort: true } }
        const erroring = sseCassette("err", [textChunk("part"), { error: { message: "boom", code: 502 } }])
        upstream.enqueue(cut, erroring, streamed(["whole"]))
        const a = yield* post(url, body("flaky?", { stream: true }))
        expect(streamSummary(a.text)).toMatchObject({ complete: false, error: expect.any(String) })
        const b = yield* post(url, body("flaky?", { stream: true }))
        expect(b.cache).toBe("miss")
        expect(streamSummary(b.text)).toMatchObject({ complete: false, error: expect.any(String) })
        const c = yield* post(url, body("flaky?", { stream: true }))
        expect([c.cache, streamSummary(c.text).text]).toEqual(["miss", "whole"])
        expect((yield* post(url, body("flaky?", { stream: true }))).cache).toBe("hit")
        expect(upstream.requests.length).toBe(3)
      }))

    it.effect("an upstream error is not stored", () =>
      Effect.gen(function*() {
        const { url, upstream } = yield* Harness
        upstream.reset()
        upstream.enqueue(jsonCassette({ error: { message: "bad", type: "invalid_request_error" } }, 400), completion("ok"))
        expect((yield* post(url, body("error?"))).status).toBe(400)
        const next = yield* post(url, body("error?"))
        expect([next.status, next.cache]).toEqual([200, "miss"])
      }))
  })
})

describe("cache admin routes", () => {
  layer(harness({ CACHE: "on" }), { excludeTestServices: true })("CACHE=on", (it) => {
    it.effect("/v1/cache/stats counts what the stage stored; /v1/cache/clear empties it; /v1/metrics shows hits", () =>
      Effect.gen(function*() {
        const { url, upstream } = yield* Harness
        upstream.enqueue(completion("stored"))
        const payload = body("admin routes")
        expect((yield* post(url, payload)).cache).toBe("miss")
        expect((yield* post(url, payload)).cache).toBe("hit")
        const stats = yield* Effect.promise(() => fetch(`${url}/v1/cache/stats`).then((r) => r.json()))
        expect(stats).toMatchObject({ enabled: true, entries: 1 })
        expect(stats.bytes).toBeGreaterThan(0)
        const summary = yield* Effect.promise(() => fetch(`${url}/v1/metrics`).then((r) => r.json()))
        expect(summary.cache).toMatchObject({ enabled: true, hits: 1, misses: 1, hit_rate: 0.5 })
        expect(summary.recent[0]).toMatchObject({ cache: "hit", cost_usd: 0 })
        const cleared = yield* Effect.promise(() => fetch(`${url}/v1/cache/clear`, { method: "POST" }).then((r) => r.status))
        expect(cleared).toBe(200)
        const after = yield* Effect.promise(() => fetch(`${url}/v1/cache/stats`).then((r) => r.json()))
        expect(after.entries).toBe(0)
        upstream.enqueue(completion("again"))
        expect((yield* post(url, payload)).cache).toBe("miss")
      }))
  })
})
