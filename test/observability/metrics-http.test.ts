/** The metrics routes of a running proxy: a request made through it shows up in /metrics and /v1/metrics. */
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { sseCassette } from "../../src/upstream/cassette.ts"
import { Harness, harness } from "../support/harness.ts"
import { jsonCassette } from "../support/scripted-upstream.ts"

const message = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ model: "claude-sonnet-4-6", max_tokens: 10, messages: [{ role: "user", content: "hi" }], ...extra })

const call = (url: string, path: string, method = "GET", body?: string) =>
  Effect.promise(async () => {
    const response = await fetch(`${url}${path}`, { method, headers: { "content-type": "application/json" }, ...(body ? { body } : {}) })
    return { status: response.status, headers: response.headers, body: await response.text() }
  })

layer(harness(), { excludeTestServices: true })("metrics over HTTP", (it) => {
  it.effect("a JSON and a streamed request are counted, with tokens, TTFT and the recent list", () =>
    Effect.gen(function*() {
      const { url, upstream } = yield* Harness
      upstream.enqueue(
        jsonCassette({
          choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }],
          usage: { prompt_tokens: 100, completion_tokens: 10 }
        }),
        sseCassette("s", [
          { choices: [{ index: 0, delta: { content: "hi" }, finish_reason: null }] },
          { choices: [{ index: 0, delta: {}, finish_reason: "stop" }] },
          { choices: [], usage: { prompt_tokens: 50, completion_tokens: 5 } }
        ])
      )
      const first = yield* call(url, "/v1/messages", "POST", message())
      const second = yield* call(url, "/v1/messages", "POST", message({ stream: true }))
      expect(first.status).toBe(200)
      expect(second.body).toContain("message_stop")
      yield* Effect.sleep("50 millis")

      const summary = JSON.parse((yield* call(url, "/v1/metrics")).body)
      expect(summary.requests.total).toBeGreaterThanOrEqual(2)
      expect(summary.recent[0].id).toBe(second.headers.get("request-id"))
      expect(summary.recent[1].id).toBe(first.headers.get("request-id"))
      expect(summary.recent[0]).toMatchObject({ stream: true, status: 200, input_tokens: 50, output_tokens: 5 })
      const model = summary.by_model.find((m: { upstream_model: string }) => m.upstream_model === "gpt-4.1")
      expect(model.input_tokens).toBeGreaterThanOrEqual(150)
      expect(summary.ttft_ms.p50).not.toBeNull()
      expect(summary.upstreams[0]).toMatchObject({ circuit: "closed", in_flight: 0 })

      const text = (yield* call(url, "/metrics")).body
      expect(text).toMatch(/ccproxy_requests_total\{[^}]*status="200"[^}]*\} \d+/)
      expect(text).toMatch(/ccproxy_tokens_total\{[^}]*kind="input"[^}]*model="gpt-4\.1"[^}]*\} \d+/)
      expect(text).toContain("ccproxy_time_to_first_token_ms_bucket")
      expect(text).toMatch(/ccproxy_open_streams(\{[^}]*\})? 0/)
      expect(text).toContain("ccproxy_upstream_attempt_duration_ms_bucket")

      expect((yield* call(url, "/v1/metrics/reset", "POST")).status).toBe(200)
      expect(JSON.parse((yield* call(url, "/v1/metrics")).body).requests.total).toBe(0)
    }))
})
