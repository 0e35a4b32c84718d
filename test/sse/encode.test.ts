import { describe, expect, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import type { StreamEvent } from "../../src/protocol/anthropic.ts"
import { encodeEvent, encodeEvents } from "../../src/sse/encode.ts"

const events: Array<StreamEvent> = [
  { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } },
  { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "naïve ☕\n\"quoted\"" } },
  { type: "content_block_stop", index: 0 }
]

describe("encodeEvent", () => {
  it("writes the event line the SDK dispatches on, then the JSON, then a blank line", () => {
    expect(encodeEvent({ type: "message_stop" })).toBe("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
    expect(encodeEvent({ type: "ping" })).toBe("event: ping\ndata: {\"type\":\"ping\"}\n\n")
  })

  it("keeps newlines inside the JSON escaped, so every event is exactly one data line", () => {
    const text = encodeEvent(events[1]!)
    expect(text.split("\n")).toEqual([
      "event: content_block_delta",
      `data: ${JSON.stringify(events[1])}`,
      "",
      ""
    ])
  })
})

describe("encodeEvents", () => {
  it.effect("produces one byte array per stream chunk", () =>
    Effect.gen(function*() {
      const batches = yield* Stream.runCollect(encodeEvents(Stream.fromArray(events)))
      expect(batches).toHaveLength(1)
      expect(new TextDecoder().decode(batches[0])).toBe(events.map(encodeEvent).join(""))
    }))

  it.effect("keeps the stream's chunking", () =>
    Effect.gen(function*() {
      const source = Stream.concat(Stream.fromArray(events.slice(0, 2)), Stream.fromArray(events.slice(2)))
      const batches = yield* Stream.runCollect(encodeEvents(source))
      expect(batches.map((bytes) => new TextDecoder().decode(bytes))).toEqual([
        events.slice(0, 2).map(encodeEvent).join(""),
        encodeEvent(events[2]!)
      ])
    }))
})
