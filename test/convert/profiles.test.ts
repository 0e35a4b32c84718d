import { describe, expect, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import { upstreamToolId } from "../../src/convert/messages.ts"
import { PROFILES, type Provider } from "../../src/convert/models.ts"
import { profile, type ResponseQuirk } from "../../src/convert/profiles.ts"
import { PLACEHOLDER_SIGNATURE } from "../../src/convert/reasoning-replay.ts"
import { type Converted, toChatRequest } from "../../src/convert/request.ts"
import { adaptSchema } from "../../src/convert/schema-dialect.ts"
import type * as A from "../../src/protocol/anthropic.ts"
import { replayEvents, type StreamEvent, streamContext } from "./cassettes.ts"

const convert = (req: A.MessagesRequest, model: string, provider: Provider): Converted => {
  const result = toChatRequest(req, { model, provider })
  if (Result.isFailure(result)) throw new Error(`expected success, got: ${result.failure.message}`)
  return result.success
}

const SCHEMA = {
  $schema: "http://json-schema.org/draft-07/schema#",
  type: "object",
  additionalProperties: false,
  properties: {
    url: { type: "string", format: "uri" },
    since: { type: "string", format: "date-time" },
    // A property *named* like keywords: it must survive every dialect.
    format: { type: "string", description: "output format" },
    headers: { type: "object", additionalProperties: { type: "string" }, propertyNames: { pattern: "^[a-z-]+$" } },
    items: { type: "array", items: { type: "object", additionalProperties: false, properties: { id: { type: "integer", format: "int64" } } } }
  },
  required: ["url"]
}

/** Everything a dialect decides about, in one Claude Code-like turn. */
const turn: A.MessagesRequest = {
  model: "claude-sonnet-4-5",
  max_tokens: 1000,
  stream: true,
  thinking: { type: "enabled", budget_tokens: 8000 },
  metadata: { user_id: "user_abc" },
  system: "You are Claude Code.",
  tools: [{ name: "WebFetch", description: "Fetch a URL", input_schema: SCHEMA }],
  tool_choice: { type: "any" },
  messages: [
    { role: "user", content: "Fetch it" },
    { role: "system", content: "# Environment" },
    { role: "assistant", content: [{ type: "tool_use", id: "toolu_01AbC", name: "WebFetch", input: { url: "https://x.test" } }] },
    { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_01AbC", content: "ok" }] }
  ]
}

interface Dialect {
  readonly model: string
  readonly limit: "max_tokens" | "max_completion_tokens"
  readonly reasoning: "reasoning" | "reasoning_effort" | undefined
  readonly streamOptions: boolean
  readonly user: boolean
  readonly toolChoice: boolean
  readonly systemHoisted: boolean
  readonly schemaCut: boolean
  readonly parallel: boolean | undefined
  readonly toolId: string
}

const DEFAULTS = {
  limit: "max_tokens",
  reasoning: undefined,
  streamOptions: true,
  user: true,
  toolChoice: true,
  systemHoisted: false,
  schemaCut: false,
  parallel: undefined,
  toolId: "toolu_01AbC"
} as const

/** Written out per profile from the vendors' documentation (profiles.ts cites it), not derived from the table. */
const EXPECTED: { readonly [P in Provider]: Dialect } = {
  openai: { ...DEFAULTS, model: "gpt-5", limit: "max_completion_tokens", reasoning: "reasoning_effort" },
  openrouter: { ...DEFAULTS, model: "anthropic/claude-sonnet-4.5", reasoning: "reasoning" },
  deepseek: { ...DEFAULTS, model: "deepseek-reasoner", reasoning: "reasoning_effort" },
  gemini: { ...DEFAULTS, model: "gemini-2.5-pro", reasoning: "reasoning_effort", user: false, schemaCut: true },
  xai: { ...DEFAULTS, model: "grok-3-mini", reasoning: "reasoning_effort" },
  groq: { ...DEFAULTS, model: "openai/gpt-oss-20b", limit: "max_completion_tokens", reasoning: "reasoning_effort" },
  mistral: {
    ...DEFAULTS,
    model: "mistral-large-latest",
    streamOptions: false,
    user: false,
    systemHoisted: true,
    toolId: upstreamToolId("toolu_01AbC", "alnum9")
  },
  ollama: { ...DEFAULTS, model: "gpt-oss:20b", reasoning: "reasoning_effort", user: false, toolChoice: false, systemHoisted: true },
  vllm: { ...DEFAULTS, model: "Qwen/Qwen3-Coder-30B-A3B-Instruct", systemHoisted: true },
  llamacpp: { ...DEFAULTS, model: "qwen3-coder", systemHoisted: true, parallel: true },
  lmstudio: { ...DEFAULTS, model: "qwen/qwen3-coder-30b", systemHoisted: true },
  generic: { ...DEFAULTS, model: "some-model", systemHoisted: true }
}

describe("profiles", () => {
  it("every profile has a row, under its own name", () => {
    expect(PROFILES).toHaveLength(12)
    for (const name of PROFILES) expect(profile(name).name).toBe(name)
    expect(Object.keys(EXPECTED).sort()).toEqual([...PROFILES].sort())
  })

  describe.each(PROFILES)("%s request dialect", (name) => {
    const expected = EXPECTED[name]
    const { request } = convert(turn, expected.model, name)

    it(`output limit in ${expected.limit}`, () => {
      expect(request[expected.limit]).toBe(1000)
      const other = expected.limit === "max_tokens" ? "max_completion_tokens" : "max_tokens"
      expect(request).not.toHaveProperty(other)
    })

    it(`reasoning switch: ${expected.reasoning ?? "none"}`, () => {
      expect(request.reasoning !== undefined).toBe(expected.reasoning === "reasoning")
      expect(request.reasoning_effort !== undefined).toBe(expected.reasoning === "reasoning_effort")
    })

    it(`stream_options ${expected.streamOptions ? "sent" : "not sent"}, user ${expected.user ? "sent" : "not sent"}`, () => {
      expect(request.stream).toBe(true)
      expect(request.stream_options).toEqual(expected.streamOptions ? { include_usage: true } : undefined)
      expect(request.user !== undefined).toBe(expected.user)
    })

    it(`tool_choice ${expected.toolChoice ? "sent" : "dropped"}, parallel_tool_calls ${expected.parallel}`, () => {
      expect(request.tool_choice).toEqual(expected.toolChoice ? "required" : undefined)
      expect(request.parallel_tool_calls).toBe(expected.parallel)
    })

    it(`system ${expected.systemHoisted ? "hoisted into one leading message" : "kept in place"}`, () => {
      const roles = request.messages.map((message) => message.role)
      expect(roles).toEqual(
        expected.systemHoisted ? ["system", "user", "assistant", "tool"] : ["system", "user", "system", "assistant", "tool"]
      )
    })

    it(`tool schema ${expected.schemaCut ? "cut to the vendor's keywords" : "passed as sent"}, tool id ${expected.toolId}`, () => {
      const parameters = request.tools?.[0]?.function.parameters
      if (expected.schemaCut) expect(parameters).not.toEqual(SCHEMA)
      else expect(parameters).toBe(SCHEMA)
      const assistant = request.messages.find((message) => message.role === "assistant")
      const tool = request.messages.find((message) => message.role === "tool")
      expect(assistant?.role === "assistant" && assistant.tool_calls?.[0]?.id).toBe(expected.toolId)
      expect(tool?.role === "tool" && tool.tool_call_id).toBe(expected.toolId)
    })
  })

  it("Gemini: $schema, additionalProperties, propertyNames and string formats other than date-time go; names stay", () => {
    const { request } = convert(turn, "gemini-2.5-pro", "gemini")
    expect(request.tools?.[0]?.function.parameters).toEqual({
      type: "object",
      properties: {
        url: { type: "string" },
        since: { type: "string", format: "date-time" },
        format: { type: "string", description: "output format" },
        headers: { type: "object" },
        items: { type: "array", items: { type: "object", properties: { id: { type: "integer", format: "int64" } } } }
      },
      required: ["url"]
    })
    expect(SCHEMA.$schema).toBe("http://json-schema.org/draft-07/schema#") // the client's schema is not changed
  })

  it("adaptSchema walks anyOf, $defs and tuple items, and returns an untouched schema as the same object", () => {
    const dialect = profile("gemini").request.schema
    const schema = {
      anyOf: [{ type: "string", format: "email" }, { $ref: "#/$defs/n" }],
      $defs: { n: { type: "number", additionalProperties: true } },
      prefixItems: [{ type: "string", format: "uuid" }]
    }
    expect(adaptSchema(schema, dialect)).toEqual({
      anyOf: [{ type: "string" }, { $ref: "#/$defs/n" }],
      $defs: { n: { type: "number" } },
      prefixItems: [{ type: "string" }]
    })
    const clean = { type: "object", properties: { a: { type: "string", format: "date-time" } } }
    expect(adaptSchema(clean, dialect)).toBe(clean)
  })

  it("Mistral: every tool id becomes 9 alphanumerics, the same in calls, results and placeholders; its own ids pass", () => {
    const { request } = convert({
      ...turn,
      messages: [
        { role: "user", content: "go" },
        {
          role: "assistant",
          content: [
            { type: "tool_use", id: "toolu_01AbC", name: "WebFetch", input: {} },
            { type: "tool_use", id: "D681PevKs", name: "WebFetch", input: {} },
            { type: "tool_use", id: "call_00_Xq4", name: "WebFetch", input: {} }
          ]
        },
        {
          role: "user",
          content: [
            { type: "tool_result", tool_use_id: "D681PevKs", content: "b" },
            { type: "tool_result", tool_use_id: "toolu_01AbC", content: "a" }
          ]
        }
      ]
    }, "mistral-large-latest", "mistral")
    const assistant = request.messages.find((message) => message.role === "assistant")
    const calls = assistant?.role === "assistant" ? assistant.tool_calls ?? [] : []
    const ids = calls.map((call) => call.id)
    for (const id of ids) expect(id).toMatch(/^[a-zA-Z0-9]{9}$/)
    expect(ids[1]).toBe("D681PevKs")
    expect(new Set(ids).size).toBe(3)
    const results = request.messages.filter((message) => message.role === "tool").map((message) =>
      message.role === "tool" ? message.tool_call_id : ""
    )
    expect(results).toEqual([ids[1], ids[0], ids[2]])
  })

  it("Mistral gets no reasoning fields (its schema rejects them), with a note", () => {
    const converted = convert(turn, "magistral-medium-latest", "mistral")
    expect(converted.request).not.toHaveProperty("reasoning_effort")
    expect(converted.request).not.toHaveProperty("reasoning")
    expect(converted.notes.some((note) => note.includes("mistral takes no reasoning switch"))).toBe(true)
  })

  it("llama.cpp: parallel calls are asked for, unless the client disabled them", () => {
    const disabled = convert({ ...turn, tool_choice: { type: "auto", disable_parallel_tool_use: true } }, "qwen3", "llamacpp")
    expect(disabled.request.parallel_tool_calls).toBe(false)
    const { tool_choice: _, ...withoutChoice } = turn
    const noTools = convert({ ...withoutChoice, tools: [] }, "qwen3", "llamacpp")
    expect(noTools.request).not.toHaveProperty("parallel_tool_calls")
  })

  it("OpenRouter is the only profile with extra headers: its app attribution", () => {
    const settings = { referer: "https://app.test", appName: "CCProxy" }
    expect(profile("openrouter").headers?.(settings)).toEqual({ "http-referer": "https://app.test", "x-title": "CCProxy" })
    for (const name of PROFILES.filter((p) => p !== "openrouter")) expect(profile(name).headers).toBeUndefined()
  })
})

// ---------------------------------------------------------------------------------------------------------------
// Response quirks: each one a profile declares is replayed from a cassette of that vendor
// ---------------------------------------------------------------------------------------------------------------

const blocksOf = (events: ReadonlyArray<StreamEvent>) =>
  events.flatMap((event) => (event.type === "content_block_start" ? [event.content_block] : []))

const finalDelta = (events: ReadonlyArray<StreamEvent>) => {
  const delta = events.find((event) => event.type === "message_delta")
  if (delta?.type !== "message_delta") throw new Error("no message_delta")
  return delta
}

const signatures = (events: ReadonlyArray<StreamEvent>) =>
  events.flatMap((event) =>
    event.type === "content_block_delta" && event.delta.type === "signature_delta" ? [event.delta.signature] : []
  )

const thinkingText = (events: ReadonlyArray<StreamEvent>) =>
  events.map((event) =>
    event.type === "content_block_delta" && event.delta.type === "thinking_delta" ? event.delta.thinking : ""
  ).join("")

const toolIds = (events: ReadonlyArray<StreamEvent>) =>
  blocksOf(events).flatMap((block) => (block.type === "tool_use" ? [block.id] : []))

/** What each quirk looks like once converted; `usage` numbers are the cassette's own, read off the recording. */
const QUIRK_CHECKS: { readonly [Q in ResponseQuirk]: (events: ReadonlyArray<StreamEvent>, failed: boolean) => void } = {
  "reasoning-in-reasoning_content": (events) => expect(thinkingText(events)).not.toBe(""),
  "reasoning-in-reasoning": (events) => expect(thinkingText(events)).not.toBe(""),
  "reasoning-details": (events) => {
    expect(signatures(events).length).toBeGreaterThan(0)
    for (const signature of signatures(events)) expect(signature).not.toBe(PLACEHOLDER_SIGNATURE)
  },
  "tool-index-reused": (events) => {
    expect(toolIds(events).length).toBeGreaterThanOrEqual(2)
    expect(new Set(toolIds(events)).size).toBe(toolIds(events).length)
  },
  "tool-calls-interleaved": (events) => expect(toolIds(events)).toHaveLength(2),
  "stop-after-tool-calls": (events) => expect(finalDelta(events).delta.stop_reason).toBe("tool_use"),
  "tool-ids-alnum9": (events) => {
    expect(toolIds(events).length).toBeGreaterThan(0)
    for (const id of toolIds(events)) expect(id).toMatch(/^[a-zA-Z0-9]{9}$/)
  },
  // Usage came from the upstream (the estimate would be input_tokens=100, our StreamContext's).
  "usage-on-finish-chunk": (events) => expect(finalDelta(events).usage.input_tokens).not.toBe(100),
  "usage-after-finish": (events) => expect(finalDelta(events).usage.input_tokens).not.toBe(100),
  "usage-under-x_groq": (events) => expect(finalDelta(events).usage).toMatchObject({ input_tokens: 81, output_tokens: 27 }),
  "deepseek-cache-fields": (events) => expect(finalDelta(events).usage.cache_read_input_tokens).toBeGreaterThan(0),
  "stop-reason-string": (events) => expect(finalDelta(events).delta.stop_sequence).not.toBeNull(),
  "error-chunk": (_events, failed) => expect(failed).toBe(true),
  // The reply ends with the carrier of the calls' signatures (gemini-signatures.ts).
  "tool-call-thought-signatures": (events) => {
    expect(blocksOf(events).at(-1)?.type).toBe("thinking")
    expect(signatures(events).at(-1)).toMatch(/^ccproxy\.g1\./)
  },
  "thinking-in-content-chunks": (events) => expect(thinkingText(events)).not.toBe("")
}

/** The cassette that shows each declared quirk of each profile. */
const QUIRK_CASSETTES: { readonly [P in Provider]: Partial<Record<ResponseQuirk, string>> } = {
  openai: { "usage-after-finish": "openai-parallel-tools" },
  openrouter: {
    "reasoning-details": "openrouter-claude-tool-reasoning",
    "usage-after-finish": "openrouter-reasoning-signature",
    "error-chunk": "openrouter-midstream-error"
  },
  deepseek: {
    "reasoning-in-reasoning_content": "deepseek-reasoning",
    "deepseek-cache-fields": "deepseek-tool-reasoning",
    "usage-on-finish-chunk": "deepseek-tool-reasoning"
  },
  gemini: {
    "tool-index-reused": "gemini-parallel-tools-index0",
    "stop-after-tool-calls": "gemini-parallel-tools-index0",
    "usage-on-finish-chunk": "gemini-parallel-tools-index0",
    "tool-call-thought-signatures": "gemini3-tool-thought-signature"
  },
  xai: { "reasoning-in-reasoning_content": "xai-reasoning-content", "usage-after-finish": "xai-reasoning-content" },
  groq: { "reasoning-in-reasoning": "groq-reasoning-xgroq-usage", "usage-under-x_groq": "groq-reasoning-xgroq-usage" },
  mistral: {
    "tool-ids-alnum9": "mistral-tool-call",
    "usage-on-finish-chunk": "mistral-tool-call",
    "thinking-in-content-chunks": "mistral-magistral-thinking-chunks"
  },
  ollama: {
    "reasoning-in-reasoning": "ollama-tool-stop",
    "stop-after-tool-calls": "ollama-tool-stop",
    "usage-after-finish": "ollama-tool-stop"
  },
  vllm: {
    "reasoning-in-reasoning": "vllm-reasoning-field",
    "stop-reason-string": "vllm-stop-sequence",
    "tool-calls-interleaved": "vllm-parallel-tools-interleaved",
    "usage-after-finish": "vllm-parallel-tools-interleaved"
  },
  llamacpp: {
    "reasoning-in-reasoning_content": "llamacpp-reasoning-usage",
    "usage-after-finish": "llamacpp-reasoning-usage"
  },
  lmstudio: {
    "reasoning-in-reasoning_content": "lmstudio-tools-fresh-ids",
    "tool-index-reused": "lmstudio-tools-fresh-ids"
  },
  generic: {}
}

describe("response quirks, replayed", () => {
  it("every declared quirk has a cassette, and no cassette is listed for an undeclared one", () => {
    for (const name of PROFILES) {
      expect(Object.keys(QUIRK_CASSETTES[name]).sort()).toEqual([...profile(name).quirks].sort())
    }
  })

  for (const name of PROFILES) {
    for (const [quirk, cassette] of Object.entries(QUIRK_CASSETTES[name]) as Array<[ResponseQuirk, string]>) {
      it.effect(`${name}: ${quirk} (${cassette})`, () =>
        Effect.gen(function*() {
          const { events, failed } = yield* replayEvents(cassette, streamContext({ provider: name }))
          QUIRK_CHECKS[quirk](events, failed)
        }))
    }
  }
})
