/** A stored answer served as either kind of reply: events → message, message → events, fresh id, client's model. */
import { describe, expect, it } from "@effect/vitest"
import { eventsOfMessage, messageOfEvents, replayEvents, replayMessage } from "../../src/cache/replay.ts"
import type { MessageResponse, StreamEvent } from "../../src/protocol/anthropic.ts"

const usage = { input_tokens: 12, output_tokens: 34, cache_creation_input_tokens: 0, cache_read_input_tokens: 5 }

const message: MessageResponse = {
  id: "msg_original",
  type: "message",
  role: "assistant",
  model: "claude-sonnet-4-6",
  content: [
    { type: "thinking", thinking: "Let me look.", signature: "sig" },
    { type: "text", text: "Reading it." },
    { type: "tool_use", id: "toolu_1", name: "Read", input: { file_path: "/a.ts", limit: 5 } }
  ],
  stop_reason: "tool_use",
  stop_sequence: null,
  usage
}

/** As the stream translator writes them: many deltas, pings between. */
const streamed: Array<StreamEvent> = [
  { type: "message_start", message: { ...message, content: [], stop_reason: null, usage: { ...usage, output_tokens: 1 } } },
  { type: "content_block_start", index: 0, content_block: { type: "thinking", thinking: "", signature: "" } },
  { type: "content_block_delta", index: 0, delta: { type: "thinking_delta", thinking: "Let me " } },
  { type: "ping" },
  { type: "content_block_delta", index: 0, delta: { type: "thinking_delta", thinking: "look." } },
  { type: "content_block_delta", index: 0, delta: { type: "signature_delta", signature: "sig" } },
  { type: "content_block_stop", index: 0 },
  { type: "content_block_start", index: 1, content_block: { type: "text", text: "" } },
  { type: "content_block_delta", index: 1, delta: { type: "text_delta", text: "Reading" } },
  { type: "content_block_delta", index: 1, delta: { type: "text_delta", text: " it." } },
  { type: "content_block_stop", index: 1 },
  { type: "content_block_start", index: 2, content_block: { type: "tool_use", id: "toolu_1", name: "Read", input: {} } },
  { type: "content_block_delta", index: 2, delta: { type: "input_json_delta", partial_json: "{\"file_path\": \"/a.ts\"," } },
  { type: "content_block_delta", index: 2, delta: { type: "input_json_delta", partial_json: " \"limit\": 5}" } },
  { type: "content_block_stop", index: 2 },
  { type: "message_delta", delta: { stop_reason: "tool_use", stop_sequence: null }, usage },
  { type: "message_stop" }
]

const to = { messageId: "msg_fresh", model: "claude-opus-4-6" }

describe("replay", () => {
  it("events → the message a client would accumulate", () => {
    expect(messageOfEvents(streamed)).toEqual(message)
  })

  it("message → events that accumulate back to the same message", () => {
    const events = eventsOfMessage(message)
    expect(events[0]!.type).toBe("message_start")
    expect(events.at(-1)).toEqual({ type: "message_stop" })
    expect(events.at(-2)).toMatchObject({ type: "message_delta", usage })
    expect(messageOfEvents(events)).toEqual(message)
  })

  it("an empty text block and a tool without input survive the round trip", () => {
    const odd: MessageResponse = {
      ...message,
      content: [{ type: "text", text: "" }, { type: "tool_use", id: "toolu_2", name: "Ls", input: {} }, { type: "redacted_thinking", data: "zzz" }]
    }
    expect(messageOfEvents(eventsOfMessage(odd))).toEqual(odd)
  })

  it("a hit gets a fresh id and the client's model; the stored entry is not touched", () => {
    const entry = { _tag: "Events" as const, events: streamed, upstreamModel: "gpt-4.1" }
    const frozen = JSON.stringify(entry)
    expect(replayMessage(entry, to)).toEqual({ ...message, id: "msg_fresh", model: "claude-opus-4-6" })
    const events = replayEvents(entry, to)
    expect(events[0]).toMatchObject({ type: "message_start", message: { id: "msg_fresh", model: "claude-opus-4-6" } })
    expect(events.slice(1)).toEqual(streamed.slice(1))
    expect(JSON.stringify(entry)).toBe(frozen)

    const stored = { _tag: "Message" as const, message }
    expect(replayMessage(stored, to)).toEqual({ ...message, id: "msg_fresh", model: "claude-opus-4-6" })
    expect(messageOfEvents(replayEvents(stored, to))).toEqual({ ...message, id: "msg_fresh", model: "claude-opus-4-6" })
    expect(stored.message.id).toBe("msg_original")
  })
})
