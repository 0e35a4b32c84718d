/**
 * Property tests on the pure request converter `toChatRequest`, over generated valid Anthropic requests
 * (arbitraries.ts): tool calls and results pair up the way Chat Completions demands, the system prompt survives,
 * and nothing Anthropic-only reaches the upstream.
 */
import { describe, expect, it } from "@effect/vitest"
import { Result, Schema } from "effect"
import fc from "fast-check"
import type { Provider } from "../../src/convert/models.ts"
import { type Target, toChatRequest } from "../../src/convert/request.ts"
import { MessagesRequest } from "../../src/protocol/anthropic.ts"
import type * as A from "../../src/protocol/anthropic.ts"
import type * as O from "../../src/protocol/openai.ts"
import { messagesRequest } from "./arbitraries.ts"

const NUM_RUNS = Number(process.env.FUZZ_CONVERSION_RUNS ?? 1_000)

const targets: ReadonlyArray<Target> = (
  [
    ["gpt-4.1", "openai"],
    ["gpt-5", "openai"],
    ["o3", "openai"],
    ["anthropic/claude-sonnet-4", "openrouter"],
    ["deepseek-chat", "deepseek"],
    ["grok-4", "xai"],
    ["gemini-2.5-pro", "gemini"],
    ["qwen3-coder", "ollama"],
    ["qwen3-coder", "generic"]
  ] as Array<[string, Provider]>
).map(([model, provider]) => ({ model, provider }))

const target = fc.constantFrom(...targets)

const decode = Schema.decodeUnknownSync(MessagesRequest)

const convert = (req: A.MessagesRequest, to: Target) => {
  const result = toChatRequest(req, to)
  if (Result.isFailure(result)) throw new Error(`conversion refused a valid request: ${result.failure.message}`)
  return result.success
}

// ---------------------------------------------------------------------------------------------------------------
// What may go upstream
// ---------------------------------------------------------------------------------------------------------------

const REQUEST_KEYS = new Set([
  "model", "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens", "temperature", "top_p", "stop",
  "tools", "tool_choice", "parallel_tool_calls", "reasoning_effort", "reasoning", "user"
])
// reasoning_content (DeepSeek) and reasoning_details (OpenRouter): the vendors' own fields for reasoning sent back.
const MESSAGE_KEYS = new Set(["role", "content", "tool_calls", "tool_call_id", "reasoning_content", "reasoning_details"])
const PART_KEYS: Record<string, ReadonlySet<string>> = {
  text: new Set(["type", "text"]),
  image_url: new Set(["type", "image_url"]),
  file: new Set(["type", "file"])
}
// extra_content: Gemini's OpenAI endpoint carries its thought signature there.
const TOOL_CALL_KEYS = new Set(["id", "type", "function", "extra_content"])
const FUNCTION_TOOL_KEYS = new Set(["name", "description", "parameters"])
const ROLES = new Set(["system", "developer", "user", "assistant", "tool"])

/** Keys that exist only in Anthropic's API; none may appear anywhere upstream (outside a tool's own JSON schema). */
const ANTHROPIC_ONLY_KEYS = new Set([
  "cache_control", "anthropic_version", "anthropic_beta", "metadata", "thinking", "top_k", "stop_sequences", "system",
  "context_management", "output_config", "container", "mcp_servers", "tool_use_id", "is_error", "input_schema",
  "defer_loading", "budget_tokens", "signature", "citations", "disable_parallel_tool_use", "input", "source"
])
/** Block types that exist only in Anthropic's API. */
const ANTHROPIC_ONLY_TYPES = new Set([
  "tool_use", "tool_result", "thinking", "redacted_thinking", "image", "document", "search_result", "tool_reference",
  "server_tool_use", "web_search_tool_result", "container_upload", "ephemeral", "base64", "web_search_20250305",
  "enabled", "adaptive", "disabled"
])

/** Every key and every `type` value in the request, except inside function parameters (the client's own schema). */
const walk = (value: unknown, visit: (key: string, value: unknown) => void): void => {
  if (Array.isArray(value)) {
    for (const item of value) walk(item, visit)
  } else if (typeof value === "object" && value !== null) {
    for (const [key, field] of Object.entries(value)) {
      visit(key, field)
      // A tool's JSON schema is the user's; OpenRouter's reasoning_details items have a `signature` of their own.
      if (key !== "parameters" && key !== "reasoning_details") walk(field, visit)
    }
  }
}

/** What in the request is not Chat Completions (collected, then asserted once: `expect` per key is slow). */
export const nonChatCompletionsFields = (request: O.ChatRequest): Array<string> => {
  const problems: Array<string> = []
  const check = (ok: boolean, problem: string) => {
    if (!ok) problems.push(problem)
  }
  for (const key of Object.keys(request)) check(REQUEST_KEYS.has(key), `top-level key "${key}"`)
  walk(request, (key, value) => {
    check(!ANTHROPIC_ONLY_KEYS.has(key), `Anthropic-only key "${key}"`)
    if (key === "type" && typeof value === "string") check(!ANTHROPIC_ONLY_TYPES.has(value), `Anthropic-only type "${value}"`)
  })
  for (const [i, message] of request.messages.entries()) {
    check(ROLES.has(message.role), `messages.${i}: role "${message.role}"`)
    for (const key of Object.keys(message)) check(MESSAGE_KEYS.has(key), `messages.${i}: key "${key}"`)
    if (Array.isArray(message.content)) {
      for (const part of message.content) {
        const allowed = PART_KEYS[part.type]
        check(allowed !== undefined, `messages.${i}: content part type "${part.type}"`)
        for (const key of Object.keys(part)) check(allowed?.has(key) === true, `messages.${i}: ${part.type} part key "${key}"`)
      }
    }
    if (message.role === "assistant") {
      for (const call of message.tool_calls ?? []) {
        for (const key of Object.keys(call)) check(TOOL_CALL_KEYS.has(key), `messages.${i}: tool call key "${key}"`)
        check(call.type === "function", `messages.${i}: tool call type "${call.type}"`)
        check(typeof call.function.arguments === "string", `messages.${i}: tool call arguments not a string`)
      }
    }
  }
  for (const [i, tool] of (request.tools ?? []).entries()) {
    check(Object.keys(tool).sort().join() === "function,type" && tool.type === "function", `tools.${i}: not a function tool`)
    for (const key of Object.keys(tool.function)) check(FUNCTION_TOOL_KEYS.has(key), `tools.${i}.function: key "${key}"`)
  }
  return problems
}

// ---------------------------------------------------------------------------------------------------------------
// Tool calls and results
// ---------------------------------------------------------------------------------------------------------------

/**
 * Chat Completions' rule: an assistant message with tool_calls is followed directly by one tool message per call
 * (any order), and a tool message only ever follows that way. Hence every call id is answered exactly once.
 */
const expectToolCallsAnsweredOnce = (messages: ReadonlyArray<O.ChatMessage>) => {
  const answers = new Map<string, number>()
  for (const message of messages) {
    if (message.role === "tool") answers.set(message.tool_call_id, (answers.get(message.tool_call_id) ?? 0) + 1)
  }
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i]!
    if (message.role === "tool") {
      // Part of a block right after an assistant message with tool_calls.
      let j = i
      while (j > 0 && messages[j - 1]!.role === "tool") j--
      const owner = messages[j - 1]
      expect(owner?.role, `tool message ${i} follows no assistant tool call`).toBe("assistant")
      const ids = owner?.role === "assistant" ? (owner.tool_calls ?? []).map((c) => c.id) : []
      expect(ids, `tool message ${i} answers a call of the assistant message before it`).toContain(message.tool_call_id)
      continue
    }
    if (message.role !== "assistant" || !message.tool_calls?.length) continue
    const ids = message.tool_calls.map((call) => call.id)
    expect(new Set(ids).size, "tool call ids are unique within a message").toBe(ids.length)
    const following = messages.slice(i + 1, i + 1 + ids.length)
    expect(following.map((m) => m.role), `the ${ids.length} messages after assistant message ${i}`).toEqual(ids.map(() => "tool"))
    expect(following.map((m) => (m.role === "tool" ? m.tool_call_id : "")).sort()).toEqual([...ids].sort())
    for (const id of ids) expect(answers.get(id), `tool call ${id} answered once`).toBe(1)
  }
}

/** Every tool_use id of the request appears as exactly one tool call and is answered by exactly one tool message. */
const expectEveryToolUseAnswered = (req: A.MessagesRequest, messages: ReadonlyArray<O.ChatMessage>) => {
  const toolUseIds = req.messages.flatMap((m) =>
    typeof m.content === "string" ? [] : m.content.filter((b) => b.type === "tool_use").map((b) => (b as A.ToolUseBlock).id)
  )
  const callIds = messages.flatMap((m) => (m.role === "assistant" ? (m.tool_calls ?? []).map((c) => c.id) : []))
  expect(callIds.sort()).toEqual([...toolUseIds].sort())
  for (const id of toolUseIds) {
    expect(messages.filter((m) => m.role === "tool" && m.tool_call_id === id), `answers to ${id}`).toHaveLength(1)
  }
}

// ---------------------------------------------------------------------------------------------------------------
// System prompt
// ---------------------------------------------------------------------------------------------------------------

const BILLING_PREFIX = "x-anthropic-billing-header:"

/** The system text as the upstream must see it: every non-blank block (without the per-request billing line). */
const expectedSystem = (system: A.MessagesRequest["system"]): string => {
  if (system === undefined) return ""
  const texts = typeof system === "string" ? [system] : system.map((b) => b.text)
  return texts
    .map((t) => t.split("\n").filter((line) => !line.trimStart().startsWith(BILLING_PREFIX)).join("\n"))
    .filter((t) => t.trim() !== "")
    .join("\n\n")
}

const expectSystemPreserved = (req: A.MessagesRequest, messages: ReadonlyArray<O.ChatMessage>, to: Target) => {
  const expected = expectedSystem(req.system)
  if (expected === "") return
  const first = messages[0]
  expect(first?.role).toBe("system")
  const content = first?.role === "system" ? first.content : ""
  if (to.provider === "ollama" || to.provider === "generic") {
    // Self-hosted templates: mid-conversation system turns are folded in after it.
    expect(content.startsWith(expected), `system starts with ${JSON.stringify(expected)}`).toBe(true)
  } else {
    expect(content).toBe(expected)
  }
}

// ---------------------------------------------------------------------------------------------------------------

describe("toChatRequest properties", () => {
  it("the field check catches Anthropic-only fields (it is not vacuous)", () => {
    const leaky = {
      model: "m",
      top_k: 5,
      messages: [
        { role: "user", content: [{ type: "text", text: "x", cache_control: { type: "ephemeral" } }] },
        { role: "user", content: [{ type: "tool_result", tool_use_id: "t" }] }
      ]
    } as unknown as O.ChatRequest
    expect(nonChatCompletionsFields(leaky)).toEqual(expect.arrayContaining([
      "top-level key \"top_k\"",
      "Anthropic-only key \"cache_control\"",
      "Anthropic-only type \"tool_result\"",
      "Anthropic-only key \"tool_use_id\""
    ]))
  })

  it("the pairing check catches an unanswered call and a stray tool message (it is not vacuous)", () => {
    const call = (id: string): O.ToolCall => ({ id, type: "function", function: { name: "f", arguments: "{}" } })
    expect(() => expectToolCallsAnsweredOnce([
      { role: "assistant", content: null, tool_calls: [call("a"), call("b")] },
      { role: "tool", tool_call_id: "a", content: "" },
      { role: "user", content: "x" }
    ])).toThrow()
    expect(() => expectToolCallsAnsweredOnce([
      { role: "user", content: "x" },
      { role: "tool", tool_call_id: "a", content: "" }
    ])).toThrow()
  })

  it("the generated requests are valid Anthropic requests (the schema accepts them)", () => {
    fc.assert(fc.property(messagesRequest, (req) => {
      decode(req)
    }), { numRuns: 200 })
  })

  it(`every tool_use is one tool call answered by exactly one tool message, in Chat Completions order (${NUM_RUNS} runs)`, () => {
    fc.assert(
      fc.property(messagesRequest, target, (req, to) => {
        const { request } = convert(req, to)
        expectToolCallsAnsweredOnce(request.messages)
        expectEveryToolUseAnswered(req, request.messages)
      }),
      { numRuns: NUM_RUNS }
    )
  })

  it(`the system text is preserved (${NUM_RUNS} runs)`, () => {
    fc.assert(
      fc.property(messagesRequest, target, (req, to) => {
        expectSystemPreserved(req, convert(req, to).request.messages, to)
      }),
      { numRuns: NUM_RUNS }
    )
  })

  it(`no Anthropic-only field or block type goes upstream (${NUM_RUNS} runs)`, () => {
    fc.assert(
      fc.property(messagesRequest, target, (req, to) => {
        expect(nonChatCompletionsFields(convert(req, to).request)).toEqual([])
      }),
      { numRuns: NUM_RUNS }
    )
  })

  it(`tool names upstream are valid function names, unique, and map back to the client's (${NUM_RUNS} runs)`, () => {
    fc.assert(
      fc.property(messagesRequest, target, (req, to) => {
        const { request, toolNames } = convert(req, to)
        const valid = /^[a-zA-Z0-9_-]{1,64}$/
        const declared = (request.tools ?? []).map((t) => t.function.name)
        expect(new Set(declared).size).toBe(declared.length)
        const called = request.messages.flatMap((m) => (m.role === "assistant" ? (m.tool_calls ?? []).map((c) => c.function.name) : []))
        for (const name of [...declared, ...called]) expect(name).toMatch(valid)
        // Back to the client's names: the upstream name of each client tool maps back to it.
        const clientNames = new Set([
          ...(req.tools ?? []).filter((t) => t.type == null || t.type === "custom").map((t) => t.name),
          ...req.messages.flatMap((m) =>
            typeof m.content === "string" ? [] : m.content.filter((b) => b.type === "tool_use").map((b) => (b as A.ToolUseBlock).name)
          )
        ])
        for (const name of [...declared, ...called]) {
          expect(clientNames).toContain(toolNames.get(name) ?? name)
        }
      }),
      { numRuns: NUM_RUNS }
    )
  })

  it(`the upstream request is plain JSON: it survives a JSON round trip unchanged (${NUM_RUNS} runs)`, () => {
    fc.assert(
      fc.property(messagesRequest, target, (req, to) => {
        const { request } = convert(req, to)
        expect(JSON.parse(JSON.stringify(request))).toEqual(request)
        expect(request.stream === true).toBe(req.stream === true)
        const limit = request.max_tokens ?? request.max_completion_tokens
        expect(limit).toBeGreaterThanOrEqual(1)
      }),
      { numRuns: NUM_RUNS }
    )
  })
})
