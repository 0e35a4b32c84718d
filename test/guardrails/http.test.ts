/** The structural limits and the secret guard through the real HTTP edge. */
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { Harness, harness } from "../support/harness.ts"
import { jsonCassette } from "../support/scripted-upstream.ts"

const post = (url: string, body: string) =>
  Effect.promise(async () => {
    const response = await fetch(url, { method: "POST", body, headers: { "content-type": "application/json" } })
    return { status: response.status, body: await response.text() }
  })

const deep = (levels: number) => "[".repeat(levels) + "]".repeat(levels)
const ok = jsonCassette({ choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }] })
// Assembled at run time so no whole token sits in the source.
const githubToken = ["ghp", "_", "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"].join("")

layer(harness({ SECRET_GUARD: "redact" }), { excludeTestServices: true })("guardrails over HTTP", (it) => {
  it.effect("a tool input or tool schema nested 10,000 levels deep is a 400 naming the limit, on both routes", () =>
    Effect.gen(function*() {
      const { url } = yield* Harness
      const input = `{"model":"claude-sonnet-4-6","max_tokens":10,"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"x","input":{"a":${deep(10_000)}}}]}]}`
      const schema = `{"model":"claude-sonnet-4-6","max_tokens":10,"messages":[{"role":"user","content":"hi"}],"tools":[{"name":"x","input_schema":{"type":"object","properties":${deep(10_000)}}}]}`
      for (const body of [input, schema]) {
        for (const route of ["/v1/messages", "/v1/messages/count_tokens"]) {
          const res = yield* post(`${url}${route}`, body)
          expect(res.status).toBe(400)
          const error = JSON.parse(res.body).error
          expect(error.type).toBe("invalid_request_error")
          expect(error.message).toContain("MAX_JSON_DEPTH")
        }
      }
    }))

  it.effect("SECRET_GUARD=redact: the upstream never sees the token, the client still gets its answer", () =>
    Effect.gen(function*() {
      const { url, upstream } = yield* Harness
      upstream.reset()
      upstream.enqueue(ok)
      const res = yield* post(`${url}/v1/messages`, JSON.stringify({
        model: "claude-sonnet-4-6",
        max_tokens: 10,
        messages: [{ role: "user", content: `deploy with ${githubToken} please` }]
      }))
      expect(res.status).toBe(200)
      const sent = JSON.stringify(upstream.requests[0]!.body)
      expect(sent).not.toContain(githubToken)
      expect(sent).toContain("[REDACTED:github_token]")
    }))
})
