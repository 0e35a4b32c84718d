/**
 * The HTTP surface with plain fetch: routes, error shapes, limits, request ids, disconnects, and user stages.
 */
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { InvalidRequest } from "../../src/errors.ts"
import { mapEvents, mapRequest } from "../../src/pipeline/stage.ts"
import { sseCassette } from "../../src/upstream/cassette.ts"
import { Harness, harness } from "../support/harness.ts"
import { jsonCassette } from "../support/scripted-upstream.ts"

const post = (url: string, body: string, headers: Record<string, string> = {}) =>
  Effect.promise(async () => {
    const response = await fetch(url, { method: "POST", body, headers: { "content-type": "application/json", ...headers } })
    return { status: response.status, headers: response.headers, body: await response.text() }
  })

const get = (url: string, method = "GET") =>
  Effect.promise(async () => {
    const response = await fetch(url, { method })
    return { status: response.status, headers: response.headers, body: await response.text() }
  })

const errorOf = (body: string) => JSON.parse(body) as { type: string; error: { type: string; message: string }; request_id: string }

const textChunk = (content: string) => ({ choices: [{ index: 0, delta: { content }, finish_reason: null }] })
const finishChunk = { choices: [{ index: 0, delta: {}, finish_reason: "stop" }] }
const minimal = JSON.stringify({ model: "claude-sonnet-4-6", max_tokens: 10, messages: [{ role: "user", content: "hi" }] })

/** Parses an SSE body into its events. */
const sseEvents = (text: string) =>
  text.split("\n\n").filter(Boolean).map((block) => {
    const lines = block.split("\n")
    const event = lines.find((l) => l.startsWith("event: "))?.slice(7)
    const data = lines.find((l) => l.startsWith("data: "))?.slice(6)
    return { event, data: data ? JSON.parse(data) : undefined }
  })

layer(harness({ UPSTREAM_MAX_RETRIES: "0" }), { excludeTestServices: true })("HTTP surface", (it) => {
  it.effect("GET / is the health check, with a request-id", () =>
    Effect.gen(function*() {
      const { url } = yield* Harness
      const res = yield* get(`${url}/`)
      expect(res.status).toBe(200)
      expect(JSON.parse(res.body)).toMatchObject({ status: "ok" })
      expect(res.headers.get("request-id")).toMatch(/^req_[0-9A-Za-z]{24}$/)
    }))

  it.effect("unknown routes → Anthropic 404; wrong method → 405 with Allow", () =>
    Effect.gen(function*() {
      const { url } = yield* Harness
      const missing = yield* get(`${url}/v1/complete`)
      expect(missing.status).toBe(404)
      expect(errorOf(missing.body)).toMatchObject({ type: "error", error: { type: "not_found_error" } })
      expect(errorOf(missing.body).request_id).toBe(missing.headers.get("request-id"))
      const wrongMethod = yield* get(`${url}/v1/messages`)
      expect(wrongMethod.status).toBe(405)
      expect(wrongMethod.headers.get("allow")).toBe("POST")
      expect(errorOf(wrongMethod.body).error.type).toBe("invalid_request_error")
    }))

  it.effect("a body a browser could send without asking (text/plain, a form) is refused; JSON types and none are fine", () =>
    Effect.gen(function*() {
      const { url, upstream } = yield* Harness
      upstream.reset()
      for (const type of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]) {
        const res = yield* post(`${url}/v1/messages`, minimal, { "content-type": type })
        expect(res.status).toBe(400)
        expect(errorOf(res.body).error.message).toContain("content-type must be application/json")
      }
      expect(upstream.requests.length).toBe(0)
      const counted = yield* post(`${url}/v1/messages/count_tokens`, minimal, { "content-type": "application/json; charset=utf-8" })
      expect(counted.status).toBe(200)
    }))

  it.effect("invalid JSON → 400 naming the position; non-object and empty bodies too", () =>
    Effect.gen(function*() {
      const { url } = yield* Harness
      const bad = yield* post(`${url}/v1/messages?beta=true`, "{\"model\": \"x\",}")
      expect(bad.status).toBe(400)
      expect(errorOf(bad.body).error.message).toMatch(/Invalid JSON.*position \d+/)
      const array = yield* post(`${url}/v1/messages`, "[1,2]")
      expect(errorOf(array.body).error.message).toBe("Request body must be a JSON object")
      const empty = yield* post(`${url}/v1/messages`, "")
      expect(empty.status).toBe(400)
      const missing = yield* post(`${url}/v1/messages`, JSON.stringify({ model: "x", messages: [] }))
      expect(errorOf(missing.body).error.message).toMatch(/^max_tokens: /)
      const noMessages = yield* post(`${url}/v1/messages`, JSON.stringify({ model: "x", max_tokens: 5, messages: [] }))
      expect(errorOf(noMessages.body).error.message).toMatch(/^messages: /)
    }))

  it.effect("bodies over 32 MB → 413 request_too_large", () =>
    Effect.gen(function*() {
      const { url, upstream } = yield* Harness
      upstream.reset()
      const huge = JSON.stringify({
        model: "claude-sonnet-4-6",
        max_tokens: 10,
        messages: [{ role: "user", content: "x".repeat(33 * 1024 * 1024) }]
      })
      const res = yield* post(`${url}/v1/messages`, huge)
      expect(res.status).toBe(413)
      expect(errorOf(res.body).error.type).toBe("request_too_large")
      expect(upstream.requests).toHaveLength(0)
    }))

  it.effect("GET /v1/models lists Claude ids in Anthropic's page shape", () =>
    Effect.gen(function*() {
      const { url } = yield* Harness
      const res = yield* get(`${url}/v1/models?limit=2`)
      const page = JSON.parse(res.body)
      expect(page.data).toHaveLength(2)
      expect(page.data[0]).toMatchObject({ type: "model", id: expect.stringMatching(/^claude-/) })
      expect(page.has_more).toBe(true)
      expect(page.first_id).toBe(page.data[0].id)
      const next = JSON.parse((yield* get(`${url}/v1/models?after_id=${page.last_id}`)).body)
      expect(next.data[0].id).not.toBe(page.data[1].id)
      const one = yield* get(`${url}/v1/models/${page.data[0].id}`)
      expect(JSON.parse(one.body).id).toBe(page.data[0].id)
    }))

  it.effect("a slow upstream gets pings; SSE events carry event: lines", () =>
    Effect.gen(function*() {
      const { url, upstream } = yield* Harness
      upstream.reset()
      upstream.enqueue({
        ...sseCassette("slow", [textChunk("a"), textChunk("b"), finishChunk]),
        response: {
          status: 200,
          headers: { "content-type": "text/event-stream" },
          chunks: [
            { delayMs: 700, text: `data: ${JSON.stringify(textChunk("slow"))}\n\n` },
            { text: `data: ${JSON.stringify(finishChunk)}\n\ndata: [DONE]\n\n` }
          ]
        }
      })
      const res = yield* post(`${url}/v1/messages`, JSON.stringify({ ...JSON.parse(minimal), stream: true }))
      expect(res.headers.get("content-type")).toContain("text/event-stream")
      const events = sseEvents(res.body)
      expect(events.every((e) => e.event === e.data?.type)).toBe(true)
      expect(events[0]?.event).toBe("message_start")
      expect(events.filter((e) => e.event === "ping").length).toBeGreaterThanOrEqual(2)
      expect(events.at(-1)?.event).toBe("message_stop")
    }))

  it.effect("a client that disconnects mid-stream aborts the upstream request", () =>
    Effect.gen(function*() {
      const { url, upstream } = yield* Harness
      upstream.reset()
      upstream.enqueue({
        name: "endless",
        response: {
          status: 200,
          headers: { "content-type": "text/event-stream" },
          chunks: Array.from({ length: 50 }, () => ({ delayMs: 100, text: `data: ${JSON.stringify(textChunk("."))}\n\n` }))
        }
      })
      yield* Effect.promise(async () => {
        const controller = new AbortController()
        const response = await fetch(`${url}/v1/messages`, {
          method: "POST",
          body: JSON.stringify({ ...JSON.parse(minimal), stream: true }),
          headers: { "content-type": "application/json" },
          signal: controller.signal
        })
        const reader = response.body!.getReader()
        await reader.read()
        controller.abort()
      }).pipe(Effect.ignore)
      yield* Effect.promise(async () => {
        for (let i = 0; i < 50 && upstream.aborted() === 0; i++) await new Promise((r) => setTimeout(r, 50))
      })
      expect(upstream.aborted()).toBe(1)
      const { logs } = yield* Harness
      yield* Effect.promise(async () => {
        for (let i = 0; i < 50 && !logs.some((l) => l.msg === "request" && l.status === 499); i++) {
          await new Promise((r) => setTimeout(r, 20))
        }
      })
      expect(logs.filter((l) => l.msg === "request").at(-1)).toMatchObject({ status: 499, error: "stream interrupted", stream: true })
    }))

  it.effect("a client that hangs up before the upstream answers aborts the upstream request too", () =>
    Effect.gen(function*() {
      const { url, upstream } = yield* Harness
      upstream.reset()
      upstream.enqueue({ ...jsonCassette({}), response: { status: 200, chunks: [{ delayMs: 10_000, text: "{}" }] } })
      yield* Effect.promise(async () => {
        const controller = new AbortController()
        const pending = fetch(`${url}/v1/messages`, {
          method: "POST",
          body: minimal,
          headers: { "content-type": "application/json" },
          signal: controller.signal
        }).catch(() => undefined)
        for (let i = 0; i < 50 && upstream.requests.length === 0; i++) await new Promise((r) => setTimeout(r, 20))
        controller.abort()
        await pending
      })
      yield* Effect.promise(async () => {
        for (let i = 0; i < 100 && upstream.aborted() === 0; i++) await new Promise((r) => setTimeout(r, 20))
      })
      expect(upstream.aborted()).toBe(1)
    }))

  it.effect("a bad escape in a model id is a 404, not a crash", () =>
    Effect.gen(function*() {
      const { url } = yield* Harness
      const res = yield* get(`${url}/v1/models/%E0%A4%A`)
      expect(res.status).toBe(404)
      expect(errorOf(res.body).error.type).toBe("not_found_error")
    }))

  it.effect("one structured log line per request", () =>
    Effect.gen(function*() {
      const { url, upstream, logs } = yield* Harness
      upstream.reset()
      upstream.enqueue(jsonCassette({
        choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }],
        usage: { prompt_tokens: 11, completion_tokens: 2 }
      }))
      const res = yield* post(`${url}/v1/messages`, minimal)
      const id = res.headers.get("request-id")
      const lines = logs.filter((l) => l.msg === "request" && l.request_id === id)
      expect(lines).toHaveLength(1)
      expect(lines[0]).toMatchObject({
        client_model: "claude-sonnet-4-6",
        upstream_model: "gpt-4.1",
        status: 200,
        input_tokens: 11,
        output_tokens: 2,
        duration_ms: expect.any(Number),
        ttft_ms: expect.any(Number),
        retries: 0,
        cost_usd: null
      })
    }))

  it.effect("a stream's log line is written when it ends, with the usage it reported", () =>
    Effect.gen(function*() {
      const { url, upstream, logs } = yield* Harness
      upstream.reset()
      upstream.enqueue(sseCassette("s", [textChunk("hi"), finishChunk, { choices: [], usage: { prompt_tokens: 21, completion_tokens: 4 } }]))
      const res = yield* post(`${url}/v1/messages`, JSON.stringify({ ...JSON.parse(minimal), stream: true }))
      const lines = logs.filter((l) => l.msg === "request" && l.request_id === res.headers.get("request-id"))
      expect(lines).toHaveLength(1)
      expect(lines[0]).toMatchObject({ status: 200, stream: true, input_tokens: 21, output_tokens: 4, stop_reason: "end_turn", retries: 0 })
      expect(lines[0]!.ttft_ms).toBeGreaterThanOrEqual(0)
      expect(lines[0]!.ttft_ms).toBeLessThanOrEqual(lines[0]!.duration_ms as number)
    }))
})

describe("user stages through the public API", () => {
  const counted: Array<number> = []
  const stages = [
    {
      stage: mapRequest("house-style", (request) => ({
        ...request,
        body: { ...request.body, system: `${typeof request.body.system === "string" ? request.body.system : ""}\nAlways answer in French.`.trim() }
      })),
      after: "routing"
    },
    {
      stage: mapEvents("fails-on-request", (events, request) =>
        JSON.stringify(request.body.messages).includes("FAIL-STREAM")
          ? Stream.concat(Stream.take(events, 1), Stream.fail(new InvalidRequest({ message: "stage refused" })))
          : events)
    },
    {
      stage: mapEvents("event-counter", (events) => {
        let n = 0
        return events.pipe(
          Stream.tap(() => Effect.sync(() => n++)),
          Stream.ensuring(Effect.sync(() => counted.push(n)))
        )
      })
    }
  ]

  layer(harness({}, { stages }), { excludeTestServices: true })("stages", (it) => {
    it.effect("a request stage edits the system prompt and a stream stage counts events", () =>
      Effect.gen(function*() {
        const { url, upstream } = yield* Harness
        upstream.enqueue(sseCassette("s", [textChunk("Bonjour"), finishChunk]))
        const res = yield* post(`${url}/v1/messages`, JSON.stringify({ ...JSON.parse(minimal), stream: true }))
        const events = sseEvents(res.body)
        expect(upstream.requests[0]!.body.messages[0]).toEqual({ role: "system", content: "Always answer in French." })
        expect(counted).toEqual([events.length])
      }))

    it.effect("a stream stage that fails mid-stream ends the stream with an error event", () =>
      Effect.gen(function*() {
        const { url, upstream } = yield* Harness
        upstream.enqueue(sseCassette("s", [textChunk("Bonjour"), finishChunk]))
        const body = JSON.parse(minimal)
        body.messages[0].content = "FAIL-STREAM"
        const res = yield* post(`${url}/v1/messages`, JSON.stringify({ ...body, stream: true }))
        const events = sseEvents(res.body)
        expect(events.map((e) => e.event)).toEqual(["message_start", "error"])
        expect(events[1]?.data).toEqual({ type: "error", error: { type: "invalid_request_error", message: "stage refused" } })
      }))
  })
})
