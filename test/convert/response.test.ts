import { describe, expect, it } from "@effect/vitest"
import { Result } from "effect"
import {
  JsonShape,
  PLACEHOLDER_SIGNATURE,
  type ReplyContext,
  sanitizeToolId,
  toMessage,
  toToolInput
} from "../../src/convert/response.ts"
import type { MessageResponse } from "../../src/protocol/anthropic.ts"
import type { ChatResponse, ResponseToolCall } from "../../src/protocol/openai.ts"

const ctx: ReplyContext = {
  messageId: "msg_01XFDUDYJgAACzvnptvVoYEL",
  clientModel: "claude-sonnet-4-5-20250929",
  toolNames: new Map([["mcp__github__create_issue_3f9a1c2b", "mcp__github__create.issue"]])
}

type Message = NonNullable<NonNullable<ChatResponse["choices"]>[number]["message"]>

const completion = (
  message: Message,
  finish: string | null = "stop",
  usage: ChatResponse["usage"] = { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
  choice: Record<string, unknown> = {}
): ChatResponse => ({
  id: "chatcmpl-C4sBq0cX2mJw7Ry1TdN5vLkGh8aPe",
  model: "gpt-4.1-2025-04-14",
  choices: [{ index: 0, message: { role: "assistant", ...message }, finish_reason: finish, ...choice }],
  usage
})

const convert = (response: ChatResponse): MessageResponse => Result.getOrThrow(toMessage(response, ctx))

const call = (id: string | null, name: string, args: string | null): ResponseToolCall => ({
  id,
  type: "function",
  function: { name, arguments: args }
})

describe("toMessage", () => {
  it("converts a plain answer, echoing the client's model and our message id", () => {
    expect(convert(completion({ content: "Hello!", refusal: null }))).toEqual({
      id: "msg_01XFDUDYJgAACzvnptvVoYEL",
      type: "message",
      role: "assistant",
      model: "claude-sonnet-4-5-20250929",
      content: [{ type: "text", text: "Hello!" }],
      stop_reason: "end_turn",
      stop_sequence: null,
      usage: { input_tokens: 10, output_tokens: 5, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 }
    })
  })

  it("returns a single empty text block when the answer has no content at all", () => {
    expect(convert(completion({ content: "" })).content).toEqual([{ type: "text", text: "" }])
    expect(convert(completion({ content: null })).content).toEqual([{ type: "text", text: "" }])
    expect(convert({ choices: [{ index: 0, finish_reason: "stop" }] }).content).toEqual([{ type: "text", text: "" }])
  })

  describe("reasoning", () => {
    it("puts DeepSeek's reasoning_content first, as thinking with a placeholder signature", () => {
      const message = convert(completion({ reasoning_content: "17 × 23 = 391.", content: "391" }))
      expect(message.content).toEqual([
        { type: "thinking", thinking: "17 × 23 = 391.", signature: PLACEHOLDER_SIGNATURE },
        { type: "text", text: "391" }
      ])
    })

    it("reads OpenRouter's reasoning once (not again from reasoning_details) and keeps its signature", () => {
      const message = convert(completion({
        content: "Canberra.",
        reasoning: "Capital of Australia: Canberra.",
        reasoning_details: [
          { type: "reasoning.text", text: "Capital of Australia: Canberra.", signature: "EqgBCkYIBRgC" }
        ]
      }))
      expect(message.content).toEqual([
        { type: "thinking", thinking: "Capital of Australia: Canberra.", signature: "EqgBCkYIBRgC" },
        { type: "text", text: "Canberra." }
      ])
    })

    it("falls back to reasoning_details text and summaries, and turns encrypted reasoning into redacted_thinking", () => {
      const message = convert(completion({
        content: "Done.",
        reasoning_details: [
          { type: "reasoning.summary", summary: "Plan: " },
          { type: "reasoning.text", text: "check the file." },
          { type: "reasoning.encrypted", data: "gAAAAABo-opaque" }
        ]
      }))
      expect(message.content).toEqual([
        { type: "thinking", thinking: "Plan: check the file.", signature: PLACEHOLDER_SIGNATURE },
        { type: "redacted_thinking", data: "gAAAAABo-opaque" },
        { type: "text", text: "Done." }
      ])
    })
  })

  it("turns a refusal into text and stop_reason refusal", () => {
    const message = convert(completion({ content: null, refusal: "I can't help with that." }))
    expect(message.content).toEqual([{ type: "text", text: "I can't help with that." }])
    expect(message.stop_reason).toBe("refusal")
  })

  describe("tool calls", () => {
    it("keeps ids, maps names back to the client's, and parses arguments", () => {
      const message = convert(completion(
        {
          content: "Filing it.",
          tool_calls: [
            call("call_Q2mX7bV1nR4kT8sY0aLc3WdE", "mcp__github__create_issue_3f9a1c2b", "{\"title\":\"Bug\"}"),
            call("call_H5pJ9cN3vB6mK1tR7wXz2QyA", "Read", "{\"file_path\":\"/a.ts\"}")
          ]
        },
        "tool_calls"
      ))
      expect(message.content).toEqual([
        { type: "text", text: "Filing it." },
        { type: "tool_use", id: "call_Q2mX7bV1nR4kT8sY0aLc3WdE", name: "mcp__github__create.issue", input: { title: "Bug" } },
        { type: "tool_use", id: "call_H5pJ9cN3vB6mK1tR7wXz2QyA", name: "Read", input: { file_path: "/a.ts" } }
      ])
      expect(message.stop_reason).toBe("tool_use")
    })

    it("synthesizes missing ids and sanitizes invalid ones deterministically", () => {
      const message = convert(completion({
        tool_calls: [
          call(null, "Read", "{}"),
          call("functions.Read:1", "Read", "{}"),
          call("functions.Read_1", "Read", "{}"),
          call("call_dup", "Read", "{}"),
          call("call_dup", "Read", "{}")
        ]
      }))
      const ids = message.content.map((block) => (block.type === "tool_use" ? block.id : ""))
      expect(ids).toEqual([
        "toolu_01XFDUDYJgAACzvnptvVoYEL_0",
        sanitizeToolId("functions.Read:1"),
        sanitizeToolId("functions.Read_1"),
        "call_dup",
        "toolu_01XFDUDYJgAACzvnptvVoYEL_4"
      ])
      for (const id of ids) expect(id).toMatch(/^[a-zA-Z0-9_-]+$/)
      expect(new Set(ids).size).toBe(ids.length)
      expect(sanitizeToolId("functions.Read:1")).toBe(sanitizeToolId("functions.Read:1"))
      expect(sanitizeToolId("functions.Read:1")).not.toBe(sanitizeToolId("functions.Read.1"))
      expect(sanitizeToolId("call_abc-123")).toBe("call_abc-123")
    })

    it("skips calls that are not function calls", () => {
      const message = convert(completion({ content: "x", tool_calls: [{ id: "ct_1", type: "custom" }] }))
      expect(message.content).toEqual([{ type: "text", text: "x" }])
      expect(message.stop_reason).toBe("end_turn")
    })
  })

  describe("stop_reason", () => {
    const stop = (finish: string | null, options: { tools?: boolean; choice?: Record<string, unknown> } = {}) =>
      convert(completion(
        { content: "x", ...(options.tools ? { tool_calls: [call("call_1", "Read", "{}")] } : {}) },
        finish,
        undefined,
        options.choice
      ))

    it.each([
      ["stop", "end_turn"],
      ["length", "max_tokens"],
      ["content_filter", "refusal"],
      [null, "end_turn"],
      ["something_new", "end_turn"],
      // no tool_use block, so no tool_use stop: the content decides
      ["tool_calls", "end_turn"],
      ["function_call", "end_turn"]
    ] as const)("%s → %s", (finish, expected) => {
      expect(stop(finish).stop_reason).toBe(expected)
    })

    it.each(["tool_calls", "function_call", "stop", "content_filter", "something_new", null])(
      "%s with tool calls → tool_use",
      (finish) => {
        expect(stop(finish, { tools: true }).stop_reason).toBe("tool_use")
      }
    )

    it("length with tool calls → max_tokens: a call cut by the token limit must not run", () => {
      const message = convert(completion({ tool_calls: [call("call_1", "Bash", "{\"command\":\"rm -r /tmp/bu")] }, "length"))
      expect(message.stop_reason).toBe("max_tokens")
      expect(message.content).toEqual([
        { type: "tool_use", id: "call_1", name: "Bash", input: { raw_arguments: "{\"command\":\"rm -r /tmp/bu" } }
      ])
    })

    it("reports vLLM's matched stop string as stop_sequence", () => {
      const message = stop("stop", { choice: { stop_reason: "```" } })
      expect([message.stop_reason, message.stop_sequence]).toEqual(["stop_sequence", "```"])
      const tokenId = stop("stop", { choice: { stop_reason: 128001 } })
      expect([tokenId.stop_reason, tokenId.stop_sequence]).toEqual(["end_turn", null])
    })
  })

  describe("usage", () => {
    const usageOf = (usage: ChatResponse["usage"]) => convert(completion({ content: "x" }, "stop", usage)).usage

    it("splits OpenAI's cached prompt tokens out of input_tokens", () => {
      expect(usageOf({
        prompt_tokens: 4817,
        completion_tokens: 61,
        prompt_tokens_details: { cached_tokens: 4608 },
        completion_tokens_details: { reasoning_tokens: 0 }
      })).toEqual({ input_tokens: 209, output_tokens: 61, cache_creation_input_tokens: 0, cache_read_input_tokens: 4608 })
    })

    it("reads DeepSeek's prompt_cache_hit_tokens and reports reasoning tokens", () => {
      expect(usageOf({
        prompt_tokens: 1412,
        completion_tokens: 187,
        prompt_cache_hit_tokens: 1280,
        prompt_cache_miss_tokens: 132,
        completion_tokens_details: { reasoning_tokens: 121 }
      })).toEqual({
        input_tokens: 132,
        output_tokens: 187,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 1280,
        output_tokens_details: { thinking_tokens: 121 }
      })
    })

    it("splits OpenRouter's cache writes out as cache_creation_input_tokens", () => {
      expect(usageOf({
        prompt_tokens: 2412,
        completion_tokens: 96,
        prompt_tokens_details: { cached_tokens: 2048, cache_write_tokens: 300 }
      })).toEqual({ input_tokens: 64, output_tokens: 96, cache_creation_input_tokens: 300, cache_read_input_tokens: 2048 })
    })

    it("gives zeros, not an error, when usage is missing or partial", () => {
      const zeros = { input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 }
      expect(convert({ choices: [{ index: 0, message: { content: "x" }, finish_reason: "stop" }] }).usage).toEqual(zeros)
      expect(usageOf(null)).toEqual(zeros)
      expect(usageOf({ completion_tokens: 3 })).toEqual({ ...zeros, output_tokens: 3 })
    })
  })

  describe("failures", () => {
    it("turns a body with an error and no choices into an UpstreamFailure", () => {
      const result = toMessage({ error: { code: 429, message: "Rate limit exceeded" } }, ctx)
      expect(Result.isFailure(result) && result.failure).toMatchObject({
        _tag: "UpstreamFailure",
        upstreamStatus: 429,
        message: "Rate limit exceeded"
      })
    })

    it("redacts the context's secrets (and sk- keys) from an error in the body", () => {
      const result = toMessage(
        { error: { code: 401, message: "key upstream-secret-123 and sk-or-v1-0123456789abcdef revoked" } },
        { ...ctx, secrets: ["upstream-secret-123"] }
      )
      expect(Result.isFailure(result) && result.failure.message).toBe("key [redacted] and [redacted] revoked")
    })

    it("turns OpenRouter's finish_reason error into an UpstreamFailure", () => {
      const result = toMessage({
        choices: [{ index: 0, message: { content: "partial" }, finish_reason: "error" }],
        error: { code: 502, message: "Provider returned error" }
      }, ctx)
      expect(Result.isFailure(result) && result.failure).toMatchObject({ _tag: "UpstreamFailure", upstreamStatus: 502 })
    })

    it("reports a body without choices as an UpstreamProtocolError", () => {
      for (const body of [{}, { choices: [] }, { choices: null }]) {
        const result = toMessage(body, ctx)
        expect(Result.isFailure(result) && result.failure._tag).toBe("UpstreamProtocolError")
      }
    })
  })
})

describe("toToolInput", () => {
  const input = (args: string | null | undefined) => toToolInput(args, { repair: true })

  it("parses objects and wraps everything else so input is always an object", () => {
    expect(input("{\"a\":1,\"b\":{\"c\":[1,2]}}")).toEqual({ a: 1, b: { c: [1, 2] } })
    expect(input("[1,2]")).toEqual({ value: [1, 2] })
    expect(input("\"ls\"")).toEqual({ value: "ls" })
    expect(input("42")).toEqual({ value: 42 })
    expect(input("null")).toEqual({})
    expect(input("")).toEqual({})
    expect(input("   ")).toEqual({})
    expect(input(null)).toEqual({})
    expect(input(undefined)).toEqual({})
  })

  it("repairs trailing garbage, missing closers and code fences", () => {
    expect(input("{\"command\":\"ls\"}}")).toEqual({ command: "ls" })
    expect(input("{\"command\":\"ls\"} <|call_end|>")).toEqual({ command: "ls" })
    expect(input("{\"a\":{\"b\":\"}{\"")).toEqual({ a: { b: "}{" } })
    expect(input("{\"a\":[1,2")).toEqual({ a: [1, 2] })
    expect(input("{\"a\":1,")).toEqual({ a: 1 })
    expect(input("```json\n{\"a\":1}\n```")).toEqual({ a: 1 })
  })

  it("keeps what it cannot repair visible as raw_arguments", () => {
    expect(input("{\"a\": oops}")).toEqual({ raw_arguments: "{\"a\": oops}" })
    expect(input("not json")).toEqual({ raw_arguments: "not json" })
  })

  it("does not complete arguments cut by the token limit", () => {
    expect(toToolInput("{\"content\":\"half a fi", { repair: false })).toEqual({ raw_arguments: "{\"content\":\"half a fi" })
    const cut = convert(completion({ tool_calls: [call("call_1", "Write", "{\"content\":\"half")] }, "length"))
    expect(cut.content).toEqual([{ type: "tool_use", id: "call_1", name: "Write", input: { raw_arguments: "{\"content\":\"half" } }])
    expect(cut.stop_reason).toBe("max_tokens")
  })
})

describe("JsonShape", () => {
  const shapeOf = (...pieces: Array<string>) => {
    const shape = new JsonShape()
    for (const piece of pieces) shape.feed(piece)
    return shape
  }

  it("knows when a streamed object is complete, whatever the fragment boundaries", () => {
    const text = "{\"pattern\": \"TODO\\\\(\", \"glob\": \"*.{ts,tsx}\", \"list\": [1, {\"x\": \"]\"}]}"
    for (let cut = 1; cut < text.length; cut++) {
      const shape = shapeOf(text.slice(0, cut), text.slice(cut))
      expect([cut, shape.isComplete, shape.end]).toEqual([cut, true, text.length])
      expect(shapeOf(text.slice(0, cut)).isComplete).toBe(false)
    }
  })

  it("reports where a complete object ends and what would close an open one", () => {
    expect(shapeOf("  {\"a\":1} trailing").end).toBe(9)
    expect(shapeOf("{\"a\":[{\"b\":\"x").closingSuffix()).toBe("\"}]}")
    expect(shapeOf("\"just a string\"").isComplete).toBe(false)
    expect(shapeOf("").isComplete).toBe(false)
  })
})
