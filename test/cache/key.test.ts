/**
 * The cache key: what the upstream would be asked decides it, nothing else. Requests are converted as the pipeline
 * converts them, so the key sees what the stage sees.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Result from "effect/Result"
import { makeKeyer } from "../../src/cache/key.ts"
import { toChatRequest } from "../../src/convert/request.ts"
import type { MessagesRequest } from "../../src/protocol/anthropic.ts"

const base: MessagesRequest = {
  model: "claude-sonnet-4-6",
  max_tokens: 100,
  system: [{ type: "text", text: "You are terse." }],
  messages: [
    { role: "user", content: "What is in this file?" },
    { role: "assistant", content: [{ type: "tool_use", id: "toolu_1", name: "Read", input: { file_path: "/a.ts" } }] },
    { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_1", content: "x".repeat(5000) }] }
  ],
  tools: [{ name: "Read", description: "Reads a file", input_schema: { type: "object", properties: { file_path: { type: "string" } } } }]
}

const keyer = makeKeyer()
const keyOf = (body: MessagesRequest, model = "gpt-4.1", upstream = "openai") => {
  const converted = toChatRequest(body, { model, provider: "openai" })
  if (Result.isFailure(converted)) throw converted.failure
  return keyer.keyOf(upstream, converted.success.request)
}

describe("cache key", () => {
  const key = keyOf(base)

  it("is a stable 43-character base64url digest", () => {
    expect(key).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(keyOf(structuredClone(base))).toBe(key)
    // A fresh keyer (nothing memoised) agrees.
    const converted = toChatRequest(base, { model: "gpt-4.1", provider: "openai" })
    if (Result.isFailure(converted)) throw converted.failure
    expect(makeKeyer().keyOf("openai", converted.success.request)).toBe(key)
  })

  it("ignores the stream flag, metadata.user_id and fields that never go upstream", () => {
    expect(keyOf({ ...base, stream: true })).toBe(key)
    expect(keyOf({ ...base, stream: false })).toBe(key)
    expect(keyOf({ ...base, metadata: { user_id: "user_abc_account_1_session_2" } })).toBe(key)
    expect(keyOf({ ...base, metadata: { user_id: "someone else" } })).toBe(key)
    expect(keyOf({ ...base, top_k: 5 })).toBe(key)
    expect(keyOf({ ...base, system: [{ type: "text", text: "You are terse.", cache_control: { type: "ephemeral" } }] })).toBe(key)
  })

  it("ignores Claude Code's per-request billing line in the system prompt (the conversion strips it)", () => {
    const billed = (n: number) => ({
      ...base,
      system: [{ type: "text" as const, text: `x-anthropic-billing-header: cc_version=2.1; cch=${n};` }, ...(base.system as Array<any>)]
    })
    expect(keyOf(billed(1))).toBe(keyOf(billed(2)))
  })

  it("changes with the upstream, the upstream model, the messages, the tools and the sampling", () => {
    const others = [
      keyOf(base, "gpt-4.1-mini"),
      keyOf(base, "gpt-4.1", "openrouter"),
      keyOf({ ...base, messages: [...base.messages, { role: "assistant", content: "ok" }] }),
      keyOf({ ...base, messages: [{ role: "user", content: "What is in that file?" }, ...base.messages.slice(1)] }),
      keyOf({ ...base, messages: [...base.messages.slice(0, 2), { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_1", content: `${"x".repeat(4999)}y` }] }] }),
      keyOf({ ...base, system: "You are verbose." }),
      keyOf({ ...base, tools: [{ ...base.tools![0]!, description: "Reads a whole file" }] }),
      keyOf({ ...base, tools: [] }),
      keyOf({ ...base, tool_choice: { type: "any" } }),
      keyOf({ ...base, temperature: 0.5 }),
      keyOf({ ...base, top_p: 0.9 }),
      keyOf({ ...base, stop_sequences: ["END"] }),
      keyOf({ ...base, max_tokens: 200 })
    ]
    expect(new Set([key, ...others]).size).toBe(others.length + 1)
  })

  it("changes with the reasoning settings of a reasoning model", () => {
    const low = keyOf({ ...base, thinking: { type: "enabled", budget_tokens: 2000 } }, "o4-mini")
    const high = keyOf({ ...base, thinking: { type: "enabled", budget_tokens: 20000 } }, "o4-mini")
    expect(low).not.toBe(high)
    expect(keyOf(base, "o4-mini")).not.toBe(low)
  })

  it("a long string and its digest cannot stand in for each other (the memo is not the text)", () => {
    const long = "y".repeat(2000)
    const a = keyer.keyOf("openai", { model: "m", messages: [{ role: "user", content: long }] })
    const b = keyer.keyOf("openai", { model: "m", messages: [{ role: "user", content: `${long}z` }] })
    const c = keyer.keyOf("openai", { model: "m", messages: [{ role: "user", content: long }, { role: "user", content: long }] })
    expect(new Set([a, b, c]).size).toBe(3)
  })
})
