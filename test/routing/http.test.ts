/**
 * Routing through HTTP, with a config file and one scripted upstream per provider: each route of the table sends
 * the request to its provider and model; `provider,model` bypasses the table; a fallback chain moves on when its
 * target fails before anything reached the client (and only then); an open circuit skips a provider at once.
 */
import { describe, expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { sseCassette } from "../../src/upstream/cassette.ts"
import { expectAnthropicError, jsonBody, post, sseEvents, streamBody, streamText } from "../fault/client.ts"
import { ProvidersHarness, providersHarness } from "../support/providers-harness.ts"
import { completionCassette, jsonCassette, type ScriptedUpstream } from "../support/scripted-upstream.ts"

const FILE = {
  providers: [
    { name: "alpha", base_url: "{{alpha}}", api_key: "${ALPHA_KEY}", profile: "openai", headers: { "x-org": "acme" } },
    { name: "beta", base_url: "{{beta}}", api_key: "sk-beta-inline-0123456789", profile: "deepseek", max_concurrent: 3 },
    { name: "local", base_url: "{{local}}", profile: "vllm", models: ["qwen3-coder", "llama-4"] },
    // Nothing listens on port 9 of loopback: connection refused.
    { name: "gone", base_url: "http://127.0.0.1:9/v1" }
  ],
  routes: {
    default: ["alpha,gpt-5", "beta,deepseek-chat"],
    background: "local,qwen3-coder",
    think: "beta,deepseek-reasoner",
    long_context: { target: "alpha,gpt-4.1", threshold_tokens: 2000 },
    web_search: "alpha,gpt-4o-search-preview",
    rules: [
      { match: "claude-opus-*", target: ["local,llama-4", "beta,deepseek-chat"] },
      { match: "via-gone", target: ["gone,gpt-5", "beta,deepseek-chat"] }
    ]
  }
}

const completion = (content: string) => completionCassette(content)

const failing = (status: number) => jsonCassette({ error: { message: `down (${status})`, type: "server_error" } }, status)

const reset = (upstreams: Readonly<Record<string, ScriptedUpstream>>) => {
  for (const upstream of Object.values(upstreams)) upstream.reset()
}

const lastLog = (logs: ReadonlyArray<Record<string, unknown>>) => logs.filter((line) => line.msg === "request").at(-1)!

// Retries on: a target with a next one behind it must not use them (the next target is the better retry).
layer(providersHarness(["alpha", "beta", "local"], FILE, { ALPHA_KEY: "sk-alpha-from-env-0123456789", UPSTREAM_MAX_RETRIES: "2" }), {
  excludeTestServices: true
})("routing with a config file", (it) => {
  const routedTo = (body: Record<string, unknown>, provider: string, model: string, routedBy: string) =>
    Effect.gen(function*() {
      const { url, upstreams, logs } = yield* ProvidersHarness
      reset(upstreams)
      upstreams[provider]!.enqueue(completion(`from ${provider}`))
      const reply = yield* Effect.promise(() => post(url, jsonBody(body)))
      expect(reply.status, reply.text).toBe(200)
      expect(JSON.parse(reply.text).content[0].text).toBe(`from ${provider}`)
      expect(upstreams[provider]!.requests[0]!.body.model).toBe(model)
      for (const [name, other] of Object.entries(upstreams)) if (name !== provider) expect(other.requests).toHaveLength(0)
      expect(lastLog(logs)).toMatchObject({ upstream: provider, upstream_model: model, routed_by: routedBy, status: 200 })
    })

  it.effect("sonnet → default", () => routedTo({}, "alpha", "gpt-5", "default"))
  it.effect("haiku → background", () => routedTo({ model: "claude-haiku-4-5" }, "local", "qwen3-coder", "background"))
  it.effect("thinking → think", () =>
    routedTo({ thinking: { type: "enabled", budget_tokens: 1024 }, max_tokens: 2048 }, "beta", "deepseek-reasoner", "think"))
  it.effect("a long prompt → long_context", () =>
    routedTo({ messages: [{ role: "user", content: "word ".repeat(3000) }] }, "alpha", "gpt-4.1", "long_context"))
  it.effect("a web search tool → web_search", () =>
    routedTo({ tools: [{ type: "web_search_20250305", name: "web_search", max_uses: 2 }] }, "alpha", "gpt-4o-search-preview", "web_search"))
  it.effect("a rule by glob comes first", () => routedTo({ model: "claude-opus-4-7" }, "local", "llama-4", "rule"))
  it.effect("\"provider,model\" bypasses the table", () => routedTo({ model: "beta,deepseek-v4" }, "beta", "deepseek-v4", "explicit"))
  it.effect("a model a provider lists goes to it, by name", () => routedTo({ model: "llama-4" }, "local", "llama-4", "model"))

  it.effect("an unknown provider in \"provider,model\" is a 400 naming the known ones", () =>
    Effect.gen(function*() {
      const { url, upstreams } = yield* ProvidersHarness
      reset(upstreams)
      const reply = yield* Effect.promise(() => post(url, jsonBody({ model: "gamma,gpt-5" })))
      expectAnthropicError(reply, 400, "invalid_request_error")
      expect(reply.text).toContain("unknown provider \\\"gamma\\\"; known providers: alpha, beta, local")
    }))

  it.effect("each provider gets its own key and headers; the profile shapes its request", () =>
    Effect.gen(function*() {
      const { url, upstreams } = yield* ProvidersHarness
      reset(upstreams)
      upstreams.alpha!.enqueue(completion("a"))
      upstreams.beta!.enqueue(completion("b"))
      yield* Effect.promise(() => post(url, jsonBody({ max_tokens: 100 })))
      yield* Effect.promise(() => post(url, jsonBody({ model: "beta,deepseek-chat", max_tokens: 100 })))
      const alpha = upstreams.alpha!.requests[0]!
      const beta = upstreams.beta!.requests[0]!
      expect(alpha.headers.authorization).toBe("Bearer sk-alpha-from-env-0123456789")
      expect(alpha.headers["x-org"]).toBe("acme")
      expect(beta.headers.authorization).toBe("Bearer sk-beta-inline-0123456789")
      expect(beta.headers["x-org"]).toBeUndefined()
      // OpenAI's GPT-5 takes max_completion_tokens; DeepSeek takes max_tokens.
      expect(alpha.body).toMatchObject({ model: "gpt-5", max_completion_tokens: 100 })
      expect(beta.body).toMatchObject({ model: "deepseek-chat", max_tokens: 100 })
    }))

  describe("fallback", () => {
    it.effect("a 503 from the first target: the second answers; the log and metrics say who failed and who answered", () =>
      Effect.gen(function*() {
        const { url, upstreams, logs } = yield* ProvidersHarness
        reset(upstreams)
        upstreams.alpha!.enqueue(failing(503))
        upstreams.beta!.enqueue(sseCassette("slow", [
          { choices: [{ index: 0, delta: { role: "assistant", content: "from " } }] },
          { choices: [{ index: 0, delta: { content: "beta" } }] },
          { choices: [{ index: 0, delta: {}, finish_reason: "stop" }], usage: { prompt_tokens: 5, completion_tokens: 2 } }
        ], { delayMs: 150 }))
        const pending = post(url, streamBody())
        // While beta streams, the failed target holds nothing: its permit came back when it failed.
        yield* Effect.promise(async () => {
          while (upstreams.beta!.requests.length === 0) await new Promise((resolve) => setTimeout(resolve, 10))
        })
        const during = yield* Effect.promise(() => fetch(`${url}/health`).then((r) => r.json()))
        const inFlight = (name: string) => during.upstreams.find((u: { name: string }) => u.name === name)?.in_flight
        expect([inFlight("alpha"), inFlight("beta")]).toEqual([0, 1])
        const reply = yield* Effect.promise(() => pending)
        expect(reply.status).toBe(200)
        expect(streamText(sseEvents(reply.text))).toBe("from beta")
        expect(upstreams.alpha!.requests).toHaveLength(1)
        expect(upstreams.beta!.requests[0]!.body).toMatchObject({ model: "deepseek-chat", stream: true })
        expect(lastLog(logs)).toMatchObject({ upstream: "beta", upstream_model: "deepseek-chat", failed_over: ["alpha,gpt-5: 503"] })
        const metrics = yield* Effect.promise(() => fetch(`${url}/metrics`).then((r) => r.text()))
        expect(metrics).toMatch(/ccproxy_fallbacks_total\{[^}]*upstream="alpha"[^}]*\} 1|ccproxy_fallbacks_total\{[^}]*reason="503"[^}]*upstream="alpha"[^}]*\} 1/)
      }))

    it.effect("429, 500 and an unreachable provider fall back too; a 400 goes back to the client as it is", () =>
      Effect.gen(function*() {
        const { url, upstreams, logs } = yield* ProvidersHarness
        for (const status of [429, 500]) {
          reset(upstreams)
          upstreams.alpha!.enqueue(failing(status))
          upstreams.beta!.enqueue(completion("second"))
          const reply = yield* Effect.promise(() => post(url, jsonBody()))
          expect(reply.status, `after ${status}`).toBe(200)
          expect(JSON.parse(reply.text).content[0].text).toBe("second")
        }
        reset(upstreams)
        upstreams.beta!.enqueue(completion("past the unreachable one"))
        const past = yield* Effect.promise(() => post(url, jsonBody({ model: "via-gone" })))
        expect(past.status, past.text).toBe(200)
        expect(JSON.parse(past.text).content[0].text).toBe("past the unreachable one")
        reset(upstreams)
        upstreams.alpha!.enqueue(jsonCassette({ error: { message: "bad request", type: "invalid_request_error" } }, 400))
        const reply = yield* Effect.promise(() => post(url, jsonBody()))
        expectAnthropicError(reply, 400, "invalid_request_error")
        expect(upstreams.beta!.requests).toHaveLength(0)
        expect(lastLog(logs).failed_over).toBeUndefined()
      }))

    it.effect("every target failing: the client gets the last one's error", () =>
      Effect.gen(function*() {
        const { url, upstreams, logs } = yield* ProvidersHarness
        reset(upstreams)
        upstreams.alpha!.enqueue(failing(502))
        // The last target keeps its retries (two here).
        upstreams.beta!.enqueue(failing(529), failing(529), failing(529))
        const reply = yield* Effect.promise(() => post(url, jsonBody()))
        expectAnthropicError(reply, 529, "overloaded_error")
        // The last target's failure is the client's answer, not a fallback.
        expect(lastLog(logs)).toMatchObject({ failed_over: ["alpha,gpt-5: 502"], retries: 2 })
        expect(upstreams.alpha!.requests).toHaveLength(1)
        expect(upstreams.beta!.requests).toHaveLength(3)
        // Every permit the chain took came back: the failed target's at once, the last one's with the reply.
        const health = yield* Effect.promise(() => fetch(`${url}/health`).then((r) => r.json()))
        for (const upstream of health.upstreams) expect(upstream, upstream.name).toMatchObject({ in_flight: 0, queued: 0 })
      }))

    it.effect("never mid-stream: a stream that breaks after its first event is not retried elsewhere", () =>
      Effect.gen(function*() {
        const { url, upstreams } = yield* ProvidersHarness
        reset(upstreams)
        const broken = sseCassette("broken", [{ choices: [{ index: 0, delta: { role: "assistant", content: "half" } }] }], { done: false })
        upstreams.alpha!.enqueue({ ...broken, response: { ...broken.response, abort: true } })
        const reply = yield* Effect.promise(() => post(url, streamBody()))
        expect(reply.status).toBe(200)
        expect(reply.text).toContain("event: error")
        expect(upstreams.beta!.requests).toHaveLength(0)
      }))
  })

  it.effect("/v1/models lists the Claude names with their routes, then every provider,model pair", () =>
    Effect.gen(function*() {
      const { url } = yield* ProvidersHarness
      const list = yield* Effect.promise(() => fetch(`${url}/v1/models?limit=100`).then((r) => r.json()))
      const ids = list.data.map((m: { id: string }) => m.id)
      expect(ids).toEqual(expect.arrayContaining([
        "claude-sonnet-4-6",
        "alpha,gpt-5",
        "beta,deepseek-chat",
        "local,qwen3-coder",
        "beta,deepseek-reasoner",
        "alpha,gpt-4.1",
        "local,llama-4"
      ]))
      const haiku = list.data.find((m: { id: string }) => m.id === "claude-haiku-4-5")
      expect(haiku.display_name).toBe("Claude Haiku 4.5 (via local,qwen3-coder)")
      const sonnet = list.data.find((m: { id: string }) => m.id === "claude-sonnet-4-6")
      expect(sonnet.display_name).toBe("Claude Sonnet 4.6 (via alpha,gpt-5, then beta,deepseek-chat)")
    }))
})

const BREAKER_FILE = {
  ...FILE,
  providers: FILE.providers.map((provider) => provider.name === "alpha" ? { ...provider, breaker: { failure_threshold: 2 } } : provider)
}

layer(providersHarness(["alpha", "beta", "local"], BREAKER_FILE, { ALPHA_KEY: "sk-alpha-from-env-0123456789" }), {
  excludeTestServices: true
})("fallback past an open circuit", (it) => {
  it.effect("an open circuit skips its provider at once", () =>
      Effect.gen(function*() {
        const { url, upstreams, logs } = yield* ProvidersHarness
        reset(upstreams)
        // alpha's breaker opens after 2 failures in a row (its own setting).
        upstreams.alpha!.enqueue(failing(503), failing(503))
        upstreams.beta!.enqueue(completion("b1"), completion("b2"), completion("b3"))
        for (let i = 0; i < 3; i++) {
          const reply = yield* Effect.promise(() => post(url, jsonBody()))
          expect(reply.status).toBe(200)
        }
        expect(upstreams.alpha!.requests).toHaveLength(2)
        expect(upstreams.beta!.requests).toHaveLength(3)
        expect(lastLog(logs)).toMatchObject({ upstream: "beta", failed_over: ["alpha,gpt-5: Overloaded"] })
        const health = yield* Effect.promise(() => fetch(`${url}/health`).then((r) => r.json()))
        expect(health.upstreams.find((u: { name: string }) => u.name === "alpha")).toMatchObject({ circuit: "open" })
        expect(health.upstreams.find((u: { name: string }) => u.name === "beta")).toMatchObject({ circuit: "closed", max_concurrent: 3 })
      }))
})
