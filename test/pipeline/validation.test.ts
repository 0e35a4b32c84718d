import { describe, expect, it } from "@effect/vitest"
import type { MessagesRequest } from "../../src/protocol/anthropic.ts"
import { findViolation } from "../../src/pipeline/validation.ts"

const base: MessagesRequest = { model: "claude-sonnet-4-6", max_tokens: 2048, messages: [{ role: "user", content: "hi" }] }

describe("validation stage", () => {
  it("accepts a plain request", () => {
    expect(findViolation(base)).toBeUndefined()
  })

  it.each<[string, Partial<MessagesRequest>, string]>([
    ["no messages", { messages: [] }, "messages: at least one message is required"],
    ["empty model", { model: " " }, "model: must not be empty"],
    ["temperature above 1", { temperature: 1.5 }, "temperature: range: 0..1"],
    ["top_p below 0", { top_p: -0.1 }, "top_p: range: 0..1"],
    ["small thinking budget", { thinking: { type: "enabled", budget_tokens: 500 } }, "thinking.budget_tokens: must be at least 1024"],
    ["budget ≥ max_tokens", { thinking: { type: "enabled", budget_tokens: 4096 } }, "max_tokens must be greater than thinking.budget_tokens"],
    ["tool_choice names a missing tool", { tool_choice: { type: "tool", name: "ghost" } }, "tool_choice.name: no tool named \"ghost\" in tools"],
    [
      "duplicate tool names",
      { tools: [{ name: "a", input_schema: { type: "object" } }, { name: "a", input_schema: { type: "object" } }] },
      "tools: tool names must be unique (\"a\")"
    ]
  ])("rejects %s", (_name, patch, message) => {
    expect(findViolation({ ...base, ...patch } as MessagesRequest)).toBe(message)
  })

  it("accepts thinking disabled, adaptive thinking and tool_choice none (the seed rejected them)", () => {
    expect(findViolation({ ...base, thinking: { type: "disabled" } })).toBeUndefined()
    expect(findViolation({ ...base, thinking: { type: "adaptive" } })).toBeUndefined()
    expect(findViolation({ ...base, tool_choice: { type: "none" } })).toBeUndefined()
  })
})
