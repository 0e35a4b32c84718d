/**
 * Mistral's chunked `content` (Magistral's ThinkChunks): read into thinking and text blocks, streamed and whole
 * (content-chunks.ts).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import { contentPieces } from "../../src/convert/content-chunks.ts"
import { PLACEHOLDER_SIGNATURE, toMessage } from "../../src/convert/response.ts"
import type * as O from "../../src/protocol/openai.ts"
import { replayAsClient, streamContext } from "./cassettes.ts"

describe("contentPieces", () => {
  it("a string is one text piece; an empty string none", () => {
    expect(contentPieces("hi")).toEqual([{ kind: "text", text: "hi" }])
    expect(contentPieces("")).toEqual([])
    expect(contentPieces(null)).toEqual([])
  })

  it("thinking chunks join their texts; neighbours of one kind merge; other chunk types are skipped", () => {
    expect(contentPieces([
      { type: "thinking", thinking: [{ type: "text", text: "a" }, { type: "text", text: "b" }] },
      { type: "thinking", thinking: [{ type: "text", text: "c" }], closed: true } as O.ContentChunk,
      { type: "reference", text: "ignored" } as O.ContentChunk,
      { type: "text", text: "x" },
      null,
      { type: "text", text: "y" }
    ])).toEqual([{ kind: "thinking", text: "abc" }, { kind: "text", text: "xy" }])
  })
})

describe("Magistral answers", () => {
  it.effect("streamed (mistral-magistral-thinking-chunks): one thinking block, then the answer", () =>
    Effect.gen(function*() {
      const reply = yield* replayAsClient("mistral-magistral-thinking-chunks", streamContext({ provider: "mistral" }))
      expect(reply.content).toEqual([
        {
          type: "thinking",
          thinking: "The user asks for 17 * 23. 17 * 20 = 340 and 17 * 3 = 51, so 391.",
          signature: PLACEHOLDER_SIGNATURE
        },
        { type: "text", text: "17 × 23 = **391**." }
      ])
      expect(reply.stop_reason).toBe("end_turn")
    }))

  it("whole (JSON): the content list becomes thinking + text blocks, before any tool call", () => {
    const response: O.ChatResponse = {
      choices: [{
        index: 0,
        finish_reason: "tool_calls",
        message: {
          role: "assistant",
          content: [
            { type: "thinking", thinking: [{ type: "text", text: "List the sources first." }] },
            { type: "text", text: "Listing." }
          ],
          tool_calls: [{ id: "D681PevKs", type: "function", function: { name: "Glob", arguments: "{\"pattern\":\"src/*\"}" } }]
        }
      }]
    }
    const message = Result.getOrThrow(
      toMessage(response, { messageId: "msg_1", clientModel: "claude-sonnet-4-5", toolNames: new Map(), provider: "mistral" })
    )
    expect(message.content).toEqual([
      { type: "thinking", thinking: "List the sources first.", signature: PLACEHOLDER_SIGNATURE },
      { type: "text", text: "Listing." },
      { type: "tool_use", id: "D681PevKs", name: "Glob", input: { pattern: "src/*" } }
    ])
    expect(message.stop_reason).toBe("tool_use")
  })
})
