/**
 * The protection stages through real HTTP against the scripted upstream: the limiter's bound and queue, the circuit
 * breaker opening, answering without the upstream and recovering, the upstream rate limits, and the routes that
 * never queue.
 */
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { sseCassette } from "../../src/upstream/cassette.ts"
import { Harness, harness } from "../support/harness.ts"
import { jsonCassette } from "../support/scripted-upstream.ts"

const textChunk = (content: string) => ({ choices: [{ index: 0, delta: { content }, finish_reason: null }] })
const finishChunk = { choices: [{ index: 0, delta: {}, finish_reason: "stop" }] }
const message = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ model: "claude-sonnet-4-6", max_tokens: 10, messages: [{ role: "user", content: "hi" }], ...extra })
const ok = () => jsonCassette({ choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }] })

const call = (url: string, init: { method?: string; body?: string; signal?: AbortSignal } = {}) =>
  Effect.promise(async () => {
    const response = await fetch(url, {
      method: init.method ?? "POST",
      headers: { "content-type": "application/json" },
      ...(init.body === undefined ? {} : { body: init.body }),
      ...(init.signal === undefined ? {} : { signal: init.signal })
    })
    return { status: response.status, headers: response.headers, body: await response.text() }
  })

const health = (url: string) =>
  Effect.map(call(`${url}/health`, { method: "GET" }), (res) => JSON.parse(res.body) as {
    status: string
    upstreams: Array<{ name: string; circuit: string; in_flight: number; queued: number }>
  })

const eventually = (check: () => boolean, ms = 3_000) =>
  Effect.promise(async () => {
    const until = Date.now() + ms
    while (!check() && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 5))
  })

const sleep = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))

describe("limiter", () => {
  layer(harness({ MAX_CONCURRENT_UPSTREAM: "2", QUEUE_TIMEOUT: "400 millis", UPSTREAM_MAX_RETRIES: "0" }), {
    excludeTestServices: true
  })("MAX_CONCURRENT_UPSTREAM=2", (it) => {
    it.effect("the upstream never sees more than 2; a third waits, then gets 529 with retry-after; permits come back", () =>
      Effect.gen(function*() {
        const { url, upstream } = yield* Harness
        upstream.reset()
        const slow = () => sseCassette("slow", [textChunk("a"), textChunk("b"), finishChunk], { delayMs: 300 })
        upstream.enqueue(slow(), slow())
        const streams = Effect.all([call(`${url}/v1/messages`, { body: message({ stream: true }) }), call(`${url}/v1/messages`, { body: message({ stream: true }) })], { concurrency: "unbounded" })
        const running = yield* Effect.forkChild(streams)
        yield* eventually(() => upstream.requests.length === 2)
        const during = yield* health(url)
        expect(during.upstreams[0]).toMatchObject({ in_flight: 2, queued: 0 })

        const started = Date.now()
        const third = yield* call(`${url}/v1/messages`, { body: message() })
        expect(third.status).toBe(529)
        expect(Date.now() - started).toBeGreaterThanOrEqual(350)
        expect(JSON.parse(third.body).error.type).toBe("overloaded_error")
        expect(Number(third.headers.get("retry-after"))).toBeGreaterThan(0)
        expect(upstream.requests.length).toBe(2)

        const [a, b] = yield* Fiber.join(running)
        expect(a.body).toContain("message_stop")
        expect(b.body).toContain("message_stop")
        yield* eventually(() => false, 50)
        expect((yield* health(url)).upstreams[0]).toMatchObject({ in_flight: 0, queued: 0 })
      }))

    it.effect("a queued request gets its turn when a permit frees, within QUEUE_TIMEOUT", () =>
      Effect.gen(function*() {
        const { url, upstream } = yield* Harness
        upstream.reset()
        upstream.enqueue(
          sseCassette("slow", [textChunk("a"), finishChunk], { delayMs: 100 }),
          sseCassette("slow", [textChunk("a"), finishChunk], { delayMs: 100 }),
          ok()
        )
        const results = yield* Effect.all([
          call(`${url}/v1/messages`, { body: message({ stream: true }) }),
          call(`${url}/v1/messages`, { body: message({ stream: true }) }),
          Effect.andThen(sleep(30), call(`${url}/v1/messages`, { body: message() }))
        ], { concurrency: "unbounded" })
        expect(results.map((r) => r.status)).toEqual([200, 200, 200])
      }))

    it.effect("a client that hangs up while queued leaves the queue at once and never reaches the upstream", () =>
      Effect.gen(function*() {
        const { url, upstream } = yield* Harness
        upstream.reset()
        const slow = () => sseCassette("slow", [textChunk("a"), finishChunk], { delayMs: 250 })
        upstream.enqueue(slow(), slow())
        const streams = yield* Effect.forkChild(Effect.all([
          call(`${url}/v1/messages`, { body: message({ stream: true }) }),
          call(`${url}/v1/messages`, { body: message({ stream: true }) })
        ], { concurrency: "unbounded" }))
        yield* eventually(() => upstream.requests.length === 2)
        const abort = new AbortController()
        const queued = yield* Effect.forkChild(Effect.exit(call(`${url}/v1/messages`, { body: message(), signal: abort.signal })))
        yield* sleep(50)
        expect((yield* health(url)).upstreams[0]?.queued).toBe(1)
        abort.abort()
        yield* Fiber.await(queued)
        yield* eventually(() => false, 30)
        expect((yield* health(url)).upstreams[0]?.queued).toBe(0)
        yield* Fiber.await(streams)
        expect(upstream.requests.length).toBe(2)
      }))

    it.effect("count_tokens, /v1/models and /health never queue", () =>
      Effect.gen(function*() {
        const { url, upstream } = yield* Harness
        upstream.reset()
        const slow = () => sseCassette("slow", [textChunk("a"), finishChunk], { delayMs: 300 })
        upstream.enqueue(slow(), slow())
        const streams = yield* Effect.forkChild(Effect.all([
          call(`${url}/v1/messages`, { body: message({ stream: true }) }),
          call(`${url}/v1/messages`, { body: message({ stream: true }) })
        ], { concurrency: "unbounded" }))
        yield* eventually(() => upstream.requests.length === 2)
        // The tokenizer is built on the first count (about a second); that is not queueing.
        yield* call(`${url}/v1/messages/count_tokens`, { body: message() })
        const started = Date.now()
        expect((yield* call(`${url}/v1/messages/count_tokens`, { body: message() })).status).toBe(200)
        expect((yield* call(`${url}/v1/models`, { method: "GET" })).status).toBe(200)
        expect((yield* call(`${url}/health`, { method: "GET" })).status).toBe(200)
        expect(Date.now() - started).toBeLessThan(250)
        yield* Fiber.await(streams)
      }))
  })
})

describe("circuit breaker", () => {
  layer(harness({
    CIRCUIT_BREAKER_FAILURE_THRESHOLD: "2",
    CIRCUIT_BREAKER_RECOVERY_TIMEOUT: "600 millis",
    UPSTREAM_MAX_RETRIES: "1"
  }), { excludeTestServices: true })("threshold 2", (it) => {
    it.effect("opens after 2 failed requests (retries inside count once), answers 529 without the upstream, recovers", () =>
      Effect.gen(function*() {
        const { url, upstream } = yield* Harness
        upstream.reset()
        const down = () => jsonCassette({ error: { message: "down" } }, 503)
        // Each request tries twice (one retry): four 503s are two failures.
        upstream.enqueue(down(), down(), down(), down())
        expect((yield* call(`${url}/v1/messages`, { body: message() })).status).toBe(529)
        expect((yield* health(url)).status).toBe("ok")
        expect((yield* call(`${url}/v1/messages`, { body: message() })).status).toBe(529)
        expect(upstream.requests.length).toBe(4)

        const open = yield* health(url)
        expect(open.status).toBe("degraded")
        expect(open.upstreams[0]?.circuit).toBe("open")
        const refused = yield* call(`${url}/v1/messages`, { body: message() })
        expect(refused.status).toBe(529)
        expect(JSON.parse(refused.body).error.type).toBe("overloaded_error")
        expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1)
        expect(upstream.requests.length).toBe(4) // not contacted

        yield* sleep(700)
        upstream.enqueue(ok())
        expect((yield* call(`${url}/v1/messages`, { body: message() })).status).toBe(200)
        const closed = yield* health(url)
        expect(closed.status).toBe("ok")
        expect(closed.upstreams[0]?.circuit).toBe("closed")
      }))

    it.effect("4xx answers never count", () =>
      Effect.gen(function*() {
        const { url, upstream } = yield* Harness
        upstream.reset()
        for (let i = 0; i < 3; i++) upstream.enqueue(jsonCassette({ error: { message: "bad request" } }, 400))
        for (let i = 0; i < 3; i++) expect((yield* call(`${url}/v1/messages`, { body: message() })).status).toBe(400)
        expect((yield* health(url)).upstreams[0]?.circuit).toBe("closed")
      }))

    it.effect("a stream that dies mid-way counts as a failure", () =>
      Effect.gen(function*() {
        const { url, upstream } = yield* Harness
        upstream.reset()
        const broken = () => ({ ...sseCassette("cut", [textChunk("a")], { done: false }), response: { ...sseCassette("cut", [textChunk("a")], { done: false }).response, abort: true } })
        upstream.enqueue(broken(), broken())
        for (let i = 0; i < 2; i++) {
          const res = yield* call(`${url}/v1/messages`, { body: message({ stream: true }) })
          expect(res.body).toContain("event: error")
        }
        expect((yield* health(url)).upstreams[0]?.circuit).toBe("open")
        yield* sleep(700)
        upstream.enqueue(ok())
        expect((yield* call(`${url}/v1/messages`, { body: message() })).status).toBe(200)
      }))
  })
})

describe("upstream rate limits", () => {
  layer(harness({ UPSTREAM_RPM: "2", QUEUE_TIMEOUT: "200 millis" }), { excludeTestServices: true })("UPSTREAM_RPM=2", (it) => {
    it.effect("the third request in a minute gets 429 rate_limit_error with retry-after, without reaching the upstream", () =>
      Effect.gen(function*() {
        const { url, upstream } = yield* Harness
        upstream.reset()
        upstream.enqueue(ok(), ok())
        expect((yield* call(`${url}/v1/messages`, { body: message() })).status).toBe(200)
        expect((yield* call(`${url}/v1/messages`, { body: message() })).status).toBe(200)
        const third = yield* call(`${url}/v1/messages`, { body: message() })
        expect(third.status).toBe(429)
        expect(JSON.parse(third.body).error.type).toBe("rate_limit_error")
        expect(Number(third.headers.get("retry-after"))).toBeGreaterThan(1)
        expect(upstream.requests.length).toBe(2)
      }))
  })
})

describe("upstream rate limits: retries", () => {
  layer(harness({ UPSTREAM_RPM: "1", UPSTREAM_MAX_RETRIES: "2", QUEUE_TIMEOUT: "200 millis" }), { excludeTestServices: true })(
    "UPSTREAM_RPM=1",
    (it) => {
      it.effect("a retry is charged to the budget: with none left there is no retry, and the client gets the upstream's own answer", () =>
        Effect.gen(function*() {
          const { url, upstream } = yield* Harness
          upstream.reset()
          upstream.enqueue(jsonCassette({ error: { message: "slow down" } }, 429), ok())
          const limited = yield* call(`${url}/v1/messages`, { body: message() })
          expect(limited.status).toBe(429)
          expect(JSON.parse(limited.body).error.message).toContain("slow down")
          expect(upstream.requests.length).toBe(1)
        }))
    }
  )
})

describe("upstream 429 cool-down (default settings)", () => {
  layer(harness({ UPSTREAM_MAX_RETRIES: "0" }), { excludeTestServices: true })("no budgets set", (it) => {
    it.effect("after a 429 with Retry-After, nothing goes upstream until it passes; /health shows the cool-down", () =>
      Effect.gen(function*() {
        const { url, upstream } = yield* Harness
        upstream.reset()
        upstream.enqueue(jsonCassette({ error: { message: "slow down" } }, 429, { "retry-after": "2" }), ok())
        const first = yield* call(`${url}/v1/messages`, { body: message() })
        expect(first.status).toBe(429)
        const cooling = (yield* health(url)).upstreams[0] as unknown as { rate_limits: { cool_down_ms: number } }
        expect(cooling.rate_limits.cool_down_ms).toBeGreaterThan(1_000)

        const started = Date.now()
        const second = yield* call(`${url}/v1/messages`, { body: message() })
        expect(second.status).toBe(200)
        expect(Date.now() - started).toBeGreaterThanOrEqual(1_500)
        expect(upstream.requests.length).toBe(2)
      }))
  })
})
