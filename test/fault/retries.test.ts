/**
 * Upstream faults with one retry (UPSTREAM_MAX_RETRIES=1): what is retried (connection errors, 408/409/429/5xx
 * before any byte reached the client), what is not (4xx, a Retry-After over 10 s, anything once a stream has
 * started), that Retry-After is honoured in both its forms, and that a client hanging up during the backoff stops
 * it. Leak checks after every case, as in upstream.test.ts.
 */
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import {
  answerOk,
  answerStatus,
  Faulty,
  faultHarness,
  sseData,
  SSE_HEADERS,
  textChunk
} from "../support/faulty-upstream.ts"
import { Harness } from "../support/harness.ts"
import { expectNoLeaks, leakBaseline } from "../support/leaks.ts"
import {
  expectAnthropicError,
  expectStreamEndingWith,
  jsonBody,
  post,
  type PostOptions,
  type Reply,
  streamBody,
  streamText
} from "./client.ts"

const ENV = {
  UPSTREAM_MAX_RETRIES: "1",
  UPSTREAM_IDLE_TIMEOUT: "300 millis",
  UPSTREAM_FIRST_BYTE_TIMEOUT: "1 second",
  PING_INTERVAL: "200 millis"
}

layer(faultHarness(ENV), { excludeTestServices: true })("upstream faults (one retry)", (it) => {
  /**
   * One case. An upstream 429 leaves that upstream in a cool-down for its Retry-After (nothing is sent to it before
   * it passes), so the cases that get one run on a proxy of their own (`isolated`), not the shared one.
   */
  const fault = (
    name: string,
    setup: (upstream: Faulty["Service"]) => void,
    body: string,
    check: (reply: Reply, upstream: Faulty["Service"]) => void,
    options: PostOptions & { readonly isolated?: boolean } = {}
  ) =>
    it.effect(name, () => {
      const run = Effect.gen(function*() {
        const upstream = yield* Faulty
        const proxy = yield* Harness
        upstream.reset()
        setup(upstream)
        const baseline = yield* leakBaseline
        const reply = yield* Effect.promise(() => post(proxy.url, body, options))
        check(reply, upstream)
        yield* expectNoLeaks(baseline, upstream, proxy)
      })
      return options.isolated ? run.pipe(Effect.provide(faultHarness(ENV))) : run
    }, 20_000)

  for (const mode of ["stream", "json"] as const) {
    const body = mode === "stream" ? streamBody() : jsonBody()
    const expectOk = (reply: Reply) => {
      if (mode === "stream") expect(streamText(expectStreamEndingWith(reply, "message_stop"))).toBe("second try")
      else expect(JSON.parse(reply.text).content).toEqual([{ type: "text", text: "second try" }])
    }

    fault(`${mode}: reset before headers, then OK → 200`, (u) => u.enqueue((ctx) => ctx.reset(), answerOk("second try")), body, (reply, u) => {
      expectOk(reply)
      expect(u.requests).toHaveLength(2)
    })

    for (const status of [500, 502, 503, 529, 408]) {
      fault(`${mode}: ${status}, then OK → 200`, (u) => u.enqueue(answerStatus(status), answerOk("second try")), body, (reply, u) => {
        expectOk(reply)
        expect(u.requests).toHaveLength(2)
      })
    }

    fault(`${mode}: 503 twice → 529 overloaded_error after two attempts`, (u) => u.enqueue(answerStatus(503), answerStatus(503)), body, (reply, u) => {
      expectAnthropicError(reply, 529, "overloaded_error")
      expect(u.requests).toHaveLength(2)
    })

    fault(`${mode}: 400 is not retried → 400 invalid_request_error`, (u) => u.enqueue(answerStatus(400), answerOk("second try")), body, (reply, u) => {
      expectAnthropicError(reply, 400, "invalid_request_error")
      expect(u.requests).toHaveLength(1)
    })

    fault(`${mode}: 429 with Retry-After: 1 → waits at least 1 s, then 200`, (u) =>
      u.enqueue(answerStatus(429, { "retry-after": "1" }), answerOk("second try")), body, (reply, u) => {
      expectOk(reply)
      expect(u.requests).toHaveLength(2)
      expect(reply.elapsedMs).toBeGreaterThanOrEqual(950)
    }, { isolated: true })

    fault(`${mode}: 429 with Retry-After as an HTTP date 2 s ahead → waits, then 200`, (u) =>
      u.enqueue(
        // Built when the upstream answers, so the date is 2 s after the first attempt (HTTP dates have whole seconds).
        (ctx) => answerStatus(429, { "retry-after": new Date(Date.now() + 2_000).toUTCString() })(ctx),
        answerOk("second try")
      ), body, (reply, u) => {
      expectOk(reply)
      expect(u.requests).toHaveLength(2)
      expect(reply.elapsedMs).toBeGreaterThanOrEqual(900)
      expect(reply.elapsedMs).toBeLessThan(4_000)
    })

    fault(`${mode}: 429 with Retry-After: 60 is not waited for → 429 at once, retry-after 60`, (u) =>
      u.enqueue(answerStatus(429, { "retry-after": "60" }), answerOk("second try")), body, (reply, u) => {
      expectAnthropicError(reply, 429, "rate_limit_error")
      expect(reply.headers["retry-after"]).toBe("60")
      expect(u.requests).toHaveLength(1)
      expect(reply.elapsedMs).toBeLessThan(2_000)
    }, { isolated: true })

    // Our own timeouts are not in the README's list of retried failures (a second wait would double a long one).
    fault(`${mode}: no headers within the first-byte timeout → 504 timeout_error, not retried`, (u) =>
      u.enqueue((ctx) => ctx.sleep(30_000), answerOk("second try")), body, (reply, u) => {
      expectAnthropicError(reply, 504, "timeout_error")
      expect(u.requests).toHaveLength(1)
      expect(reply.elapsedMs).toBeLessThan(4_000)
    })

    fault(
      `${mode}: the client hangs up during a Retry-After wait → no second attempt, the wait's timer is gone`,
      (u) => u.enqueue(answerStatus(429, { "retry-after": "5" }), answerOk("second try")),
      body,
      (reply, u) => {
        expect(reply.hungUp).toBe(true)
        expect(u.requests).toHaveLength(1)
      },
      { hangUp: { at: "after-ms", ms: 400 }, isolated: true }
    )
  }

  fault("stream: a reset after the stream started is not retried → error event", (u) =>
    u.enqueue(async (ctx) => {
      await ctx.head(200, SSE_HEADERS)
      await ctx.body(sseData(textChunk("partial")))
      await ctx.sleep(50)
      ctx.reset()
    }, answerOk("second try")), streamBody(), (reply, u) => {
    expectStreamEndingWith(reply, "error", "overloaded_error")
    expect(u.requests).toHaveLength(1)
  })
})
