/**
 * The structural check as the body reader runs it: between JSON.parse and the schema decode. A body nested
 * 10,000 levels deep used to reach the recursive steps behind the decode and come back as a 500.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import { InvalidRequest, toAnthropicError } from "../../src/errors.ts"
import { checkStructure, DEFAULT_STRUCTURE_LIMITS } from "../../src/guardrails/structure.ts"
import { jsonBodyReader } from "../../src/http/body.ts"
import { CountTokensRequest, MessagesRequest } from "../../src/protocol/anthropic.ts"
import { claudeCodeBodies } from "./samples.ts"

/** `{"a":{"a":…{}}}` as text: JSON.stringify itself cannot write it (it overflows near 8,000 levels). */
const deepJson = (levels: number) => `${'{"a":'.repeat(levels - 1)}{}${"}".repeat(levels - 1)}`

const deepToolInput = JSON.stringify({
  model: "claude-sonnet-4-6",
  max_tokens: 100,
  messages: [
    { role: "user", content: "go" },
    { role: "assistant", content: [{ type: "tool_use", id: "toolu_1", name: "Deep", input: "INPUT" }] }
  ]
}).replace('"INPUT"', deepJson(10_000))

const deepToolSchema = JSON.stringify({
  model: "claude-sonnet-4-6",
  max_tokens: 100,
  messages: [{ role: "user", content: "go" }],
  tools: [{ name: "Deep", input_schema: { type: "object", properties: "SCHEMA" } }]
}).replace('"SCHEMA"', deepJson(10_000))

const post = (text: string) =>
  HttpServerRequest.fromWeb(
    new Request("http://proxy.test/v1/messages", { method: "POST", body: text, headers: { "content-type": "application/json" } })
  )

const MAX_BYTES = 32 * 1024 * 1024
const check = (json: unknown) => checkStructure(json, DEFAULT_STRUCTURE_LIMITS)
const readMessages = jsonBodyReader(MessagesRequest, MAX_BYTES, check)
const readCountTokens = jsonBodyReader(CountTokensRequest, MAX_BYTES, check)

describe("jsonBodyReader with the structural check", () => {
  it.effect.each<readonly [string, string, string]>([
    ["tool input", deepToolInput, "messages.1.content.0.input.a.…: nesting deeper than 64 levels (MAX_JSON_DEPTH)"],
    ["tool schema", deepToolSchema, "tools.0.input_schema.properties.a.a.…: nesting deeper than 64 levels (MAX_JSON_DEPTH)"]
  ])("a 10,000-level %s is a 400 naming the limit and its variable", ([_name, text, message]) =>
    Effect.gen(function*() {
      for (const read of [readMessages, readCountTokens]) {
        const error = yield* Effect.flip(read(post(text)))
        expect(error).toBeInstanceOf(InvalidRequest)
        expect(toAnthropicError(error)).toMatchObject({ status: 400, type: "invalid_request_error", message })
      }
    }))

  it.effect("without the check the same body decodes, and the first JSON.stringify downstream overflows: the old 500", () =>
    Effect.gen(function*() {
      const decoded = yield* jsonBodyReader(MessagesRequest, MAX_BYTES)(post(deepToolInput))
      expect(() => JSON.stringify(decoded.value)).toThrow(RangeError)
    }))

  it.effect("Claude Code's own bodies pass the check and decode as before", () =>
    Effect.gen(function*() {
      for (const [, text] of claudeCodeBodies()) {
        const decoded = yield* readMessages(post(text))
        expect(decoded.bytes).toBe(Buffer.byteLength(text))
      }
    }))

  it.effect("runs after the JSON and object checks, before the schema", () =>
    Effect.gen(function*() {
      const calls: Array<unknown> = []
      const spy = (json: unknown) => {
        calls.push(json)
        return undefined
      }
      const read = jsonBodyReader(MessagesRequest, MAX_BYTES, spy)
      expect((yield* Effect.flip(read(post("{not json")))).message).toMatch(/^Invalid JSON/)
      expect((yield* Effect.flip(read(post("[1]")))).message).toBe("Request body must be a JSON object")
      expect(calls).toEqual([])
      // The check saw the body; the schema then refused it for its own reason.
      expect((yield* Effect.flip(read(post('{"model":1}')))).message).toMatch(/^model/)
      expect(calls).toEqual([{ model: 1 }])
    }))
})
