/**
 * Upstream faults, without retries (UPSTREAM_MAX_RETRIES=0): for each, the client gets a proper Anthropic error
 * (status and JSON shape) or a stream that ends with `error` or `message_stop`, never a hang; and afterwards no
 * upstream socket is open, no timer runs, and every permit is back.
 *
 * Expected outcomes follow the README's error mapping: 429 → 429 rate_limit_error with the upstream's Retry-After,
 * 500 → 500 api_error, 502/503/529 → 529 overloaded_error, 408/504 and our own timeouts → 504 timeout_error; a broken
 * or unreachable upstream → 529 overloaded_error; an answer we cannot read → 500 api_error; once a stream has
 * started, a failure is an SSE `error` event and the stream ends.
 */
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import {
  answerStatus,
  Faulty,
  faultHarness,
  finishChunk,
  sseData,
  SSE_HEADERS,
  textChunk,
  usageChunk
} from "../support/faulty-upstream.ts"
import { Harness } from "../support/harness.ts"
import { expectNoLeaks, leakBaseline } from "../support/leaks.ts"
import {
  expectAnthropicError,
  expectStreamEndingWith,
  jsonBody,
  post,
  type Reply,
  streamBody,
  streamText
} from "./client.ts"

const ENV = {
  UPSTREAM_MAX_RETRIES: "0",
  UPSTREAM_IDLE_TIMEOUT: "300 millis",
  UPSTREAM_FIRST_BYTE_TIMEOUT: "1 second",
  PING_INTERVAL: "200 millis"
}

const TWO_MB = 2 * 1024 * 1024

layer(faultHarness(ENV), { excludeTestServices: true })("upstream faults (no retries)", (it) => {
  /** Runs one case: a fresh upstream queue, the request, the checks on the reply, then the leak checks. */
  const fault = (
    name: string,
    setup: (upstream: Faulty["Service"]) => void,
    body: string,
    check: (reply: Reply, upstream: Faulty["Service"]) => void
  ) =>
    it.effect(name, () =>
      Effect.gen(function*() {
        const upstream = yield* Faulty
        const proxy = yield* Harness
        upstream.reset()
        setup(upstream)
        const baseline = yield* leakBaseline
        const reply = yield* Effect.promise(() => post(proxy.url, body))
        check(reply, upstream)
        yield* expectNoLeaks(baseline, upstream, proxy)
      }), 20_000)

  // -------------------------------------------------------------------------------------------------------------
  // Before the response headers
  // -------------------------------------------------------------------------------------------------------------

  for (const mode of ["stream", "json"] as const) {
    const body = mode === "stream" ? streamBody() : jsonBody()

    fault(`${mode}: reset before headers → 529 overloaded_error`, (u) => u.enqueue((ctx) => ctx.reset()), body, (reply, u) => {
      expectAnthropicError(reply, 529, "overloaded_error")
      expect(u.requests).toHaveLength(1)
    })

    fault(`${mode}: connection closed (FIN) before headers → 529 overloaded_error`, (u) => u.enqueue((ctx) => ctx.end()), body, (reply) => {
      expectAnthropicError(reply, 529, "overloaded_error")
    })

    fault(`${mode}: no headers within the first-byte timeout → 504 timeout_error`, (u) => u.enqueue((ctx) => ctx.sleep(30_000)), body, (reply) => {
      expectAnthropicError(reply, 504, "timeout_error")
      expect(reply.elapsedMs).toBeLessThan(4_000)
    })

    const statuses: Array<[number, number, string]> = [
      [500, 500, "api_error"],
      [502, 529, "overloaded_error"],
      [503, 529, "overloaded_error"],
      [529, 529, "overloaded_error"],
      [504, 504, "timeout_error"],
      [408, 504, "timeout_error"]
    ]
    for (const [upstreamStatus, status, type] of statuses) {
      fault(`${mode}: upstream ${upstreamStatus} → ${status} ${type}`, (u) => u.enqueue(answerStatus(upstreamStatus)), body, (reply, u) => {
        const error = expectAnthropicError(reply, status, type)
        expect(error.error.message).toContain(`upstream says ${upstreamStatus}`)
        expect(u.requests).toHaveLength(1)
      })
    }

    fault(`${mode}: 429 with Retry-After in seconds → 429 rate_limit_error, retry-after passed on`, (u) => u.enqueue(answerStatus(429, { "retry-after": "3" })), body, (reply) => {
      expectAnthropicError(reply, 429, "rate_limit_error")
      expect(reply.headers["retry-after"]).toBe("3")
    })

    fault(
      `${mode}: 429 with Retry-After as an HTTP date → 429 rate_limit_error, retry-after usable by the client`,
      (u) => u.enqueue((ctx) => answerStatus(429, { "retry-after": new Date(Date.now() + 3_000).toUTCString() })(ctx)),
      body,
      (reply) => {
        expectAnthropicError(reply, 429, "rate_limit_error")
        const header = String(reply.headers["retry-after"])
        // Seconds or the date itself: either way it must say "in about 3 seconds", not nothing and not garbage.
        const waitMs = /^\d+$/.test(header) ? Number(header) * 1000 : Date.parse(header) - Date.now()
        expect(waitMs, `retry-after: ${header}`).toBeGreaterThan(0)
        expect(waitMs, `retry-after: ${header}`).toBeLessThanOrEqual(4_000)
      }
    )

    fault(`${mode}: HTML with status 200 → 500 api_error (not a stream)`, (u) =>
      u.enqueue(async (ctx) => {
        const html = "<!DOCTYPE html>\n<html><head><title>Login</title></head>\n<body>Please sign in</body></html>\n"
        await ctx.head(200, { "content-type": "text/html; charset=utf-8" }, { length: Buffer.byteLength(html) })
        await ctx.body(html)
        await ctx.end()
      }), body, (reply) => {
      expectAnthropicError(reply, 500, "api_error")
      // README: an upstream that does not speak Chat Completions is an error no retry can fix.
      expect(reply.headers["x-should-retry"]).toBe("false")
    })
  }

  // -------------------------------------------------------------------------------------------------------------
  // Non-streaming answers that break after the headers
  // -------------------------------------------------------------------------------------------------------------

  fault("json: reset in the middle of the body → 529 overloaded_error", (u) =>
    u.enqueue(async (ctx) => {
      await ctx.head(200, { "content-type": "application/json" }, { length: 500 })
      await ctx.body("{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"hal")
      await ctx.sleep(50)
      ctx.reset()
    }), jsonBody(), (reply) => {
    expectAnthropicError(reply, 529, "overloaded_error")
  })

  fault("json: body stalls after the headers → 504 timeout_error", (u) =>
    u.enqueue(async (ctx) => {
      await ctx.head(200, { "content-type": "application/json" }, { length: 500 })
      await ctx.body("{\"choices\":[")
      await ctx.sleep(30_000)
    }), jsonBody(), (reply) => {
    expectAnthropicError(reply, 504, "timeout_error")
    expect(reply.elapsedMs).toBeLessThan(4_000)
  })

  fault("json: a cut-off JSON completion that ends cleanly → 500 api_error", (u) =>
    u.enqueue(async (ctx) => {
      const text = "{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"hal"
      await ctx.head(200, { "content-type": "application/json" }, { length: Buffer.byteLength(text) })
      await ctx.body(text)
      await ctx.end()
    }), jsonBody(), (reply) => {
    expectAnthropicError(reply, 500, "api_error")
  })

  // -------------------------------------------------------------------------------------------------------------
  // Streams that break after the headers
  // -------------------------------------------------------------------------------------------------------------

  fault("stream: reset mid-stream → the stream ends with an error event, after the text so far", (u) =>
    u.enqueue(async (ctx) => {
      await ctx.head(200, SSE_HEADERS)
      await ctx.body(sseData(textChunk("Hello")) + sseData(textChunk(", wor")))
      await ctx.sleep(50)
      ctx.reset()
    }), streamBody(), (reply) => {
    const events = expectStreamEndingWith(reply, "error", "overloaded_error")
    expect(streamText(events)).toBe("Hello, wor")
  })

  fault("stream: a malformed chunk → the stream ends with an api_error event", (u) =>
    u.enqueue(async (ctx) => {
      await ctx.head(200, SSE_HEADERS)
      await ctx.body(sseData(textChunk("Hello")))
      await ctx.body("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"oops\"\n\n")
      await ctx.body(sseData(textChunk(" more")) + sseData(finishChunk()) + "data: [DONE]\n\n")
      await ctx.end()
    }), streamBody(), (reply) => {
    const events = expectStreamEndingWith(reply, "error", "api_error")
    expect(streamText(events)).toBe("Hello")
  })

  fault("stream: an error object mid-stream → an error event of the mapped type", (u) =>
    u.enqueue(async (ctx) => {
      await ctx.head(200, SSE_HEADERS)
      await ctx.body(sseData(textChunk("Hel")))
      await ctx.body(sseData({ error: { message: "The server is overloaded", type: "server_error", code: 503 } }))
      await ctx.sleep(30_000)
    }), streamBody(), (reply) => {
    expectStreamEndingWith(reply, "error", "overloaded_error")
  })

  fault("stream: silent past the idle timeout → timeout_error event, with pings before it", (u) =>
    u.enqueue(async (ctx) => {
      await ctx.head(200, SSE_HEADERS)
      await ctx.body(sseData(textChunk("thinking…")))
      await ctx.sleep(30_000)
    }), streamBody(), (reply) => {
    const events = expectStreamEndingWith(reply, "error", "timeout_error")
    expect(reply.elapsedMs).toBeLessThan(4_000)
    expect(events.some((e) => e.event === "ping")).toBe(true)
  })

  fault("stream: SSE headers, then silence from the start → timeout_error event", (u) =>
    u.enqueue(async (ctx) => {
      await ctx.head(200, SSE_HEADERS)
      await ctx.sleep(30_000)
    }), streamBody(), (reply) => {
    expectStreamEndingWith(reply, "error", "timeout_error")
    expect(reply.elapsedMs).toBeLessThan(4_000)
  })

  fault("stream: ends without [DONE] but after finish_reason → message_stop", (u) =>
    u.enqueue(async (ctx) => {
      await ctx.head(200, SSE_HEADERS)
      await ctx.body(sseData(textChunk("All done.")) + sseData(finishChunk()) + sseData(usageChunk))
      await ctx.end()
    }), streamBody(), (reply) => {
    const events = expectStreamEndingWith(reply, "message_stop")
    expect(streamText(events)).toBe("All done.")
    expect(events.find((e) => e.event === "message_delta")?.data.delta.stop_reason).toBe("end_turn")
  })

  fault("stream: ends without [DONE] and without finish_reason → an error event (the answer is incomplete)", (u) =>
    u.enqueue(async (ctx) => {
      await ctx.head(200, SSE_HEADERS)
      await ctx.body(sseData(textChunk("Half an ans")))
      await ctx.end()
    }), streamBody(), (reply) => {
    expectStreamEndingWith(reply, "error", "api_error")
  })

  fault("stream: [DONE] without any finish_reason → an error event", (u) =>
    u.enqueue(async (ctx) => {
      await ctx.head(200, SSE_HEADERS)
      await ctx.body(sseData(textChunk("Half")) + "data: [DONE]\n\n")
      await ctx.end()
    }), streamBody(), (reply) => {
    expectStreamEndingWith(reply, "error", "api_error")
  })

  fault("stream: finish_reason, then a reset before [DONE] → message_stop (the answer was whole)", (u) =>
    u.enqueue(async (ctx) => {
      await ctx.head(200, SSE_HEADERS)
      await ctx.body(sseData(textChunk("Whole answer.")) + sseData(finishChunk()))
      await ctx.sleep(50)
      ctx.reset()
    }), streamBody(), (reply) => {
    const events = expectStreamEndingWith(reply, "message_stop")
    expect(streamText(events)).toBe("Whole answer.")
  })

  fault("stream: [DONE], then the upstream keeps the connection open → message_stop, upstream closed soon after", (u) =>
    u.enqueue(async (ctx) => {
      await ctx.head(200, SSE_HEADERS)
      await ctx.body(sseData(textChunk("Done.")) + sseData(finishChunk()) + "data: [DONE]\n\n")
      await ctx.sleep(30_000)
    }), streamBody(), (reply) => {
    expectStreamEndingWith(reply, "message_stop")
    expect(reply.elapsedMs).toBeLessThan(2_000)
  })

  fault("stream: one 2 MB chunk in a single write → delivered whole, message_stop", (u) =>
    u.enqueue(async (ctx) => {
      await ctx.head(200, SSE_HEADERS)
      await ctx.body(sseData(textChunk("é".repeat(TWO_MB / 2))) + sseData(finishChunk()) + "data: [DONE]\n\n")
      await ctx.end()
    }), streamBody(), (reply) => {
    const events = expectStreamEndingWith(reply, "message_stop")
    expect(streamText(events)).toBe("é".repeat(TWO_MB / 2))
  })

  fault("stream: one byte per write (multi-byte characters split) → the same text, message_stop", (u) =>
    u.enqueue(async (ctx) => {
      await ctx.head(200, SSE_HEADERS, "close")
      const bytes = Buffer.from(
        ": keep-alive\n\n" + sseData(textChunk("Grüße, 世界 😀!")) + sseData(textChunk(" ok")) + sseData(finishChunk()) +
          "data: [DONE]\n\n"
      )
      for (const byte of bytes) if (!(await ctx.write(Buffer.from([byte])))) return
      await ctx.end()
    }), streamBody(), (reply) => {
    const events = expectStreamEndingWith(reply, "message_stop")
    expect(streamText(events)).toBe("Grüße, 世界 😀! ok")
  })

  fault("stream: chunked HTML with status 200 → 500 api_error", (u) =>
    u.enqueue(async (ctx) => {
      await ctx.head(200, { "content-type": "text/html" }, "chunked")
      await ctx.body("<html><body>\n<h1>502 Bad Gateway</h1>\n</body></html>\n")
      await ctx.end()
    }), streamBody(), (reply) => {
    expectAnthropicError(reply, 500, "api_error")
    expect(reply.headers["x-should-retry"]).toBe("false")
  })
})
