import { describe, expect, it } from "@effect/vitest"
import { checkStructure, DEFAULT_STRUCTURE_LIMITS, type StructureLimits } from "../../src/guardrails/structure.ts"
import { claudeCodeBodies, nested } from "./samples.ts"

const base = (extra: Record<string, unknown> = {}) => ({
  model: "claude-x",
  max_tokens: 1024,
  messages: [{ role: "user", content: "hi" }],
  ...extra
})

const limits = (patch: Partial<StructureLimits>): StructureLimits => ({ ...DEFAULT_STRUCTURE_LIMITS, ...patch })

describe("checkStructure", () => {
  it.each(claudeCodeBodies())(
    "accepts what Claude Code sends (%s) under the defaults",
    (_name, text) => {
      expect(checkStructure(JSON.parse(text), DEFAULT_STRUCTURE_LIMITS)).toBeUndefined()
    }
  )

  it.each<[string, unknown, Partial<StructureLimits>, string]>([
    [
      "too many messages",
      base({ messages: [{ role: "user", content: "a" }, { role: "assistant", content: "b" }, { role: "user", content: "c" }] }),
      { maxMessages: 2 },
      "messages: 3 messages, more than 2 (MAX_MESSAGES)"
    ],
    [
      "too many tools",
      base({ tools: [{ name: "a" }, { name: "b" }] }),
      { maxTools: 1 },
      "tools: 2 tools, more than 1 (MAX_TOOLS)"
    ],
    [
      "too many content blocks, counted across messages",
      base({
        messages: [
          { role: "user", content: [{ type: "text", text: "a" }, { type: "text", text: "b" }] },
          { role: "assistant", content: [{ type: "text", text: "c" }] },
          { role: "user", content: [{ type: "text", text: "d" }] }
        ]
      }),
      { maxContentBlocks: 3 },
      "messages.2.content: more than 3 content blocks in the request (MAX_CONTENT_BLOCKS)"
    ],
    [
      "too many content blocks, tool_result contents included",
      base({
        messages: [{
          role: "user",
          content: [{ type: "tool_result", tool_use_id: "t", content: [{ type: "text", text: "a" }, { type: "text", text: "b" }] }]
        }]
      }),
      { maxContentBlocks: 2 },
      "messages.0.content: more than 2 content blocks in the request (MAX_CONTENT_BLOCKS)"
    ],
    [
      "too many system blocks",
      base({ system: [{ type: "text", text: "a" }, { type: "text", text: "b" }] }),
      { maxContentBlocks: 1 },
      "system: more than 1 content blocks in the request (MAX_CONTENT_BLOCKS)"
    ],
    [
      "a long string, with its path",
      base({ messages: [{ role: "user", content: [{ type: "text", text: "x".repeat(101) }] }] }),
      { maxStringLength: 100 },
      "messages.0.content.0.text: string of 101 characters, longer than 100 (MAX_STRING_LENGTH)"
    ],
    [
      "a long string in an array",
      base({ stop_sequences: ["ok", "y".repeat(15)] }),
      { maxStringLength: 14 },
      "stop_sequences.1: string of 15 characters, longer than 14 (MAX_STRING_LENGTH)"
    ],
    [
      "a long object key",
      base({ metadata: { ["k".repeat(60)]: 1 } }),
      { maxStringLength: 50 },
      "metadata: object key of 60 characters, longer than 50 (MAX_STRING_LENGTH)"
    ],
    [
      "deep nesting, the path cut short",
      base({ messages: [{ role: "user", content: [{ type: "tool_use", id: "t", name: "n", input: nested(20) }] }] }),
      { maxDepth: 16 },
      "messages.0.content.0.input.a.…: nesting deeper than 16 levels (MAX_JSON_DEPTH)"
    ],
    [
      "deep arrays",
      base({ metadata: { deep: [[[[[[1]]]]]] } }),
      { maxDepth: 6 },
      "metadata.deep.0.0.0.0: nesting deeper than 6 levels (MAX_JSON_DEPTH)"
    ]
  ])("refuses %s", (_name, body, patch, message) => {
    expect(checkStructure(body, limits(patch))).toBe(message)
  })

  it("with the body's size known, the depth-only walk (no string can be too long) names the same place", () => {
    const deep = base({ messages: [{ role: "user", content: [{ type: "tool_use", id: "t", name: "n", input: nested(20) }] }] })
    const arrays = base({ metadata: { deep: [[[[[[1]]]]]] } })
    for (const [body, maxDepth] of [[deep, 16], [arrays, 6], [base(), 2]] as const) {
      const bytes = JSON.stringify(body).length
      expect(checkStructure(body, limits({ maxDepth }), bytes)).toBe(checkStructure(body, limits({ maxDepth })))
      expect(checkStructure(body, limits({ maxDepth }), bytes)).toContain("MAX_JSON_DEPTH")
    }
    // Given a size within the string limit, only the depth is walked (the size vouches for the strings).
    const longKey = base({ metadata: { ["k".repeat(60)]: "v" } })
    expect(checkStructure(longKey, limits({ maxStringLength: 50 }), 50)).toBeUndefined()
    expect(checkStructure(longKey, limits({ maxStringLength: 50 }))).toContain("object key of 60 characters")
    // A body longer than the string limit is walked whole, strings and keys included.
    const long = base({ metadata: { note: "v".repeat(60) } })
    expect(checkStructure(long, limits({ maxStringLength: 50 }), JSON.stringify(long).length)).toBe(
      "metadata.note: string of 60 characters, longer than 50 (MAX_STRING_LENGTH)"
    )
  })

  it("is at a limit, not over it, when equal", () => {
    expect(checkStructure(base(), limits({ maxMessages: 1, maxStringLength: 10 }))).toBeUndefined()
    // body(1) → messages(2) → message(3): depth 3 exactly.
    expect(checkStructure(base(), limits({ maxDepth: 3 }))).toBeUndefined()
    expect(checkStructure(base(), limits({ maxDepth: 2 }))).toBe("messages.0: nesting deeper than 2 levels (MAX_JSON_DEPTH)")
  })

  it("clips a long key in the path so the message stays one short line", () => {
    const key = "k".repeat(500)
    const message = checkStructure(base({ metadata: { [key]: "v".repeat(600) } }), limits({ maxStringLength: 550 }))
    expect(message).toBe(`metadata.${"k".repeat(40)}…: string of 600 characters, longer than 550 (MAX_STRING_LENGTH)`)
  })

  it("refuses a 10,000-level tool input and tool schema by the depth limit, before anything recursive sees them", () => {
    const input = base({ messages: [{ role: "assistant", content: [{ type: "tool_use", id: "t", name: "n", input: nested(10_000) }] }] })
    expect(checkStructure(input, DEFAULT_STRUCTURE_LIMITS)).toBe(
      "messages.0.content.0.input.a.…: nesting deeper than 64 levels (MAX_JSON_DEPTH)"
    )
    const schema = base({ tools: [{ name: "deep", input_schema: { type: "object", properties: nested(10_000) } }] })
    expect(checkStructure(schema, DEFAULT_STRUCTURE_LIMITS)).toBe(
      "tools.0.input_schema.properties.a.a.…: nesting deeper than 64 levels (MAX_JSON_DEPTH)"
    )
  })

  it("is iterative: 100,000 levels (JSON.stringify overflows at ~8,000) do not overflow it", () => {
    const deep = JSON.parse(`{"messages":${"[".repeat(100_000)}${"]".repeat(100_000)}}`)
    expect(checkStructure(deep, DEFAULT_STRUCTURE_LIMITS)).toBe("messages.0.0.0.0.0.…: nesting deeper than 64 levels (MAX_JSON_DEPTH)")
    // With no depth limit to stop it, the walk still goes all the way down without recursion.
    expect(checkStructure(deep, limits({ maxDepth: 200_000 }))).toBeUndefined()
  })

  it("tolerates bodies of the wrong shape (the schema reports those, later)", () => {
    for (const body of [null, 1, "text", [], { messages: "x" }, { messages: [null, 1, { content: [null] }] }, { tools: {} }]) {
      expect(checkStructure(body, DEFAULT_STRUCTURE_LIMITS)).toBeUndefined()
    }
    expect(checkStructure("x".repeat(11), limits({ maxStringLength: 10 }))).toBe(
      "(body): string of 11 characters, longer than 10 (MAX_STRING_LENGTH)"
    )
  })
})
