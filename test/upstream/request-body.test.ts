/**
 * The upstream body writer must give exactly the bytes `JSON.stringify` gives, cold or warm, for every shape a
 * converted request can take; its cache must stay within its bounds.
 */
import { describe, expect, it } from "@effect/vitest"
import { Result, Schema } from "effect"
import { readFileSync } from "node:fs"
import { toChatRequest } from "../../src/convert/request.ts"
import { MessagesRequest } from "../../src/protocol/anthropic.ts"
import type { ChatRequest } from "../../src/protocol/openai.ts"
import { LiteralCache, serializeChatRequest } from "../../src/upstream/request-body.ts"

const decoder = new TextDecoder()
const written = (request: unknown, cache = new LiteralCache(1 << 20)) =>
  decoder.decode(serializeChatRequest(request as ChatRequest, cache))

const converted = (file: string): ChatRequest => {
  const body = Schema.decodeUnknownSync(MessagesRequest)(
    JSON.parse(readFileSync(new URL(`../fixtures/claude-code/${file}`, import.meta.url), "utf8"))
  )
  const result = toChatRequest(body, { model: "gpt-5", provider: "openai" })
  if (Result.isFailure(result)) throw result.failure
  return result.success.request
}

/** Long strings of every kind: escapes, newlines, tabs, quotes, control characters, non-Latin-1, astral. */
const long = (seed: string) =>
  Array.from({ length: 400 }, (_, i) => `${seed} ${i}\t"quoted" \\ back\nline — dash 🤖 \u0001 é`).join("")

describe("serializeChatRequest", () => {
  it("gives JSON.stringify's bytes for real Claude Code turns, cold and warm", () => {
    const cache = new LiteralCache(1 << 24)
    for (const file of ["first-turn.request.json", "tool-turn-2.request.json"]) {
      const request = converted(file)
      expect(written(request, cache)).toBe(JSON.stringify(request))
      expect(written(request, cache)).toBe(JSON.stringify(request))
    }
    expect(cache.size).toBeGreaterThan(0)
  })

  it("gives JSON.stringify's bytes for every field shape", () => {
    const request = {
      model: "m",
      messages: [
        { role: "system", content: long("system") },
        { role: "user", content: [{ type: "text", text: long("text") }, { type: "image_url", image_url: { url: `data:image/png;base64,${"QUJD".repeat(600)}`, detail: undefined } }] },
        { role: "assistant", content: null, tool_calls: [{ id: "c1", type: "function", function: { name: "Write", arguments: JSON.stringify({ file: long("file") }) } }] },
        { role: "tool", tool_call_id: "c1", content: long("result") },
        { role: "user", content: "short", name: undefined }
      ],
      tools: [{ type: "function", function: { name: "Write", description: long("description"), parameters: { type: "object", properties: { a: { type: "string", description: long("nested") } } } } }],
      temperature: -0,
      top_p: Number.NaN,
      stop: ["a", undefined, "b"],
      metadata: { nested: [1, { deep: long("deep") }], when: new Date(0) },
      stream: true,
      stream_options: { include_usage: true },
      user: undefined
    }
    const cache = new LiteralCache(1 << 24)
    expect(written(request, cache)).toBe(JSON.stringify(request))
    expect(written(request, cache)).toBe(JSON.stringify(request))
  })
})

describe("LiteralCache", () => {
  it("returns the same bytes for the same string, and keeps strings by value, not identity", () => {
    const cache = new LiteralCache(1 << 20)
    const text = long("a")
    const first = cache.literal(text)
    expect(cache.literal(`${text.slice(0, 10)}${text.slice(10)}`)).toBe(first)
    expect(decoder.decode(first)).toBe(JSON.stringify(text))
  })

  it("evicts the least recently used beyond its bound, and never keeps a string over half of it", () => {
    const text = (n: number) => `${n}`.padEnd(10_000, "x")
    const cache = new LiteralCache(100_000) // each entry costs 10 KB of literal + 20 KB of key: three fit
    const [l0, l1, l2] = [0, 1, 2].map((n) => cache.literal(text(n)))
    expect(cache.size).toBe(3)
    expect(cache.literal(text(0))).toBe(l0) // 0 is now the most recent, 1 the least
    cache.literal(text(3))
    expect(cache.size).toBe(3)
    expect(cache.literal(text(2))).toBe(l2)
    expect(cache.literal(text(0))).toBe(l0)
    expect(cache.literal(text(1))).not.toBe(l1) // evicted, so serialised afresh
    const big = "y".repeat(20_000) // 60 KB with its key
    expect(cache.literal(big)).not.toBe(cache.literal(big))
    expect(cache.size).toBe(3)
  })

  it("tells apart strings of one length, and keeps at most 8 of a length (the least recently used of them goes)", () => {
    const cache = new LiteralCache(1 << 24)
    const text = (n: number) => `${String(n).padStart(2, "0")}`.padEnd(2_000, "z") // all 2,000 characters
    const literals = Array.from({ length: 8 }, (_, n) => cache.literal(text(n)))
    for (let n = 0; n < 8; n++) {
      expect(cache.literal(text(n))).toBe(literals[n])
      expect(decoder.decode(literals[n]!)).toBe(JSON.stringify(text(n)))
    }
    expect(cache.literal(text(0))).toBe(literals[0]) // 0 used again: 1 is now the least recently used
    cache.literal(text(8)) // a ninth of the length: 1 makes room
    expect(cache.size).toBe(8)
    expect(cache.literal(text(0))).toBe(literals[0])
    expect(cache.literal(text(2))).toBe(literals[2])
    expect(cache.literal(text(1))).not.toBe(literals[1])
    expect(cache.size).toBe(8)
  })
})
