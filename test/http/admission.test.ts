/** Client keys and the per-client rate limit through the real edge. */
import { expect, layer } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { fingerprint } from "../../src/http/auth.ts"
import { Harness, harness } from "../support/harness.ts"
import { jsonCassette } from "../support/scripted-upstream.ts"

const KEY = "ccp-client-key-0123456789"
const message = JSON.stringify({ model: "claude-sonnet-4-6", max_tokens: 10, messages: [{ role: "user", content: "hi" }] })
const ok = () => jsonCassette({ choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }] })

const call = (url: string, path: string, headers: Record<string, string> = {}, method = "POST") =>
  Effect.promise(async () => {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: { "content-type": "application/json", ...headers },
      ...(method === "POST" ? { body: message } : {})
    })
    return { status: response.status, headers: response.headers, body: await response.text() }
  })

layer(harness({ PROXY_API_KEYS: `other-key-abcdef, ${KEY}`, RATE_LIMIT_PER_MINUTE: "60", RATE_LIMIT_BURST: "3" }), {
  excludeTestServices: true
})("PROXY_API_KEYS and RATE_LIMIT_*", (it) => {
  it.effect("every route but GET / and /health needs a key; x-api-key and Bearer both work", () =>
    Effect.gen(function*() {
      const { url, upstream } = yield* Harness
      upstream.reset()
      expect((yield* call(url, "/health", {}, "GET")).status).toBe(200)
      expect((yield* call(url, "/", {}, "GET")).status).toBe(200)
      for (const [path, method] of [["/v1/messages", "POST"], ["/v1/messages/count_tokens", "POST"], ["/v1/models", "GET"]] as const) {
        const missing = yield* call(url, path, {}, method)
        expect(missing.status).toBe(401)
        expect(JSON.parse(missing.body)).toMatchObject({ type: "error", error: { type: "authentication_error" } })
        expect(missing.headers.get("x-should-retry")).toBe("false")
        const wrong = yield* call(url, path, { "x-api-key": "nope" }, method)
        expect(wrong.status).toBe(401)
        expect(wrong.body).not.toContain("nope")
      }
      expect(upstream.requests.length).toBe(0)
      upstream.enqueue(ok(), ok())
      expect((yield* call(url, "/v1/messages", { "x-api-key": KEY })).status).toBe(200)
      expect((yield* call(url, "/v1/messages", { authorization: `Bearer ${KEY}` })).status).toBe(200)
    }))

  it.effect("the log names the key by its fingerprint, never the key", () =>
    Effect.gen(function*() {
      const { url, upstream, logs } = yield* Harness
      upstream.enqueue(ok())
      const res = yield* call(url, "/v1/messages", { "x-api-key": "other-key-abcdef" })
      const line = logs.find((l) => l.msg === "request" && l.request_id === res.headers.get("request-id"))
      expect(line?.client_key).toBe(fingerprint(Redacted.make("other-key-abcdef")))
      expect(JSON.stringify(logs)).not.toContain(KEY)
      expect(JSON.stringify(logs)).not.toContain("other-key-abcdef")
    }))

  it.effect("past the burst, a client gets 429 rate_limit_error with retry-after; another key is not affected", () =>
    Effect.gen(function*() {
      const { url, upstream } = yield* Harness
      upstream.reset()
      const statuses: Array<number> = []
      let limited: { headers: Headers; body: string } | undefined
      for (let i = 0; i < 6; i++) {
        upstream.enqueue(ok())
        const res = yield* call(url, "/v1/models", { "x-api-key": KEY }, "GET")
        statuses.push(res.status)
        if (res.status === 429) limited = res
      }
      expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0)
      expect(JSON.parse(limited!.body).error.type).toBe("rate_limit_error")
      expect(Number(limited!.headers.get("retry-after"))).toBeGreaterThanOrEqual(1)
      expect((yield* call(url, "/v1/models", { "x-api-key": "other-key-abcdef" }, "GET")).status).toBe(200)
    }))
})
