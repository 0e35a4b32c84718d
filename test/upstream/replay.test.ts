/**
 * The upstream protocol code (retries, timeouts, broken connections) driven by the Replay client: the proxy runs
 * for real on a loopback port, only the upstream's HTTP is replayed in-process from cassettes.
 */
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import type { Cassette } from "../../src/upstream/cassette.ts"
import { sseCassette } from "../../src/upstream/cassette.ts"
import { layerReplay, type ReplayedRequest } from "../../src/upstream/replay.ts"
import { Harness, harness } from "../support/harness.ts"
import { jsonCassette } from "../support/scripted-upstream.ts"

const ok = jsonCassette({ choices: [{ index: 0, message: { role: "assistant", content: "fine" }, finish_reason: "stop" }] })
const refused: Cassette = { name: "refused", response: { status: 0, chunks: [] } }
const failing = (status: number, headers: Record<string, string> = {}) =>
  jsonCassette({ error: { message: `status ${status}` } }, status, headers)

/** Scripts keyed by the user's prompt, so each test gets its own sequence. */
const scripts: Record<string, Array<Cassette>> = {
  "retry-503": [failing(503), ok],
  "retry-after": [failing(429, { "retry-after": "1" }), ok],
  "long-retry-after": [failing(429, { "retry-after": "120" }), ok],
  "refused": [refused, refused, refused],
  "bad-request": [failing(400), ok],
  "slow-headers": [{ name: "slow", response: { status: 200, chunks: [{ delayMs: 3000, text: "{}" }] } }],
  "idle": [{
    name: "idle",
    response: {
      status: 200,
      headers: { "content-type": "text/event-stream" },
      chunks: [
        { text: `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: "hel" } }] })}\n\n` },
        { delayMs: 3000, text: `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: "lo" } }] })}\n\n` }
      ]
    }
  }],
  "not-json": [{ name: "html", response: { status: 200, headers: { "content-type": "text/html" }, chunks: [{ text: "<html>oops</html>" }] } }],
  "json-on-stream": [jsonCassette({
    id: "c1",
    choices: [{ index: 0, message: { role: "assistant", content: "whole answer" }, finish_reason: "stop" }],
    usage: { prompt_tokens: 12, completion_tokens: 3 }
  })],
  "json-error-on-stream": Array.from({ length: 3 }, () => jsonCassette({ error: { message: "model overloaded", code: 503 } })),
  "redirect": [{ name: "307", response: { status: 307, headers: { location: "https://elsewhere/v1/chat/completions" }, chunks: [] } }],
  "stream-ok": [sseCassette("ok", [{ choices: [{ index: 0, delta: { content: "streamed" } }] }, { choices: [{ index: 0, delta: {}, finish_reason: "stop" }] }])]
}
const seen: Array<ReplayedRequest> = []
const promptOf = (request: ReplayedRequest) => {
  const messages = (request.body as { messages: Array<{ role: string; content: string }> }).messages
  return messages.at(-1)!.content
}
const counts = new Map<string, number>()
const script = (request: ReplayedRequest) => {
  const prompt = promptOf(request)
  const n = counts.get(prompt) ?? 0
  counts.set(prompt, n + 1)
  const cassette = scripts[prompt]?.[n]
  if (!cassette) throw new Error(`no cassette for ${prompt} #${n}`)
  return cassette
}
const attempts = (prompt: string) => seen.filter((r) => promptOf(r) === prompt).length

const ask = (url: string, prompt: string, stream = false) =>
  Effect.promise(async () => {
    const started = Date.now()
    const response = await fetch(`${url}/v1/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "claude-sonnet-4-6", max_tokens: 50, stream, messages: [{ role: "user", content: prompt }] })
    })
    const text = await response.text()
    return { status: response.status, headers: response.headers, text, ms: Date.now() - started }
  })

layer(
  harness(
    { UPSTREAM_MAX_RETRIES: "2", UPSTREAM_FIRST_BYTE_TIMEOUT: "500 millis", UPSTREAM_IDLE_TIMEOUT: "500 millis", PING_INTERVAL: "5 seconds" },
    { upstream: layerReplay(script, seen) }
  ),
  { excludeTestServices: true }
)("resilient upstream call", (it) => {
  it.effect("a 503 is retried and the client sees only the success", () =>
    Effect.gen(function*() {
      const { url, logs } = yield* Harness
      const res = yield* ask(url, "retry-503")
      expect(res.status).toBe(200)
      expect(JSON.parse(res.text).content[0].text).toBe("fine")
      expect(attempts("retry-503")).toBe(2)
      const line = logs.find((l) => l.msg === "request" && l.request_id === res.headers.get("request-id"))
      expect(line?.retries).toBe(1)
    }))

  it.effect("a 429 waits for a short Retry-After before retrying", () =>
    Effect.gen(function*() {
      const { url } = yield* Harness
      const res = yield* ask(url, "retry-after")
      expect(res.status).toBe(200)
      expect(res.ms).toBeGreaterThanOrEqual(950)
    }))

  it.effect("client errors are not retried", () =>
    Effect.gen(function*() {
      const { url } = yield* Harness
      const res = yield* ask(url, "bad-request")
      expect(res.status).toBe(400)
      expect(attempts("bad-request")).toBe(1)
    }))

  it.effect("an unreachable upstream → 529 overloaded_error after the retries", () =>
    Effect.gen(function*() {
      const { url } = yield* Harness
      const res = yield* ask(url, "refused")
      expect(res.status).toBe(529)
      expect(JSON.parse(res.text).error).toMatchObject({ type: "overloaded_error", message: expect.stringContaining("connection refused") })
      expect(attempts("refused")).toBe(3)
    }))

  it.effect("no answer within the first-byte timeout → 504 timeout_error", () =>
    Effect.gen(function*() {
      const { url } = yield* Harness
      const res = yield* ask(url, "slow-headers")
      expect(res.status).toBe(504)
      expect(JSON.parse(res.text).error.type).toBe("timeout_error")
    }))

  it.effect("silence mid-stream beyond the idle timeout → an error event, and the stream ends", () =>
    Effect.gen(function*() {
      const { url } = yield* Harness
      const res = yield* ask(url, "idle", true)
      expect(res.status).toBe(200)
      expect(res.text).toContain("event: error")
      expect(res.text).toContain("timeout_error")
      expect(res.ms).toBeLessThan(2500)
    }))

  it.effect("a non-JSON answer → 500 api_error naming the problem", () =>
    Effect.gen(function*() {
      const { url } = yield* Harness
      const res = yield* ask(url, "not-json")
      expect(res.status).toBe(500)
      expect(JSON.parse(res.text).error.message).toContain("expected a JSON completion")
    }))

  it.effect("a JSON completion answering a stream request is streamed all the same", () =>
    Effect.gen(function*() {
      const { url } = yield* Harness
      const res = yield* ask(url, "json-on-stream", true)
      expect(res.status).toBe(200)
      expect(res.text).toContain("\"text\":\"whole answer\"")
      expect(res.text).toContain("\"output_tokens\":3")
    }))

  it.effect("a JSON error answering a stream request becomes a real HTTP error before any event", () =>
    Effect.gen(function*() {
      const { url } = yield* Harness
      const res = yield* ask(url, "json-error-on-stream", true)
      expect(res.status).toBe(529)
      expect(JSON.parse(res.text).error).toEqual({ type: "overloaded_error", message: "model overloaded" })
      expect(attempts("json-error-on-stream")).toBe(3)
    }))

  it.effect("a redirect is reported as a configuration problem", () =>
    Effect.gen(function*() {
      const { url } = yield* Harness
      const res = yield* ask(url, "redirect")
      expect(res.status).toBe(500)
      expect(JSON.parse(res.text).error.message).toContain("check OPENAI_BASE_URL")
    }))

  it.effect("a replayed stream converts like a live one", () =>
    Effect.gen(function*() {
      const { url } = yield* Harness
      const res = yield* ask(url, "stream-ok", true)
      expect(res.text).toContain("\"text\":\"streamed\"")
      expect(res.text.trim().endsWith("data: {\"type\":\"message_stop\"}")).toBe(true)
    }))
})

// A 429's Retry-After is a cool-down for the whole upstream, so this case gets a proxy of its own.
layer(
  harness({ UPSTREAM_MAX_RETRIES: "2", QUEUE_TIMEOUT: "1 second" }, { upstream: layerReplay(script, seen) }),
  { excludeTestServices: true }
)("a long Retry-After", (it) => {
  it.effect("goes straight back to the client, with the header; requests during the cool-down never reach the upstream", () =>
    Effect.gen(function*() {
      const { url } = yield* Harness
      const res = yield* ask(url, "long-retry-after")
      expect(res.status).toBe(429)
      expect(res.headers.get("retry-after")).toBe("120")
      expect(attempts("long-retry-after")).toBe(1)
      const before = attempts("stream-ok")
      const during = yield* ask(url, "stream-ok")
      expect(during.status).toBe(429)
      expect(JSON.parse(during.text).error.type).toBe("rate_limit_error")
      expect(Number(during.headers.get("retry-after"))).toBeGreaterThan(100)
      expect(attempts("stream-ok")).toBe(before)
    }))
})
