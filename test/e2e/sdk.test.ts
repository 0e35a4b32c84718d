/**
 * The official Anthropic SDK against the proxy on a loopback port, with a scripted OpenAI upstream behind it.
 */
import Anthropic from "@anthropic-ai/sdk"
import { describe, expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { sseCassette } from "../../src/upstream/cassette.ts"
import { Harness, harness, TEST_API_KEY } from "../support/harness.ts"
import { jsonCassette } from "../support/scripted-upstream.ts"

const client = (url: string) => new Anthropic({ baseURL: url, apiKey: "client-key", maxRetries: 0 })

const completion = (message: Record<string, unknown>, finish = "stop", usage: Record<string, unknown> = {}) => ({
  id: "chatcmpl-test",
  object: "chat.completion",
  created: 1_763_000_000,
  model: "gpt-4.1-2025-04-14",
  choices: [{ index: 0, message: { role: "assistant", refusal: null, ...message }, finish_reason: finish, logprobs: null }],
  usage: { prompt_tokens: 120, completion_tokens: 9, total_tokens: 129, prompt_tokens_details: { cached_tokens: 100 }, ...usage }
})

const chunk = (delta: Record<string, unknown>, finish: string | null = null) => ({
  id: "chatcmpl-s",
  object: "chat.completion.chunk",
  created: 1_763_000_000,
  model: "gpt-4.1-2025-04-14",
  choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }]
})

const usageChunk = (prompt: number, completionTokens: number) => ({
  id: "chatcmpl-s",
  object: "chat.completion.chunk",
  created: 1_763_000_000,
  model: "gpt-4.1-2025-04-14",
  choices: [],
  usage: { prompt_tokens: prompt, completion_tokens: completionTokens, total_tokens: prompt + completionTokens }
})

const upstreamError = (status: number, message: string, headers: Record<string, string> = {}) =>
  jsonCassette({ error: { message, type: "invalid_request_error", param: null, code: null } }, status, headers)

const tools: Array<Anthropic.Tool> = [{
  name: "get_weather",
  description: "Weather for a city",
  input_schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
}]

layer(harness(), { excludeTestServices: true })("Anthropic SDK through the proxy", (it) => {
  it.effect("messages.create: converts both ways and echoes the client's model", () =>
    Effect.gen(function*() {
      const { url, upstream } = yield* Harness
      upstream.reset()
      upstream.enqueue(jsonCassette(completion({ content: "Hello from upstream" })))
      const { data: message, response } = yield* Effect.promise(() =>
        client(url).messages.create({
          model: "claude-sonnet-4-6",
          max_tokens: 256,
          system: [{ type: "text", text: "Be brief.", cache_control: { type: "ephemeral" } }],
          messages: [{ role: "user", content: "Hi" }]
        }).withResponse()
      )
      expect(message.model).toBe("claude-sonnet-4-6")
      expect(message.id).toMatch(/^msg_/)
      expect(message.content).toEqual([{ type: "text", text: "Hello from upstream" }])
      expect(message.stop_reason).toBe("end_turn")
      expect(message.usage).toMatchObject({ input_tokens: 20, cache_read_input_tokens: 100, output_tokens: 9 })
      expect(response.headers.get("request-id")).toMatch(/^req_/)

      const sent = upstream.requests[0]!
      expect(sent.path).toBe("/v1/chat/completions")
      expect(sent.headers.authorization).toBe(`Bearer ${TEST_API_KEY}`)
      expect(sent.body.model).toBe("gpt-4.1")
      expect(sent.body.messages).toEqual([{ role: "system", content: "Be brief." }, { role: "user", content: "Hi" }])
      expect(JSON.stringify(sent.body)).not.toContain("cache_control")
      expect(sent.headers["anthropic-version"]).toBeUndefined()
    }))

  it.effect("messages.stream: finalMessage() assembles text and a streamed tool call", () =>
    Effect.gen(function*() {
      const { url, upstream } = yield* Harness
      upstream.reset()
      upstream.enqueue(sseCassette("text+tool", [
        chunk({ role: "assistant", content: "" }),
        chunk({ content: "Let me " }),
        chunk({ content: "check." }),
        chunk({ tool_calls: [{ index: 0, id: "call_1", type: "function", function: { name: "get_weather", arguments: "" } }] }),
        chunk({ tool_calls: [{ index: 0, function: { arguments: "{\"city\":" } }] }),
        chunk({ tool_calls: [{ index: 0, function: { arguments: "\"Paris\"}" } }] }),
        chunk({}, "tool_calls"),
        usageChunk(300, 25)
      ]))
      const stream = client(url).messages.stream({
        model: "claude-opus-4-7",
        max_tokens: 1024,
        tools,
        messages: [{ role: "user", content: "Weather in Paris?" }]
      })
      const message = yield* Effect.promise(() => stream.finalMessage())
      expect(message.model).toBe("claude-opus-4-7")
      expect(message.content).toEqual([
        { type: "text", text: "Let me check." },
        { type: "tool_use", id: "call_1", name: "get_weather", input: { city: "Paris" } }
      ])
      expect(message.stop_reason).toBe("tool_use")
      expect(message.usage.output_tokens).toBe(25)
      expect(message.usage.input_tokens).toBe(300)
      const sent = upstream.requests[0]!.body
      expect(sent.stream).toBe(true)
      expect(sent.stream_options).toEqual({ include_usage: true })
      expect(sent.tools[0].function.name).toBe("get_weather")
    }))

  it.effect("tools round trip: tool_result goes upstream as a tool message right after the call", () =>
    Effect.gen(function*() {
      const { url, upstream } = yield* Harness
      upstream.reset()
      upstream.enqueue(
        jsonCassette(completion({
          content: null,
          tool_calls: [{ id: "call_7", type: "function", function: { name: "get_weather", arguments: "{\"city\":\"Oslo\"}" } }]
        }, "tool_calls")),
        jsonCassette(completion({ content: "It is cold in Oslo." }))
      )
      const first = yield* Effect.promise(() =>
        client(url).messages.create({
          model: "claude-haiku-4-5",
          max_tokens: 200,
          tools,
          tool_choice: { type: "any" },
          messages: [{ role: "user", content: "Weather in Oslo?" }]
        })
      )
      expect(first.stop_reason).toBe("tool_use")
      const toolUse = first.content.find((b) => b.type === "tool_use")!
      expect(toolUse).toMatchObject({ id: "call_7", name: "get_weather", input: { city: "Oslo" } })
      expect(upstream.requests[0]!.body.model).toBe("gpt-4.1-mini")
      expect(upstream.requests[0]!.body.tool_choice).toBe("required")

      const second = yield* Effect.promise(() =>
        client(url).messages.create({
          model: "claude-haiku-4-5",
          max_tokens: 200,
          tools,
          messages: [
            { role: "user", content: "Weather in Oslo?" },
            { role: "assistant", content: first.content },
            {
              role: "user",
              content: [
                { type: "tool_result", tool_use_id: "call_7", content: "-3°C" },
                { type: "text", text: "Answer briefly." }
              ]
            }
          ]
        })
      )
      expect(second.content).toEqual([{ type: "text", text: "It is cold in Oslo." }])
      const messages = upstream.requests[1]!.body.messages
      expect(messages.slice(1)).toEqual([
        {
          role: "assistant",
          content: null,
          tool_calls: [{ id: "call_7", type: "function", function: { name: "get_weather", arguments: "{\"city\":\"Oslo\"}" } }]
        },
        { role: "tool", tool_call_id: "call_7", content: "-3°C" },
        { role: "user", content: "Answer briefly." }
      ])
    }))

  it.effect("count_tokens: counted locally, never calls the upstream", () =>
    Effect.gen(function*() {
      const { url, upstream } = yield* Harness
      upstream.reset()
      const small = yield* Effect.promise(() =>
        client(url).messages.countTokens({ model: "claude-sonnet-4-6", messages: [{ role: "user", content: "Hello" }] })
      )
      const large = yield* Effect.promise(() =>
        client(url).messages.countTokens({
          model: "claude-sonnet-4-6",
          system: "You are a careful assistant.",
          tools,
          messages: [{ role: "user", content: "Hello ".repeat(500) }]
        })
      )
      expect(small.input_tokens).toBeGreaterThan(0)
      expect(small.input_tokens).toBeLessThan(20)
      expect(large.input_tokens).toBeGreaterThan(500)
      expect(upstream.requests).toHaveLength(0)
    }))

  it.effect("beta surface: ?beta=true works for messages and count_tokens", () =>
    Effect.gen(function*() {
      const { url, upstream } = yield* Harness
      upstream.reset()
      upstream.enqueue(jsonCassette(completion({ content: "beta ok" })))
      const message = yield* Effect.promise(() =>
        client(url).beta.messages.create({
          model: "claude-sonnet-4-6",
          max_tokens: 100,
          betas: ["context-management-2025-06-27"],
          messages: [{ role: "user", content: "hi" }]
        })
      )
      expect(message.content[0]).toMatchObject({ type: "text", text: "beta ok" })
      const count = yield* Effect.promise(() =>
        client(url).beta.messages.countTokens({ model: "claude-sonnet-4-6", messages: [{ role: "user", content: "hi" }] })
      )
      expect(count.input_tokens).toBeGreaterThan(0)
      expect(upstream.requests[0]!.headers["anthropic-beta"]).toBeUndefined()
    }))
})

describe("errors through the SDK", () => {
  layer(harness({ UPSTREAM_MAX_RETRIES: "0" }), { excludeTestServices: true })("statuses", (it) => {
    const cases: Array<[number, number, string, Record<string, string>]> = [
      [400, 400, "invalid_request_error", {}],
      [401, 401, "authentication_error", {}],
      [402, 402, "billing_error", {}],
      [403, 403, "permission_error", {}],
      [404, 404, "not_found_error", {}],
      [413, 413, "request_too_large", {}],
      [429, 429, "rate_limit_error", { "retry-after": "7" }],
      [500, 500, "api_error", {}],
      [502, 529, "overloaded_error", {}],
      [503, 529, "overloaded_error", {}],
      [504, 504, "timeout_error", {}]
    ]
    for (const [upstreamStatus, status, type, headers] of cases) {
      it.effect(`upstream ${upstreamStatus} → ${status} ${type}`, () =>
        Effect.gen(function*() {
          const { url, upstream, logs } = yield* Harness
          upstream.reset()
          upstream.enqueue(upstreamError(upstreamStatus, `upstream says ${upstreamStatus}`, headers))
          const error = yield* Effect.promise(() =>
            client(url).messages.create({ model: "claude-sonnet-4-6", max_tokens: 10, messages: [{ role: "user", content: "x" }] })
              .then(() => undefined, (e: unknown) => e)
          )
          expect(error).toBeInstanceOf(Anthropic.APIError)
          const apiError = error as InstanceType<typeof Anthropic.APIError>
          expect(apiError.status).toBe(status)
          expect((apiError.error as any)?.type).toBe("error")
          expect((apiError.error as any)?.error?.type).toBe(type)
          expect((apiError.error as any)?.error?.message).toContain(`upstream says ${upstreamStatus}`)
          expect(apiError.requestID).toMatch(/^req_/)
          if (headers["retry-after"]) expect(apiError.headers?.get("retry-after")).toBe(headers["retry-after"])
          expect(JSON.stringify(apiError.error)).not.toContain(TEST_API_KEY)
          expect(JSON.stringify(logs)).not.toContain(TEST_API_KEY)
        }))
    }

    it.effect("an upstream that echoes our key never gets it to the client or the log", () =>
      Effect.gen(function*() {
        const { url, upstream, logs } = yield* Harness
        upstream.reset()
        upstream.enqueue(
          upstreamError(401, `Incorrect API key provided: ${TEST_API_KEY}`),
          sseCassette("echo", [chunk({ content: "x" }), { error: { message: `bad key ${TEST_API_KEY}`, code: 401 } }], { done: false })
        )
        const create = yield* Effect.promise(() =>
          client(url).messages.create({ model: "claude-sonnet-4-6", max_tokens: 10, messages: [{ role: "user", content: "x" }] })
            .then(() => undefined, (e: unknown) => e as InstanceType<typeof Anthropic.APIError>)
        )
        expect((create?.error as any)?.error?.message).toBe("Incorrect API key provided: [redacted]")
        const streamed = yield* Effect.promise(() =>
          client(url).messages.stream({ model: "claude-sonnet-4-6", max_tokens: 10, messages: [{ role: "user", content: "x" }] })
            .finalMessage().then(() => undefined, (e: unknown) => e as InstanceType<typeof Anthropic.APIError>)
        )
        expect((streamed?.error as any)?.error?.message).toBe("bad key [redacted]")
        expect(JSON.stringify(logs)).not.toContain(TEST_API_KEY)
      }))

    it.effect("malformed body → 400 naming the field path", () =>
      Effect.gen(function*() {
        const { url } = yield* Harness
        const error = yield* Effect.promise(() =>
          client(url).messages.create({
            model: "claude-sonnet-4-6",
            max_tokens: 10,
            messages: [{ role: "user", content: [{ type: "text", text: 42 as unknown as string }] }]
          }).then(() => undefined, (e: unknown) => e as InstanceType<typeof Anthropic.APIError>)
        )
        expect(error?.status).toBe(400)
        expect((error?.error as any)?.error?.message).toMatch(/^messages\.0\.content\.0\.text: /)
      }))

    it.effect("mid-stream upstream error → the SDK raises the error event", () =>
      Effect.gen(function*() {
        const { url, upstream } = yield* Harness
        upstream.reset()
        upstream.enqueue(sseCassette("mid-stream error", [
          chunk({ role: "assistant", content: "" }),
          chunk({ content: "partial" }),
          { error: { message: "Provider returned error", code: 502, metadata: { provider_name: "Example" } } }
        ], { done: false }))
        const error = yield* Effect.promise(() =>
          client(url).messages.stream({ model: "claude-sonnet-4-6", max_tokens: 10, messages: [{ role: "user", content: "x" }] })
            .finalMessage().then(() => undefined, (e: unknown) => e as InstanceType<typeof Anthropic.APIError>)
        )
        expect(error).toBeInstanceOf(Anthropic.APIError)
        expect((error?.error as any)?.error?.type).toBe("overloaded_error")
      }))
  })
})
