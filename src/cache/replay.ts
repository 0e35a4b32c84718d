/**
 * A stored answer served again, as the kind of reply the new request asked for. Pure.
 *
 * JSON and stream requests share an entry, so either form must make the other:
 * - events → message: the blocks rebuilt from their deltas, as a client SDK would accumulate them;
 * - message → events: what a stream of that message would have carried, one delta per block.
 * Either way the answer gets a fresh message id, and the model name the client asked for (two client models that
 * route to one upstream model share the entry).
 *
 * Stored values are shared between hits and never changed here: only the envelope (`message_start`, the message
 * object) is copied.
 */
import type { BlockDelta, MessageResponse, ResponseBlock, StreamEvent } from "../protocol/anthropic.ts"
import { tryParseJson } from "../util/json.ts"
import type { CachedReply } from "./entry.ts"

/** Who the replayed answer is for. */
export interface Addressee {
  readonly messageId: string
  readonly model: string
}

const readdress = (message: MessageResponse, to: Addressee): MessageResponse => ({ ...message, id: to.messageId, model: to.model })

/** A block being rebuilt from its deltas; a tool's input arrives as JSON text in pieces. */
type Building = { block: ResponseBlock; json: string }

const applyDelta = (building: Building, delta: BlockDelta): void => {
  const block = building.block
  if (delta.type === "text_delta" && block.type === "text") block.text += delta.text
  else if (delta.type === "thinking_delta" && block.type === "thinking") block.thinking += delta.thinking
  else if (delta.type === "signature_delta" && block.type === "thinking") block.signature += delta.signature
  else if (delta.type === "input_json_delta") building.json += delta.partial_json
}

const finishBlock = (building: Building): ResponseBlock => {
  const block = building.block
  if (block.type !== "tool_use" || building.json === "") return block
  const input = tryParseJson(building.json)
  const value = input.ok ? input.value : undefined
  return { ...block, input: typeof value === "object" && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : {} }
}

/** The message a client accumulates from a complete stream; undefined when there is no `message_start`. */
export const messageOfEvents = (events: ReadonlyArray<StreamEvent>): MessageResponse | undefined => {
  let message: MessageResponse | undefined
  const blocks: Array<Building> = []
  for (const event of events) {
    switch (event.type) {
      case "message_start":
        message = { ...event.message, content: [], usage: { ...event.message.usage } }
        break
      case "content_block_start":
        // A copy: its text grows with the deltas, the stored event must not.
        blocks[event.index] = { block: { ...event.content_block }, json: "" }
        break
      case "content_block_delta": {
        const building = blocks[event.index]
        if (building !== undefined) applyDelta(building, event.delta)
        break
      }
      case "message_delta":
        if (message !== undefined) {
          message.stop_reason = event.delta.stop_reason
          message.stop_sequence = event.delta.stop_sequence
          message.usage = { ...message.usage, ...event.usage }
        }
        break
    }
  }
  if (message === undefined) return undefined
  for (const building of blocks) if (building !== undefined) message.content.push(finishBlock(building))
  return message
}

const emptyBlock = (block: ResponseBlock): ResponseBlock => {
  switch (block.type) {
    case "text":
      return { type: "text", text: "" }
    case "thinking":
      return { type: "thinking", thinking: "", signature: "" }
    case "redacted_thinking":
      return block
    case "tool_use":
      return { type: "tool_use", id: block.id, name: block.name, input: {} }
  }
}

const deltasOf = (block: ResponseBlock): Array<BlockDelta> => {
  switch (block.type) {
    case "text":
      return block.text === "" ? [] : [{ type: "text_delta", text: block.text }]
    case "thinking":
      return [
        ...(block.thinking === "" ? [] : [{ type: "thinking_delta", thinking: block.thinking } as const]),
        { type: "signature_delta", signature: block.signature }
      ]
    case "redacted_thinking":
      return []
    case "tool_use":
      return [{ type: "input_json_delta", partial_json: JSON.stringify(block.input) }]
  }
}

/** The events a stream of `message` would have carried: `message_start` … `message_stop`. */
export const eventsOfMessage = (message: MessageResponse): Array<StreamEvent> => {
  const events: Array<StreamEvent> = [{
    type: "message_start",
    message: {
      ...message,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      // As a live stream: the prompt's size up front, the output counted at the end.
      usage: { ...message.usage, output_tokens: 1 }
    }
  }]
  message.content.forEach((block, index) => {
    events.push({ type: "content_block_start", index, content_block: emptyBlock(block) })
    for (const delta of deltasOf(block)) events.push({ type: "content_block_delta", index, delta })
    events.push({ type: "content_block_stop", index })
  })
  events.push(
    {
      type: "message_delta",
      delta: { stop_reason: message.stop_reason, stop_sequence: message.stop_sequence },
      usage: message.usage
    },
    { type: "message_stop" }
  )
  return events
}

/** The stored answer as a whole message for `to`; undefined if a stored stream cannot be read back. */
export const replayMessage = (entry: CachedReply, to: Addressee): MessageResponse | undefined => {
  const message = entry._tag === "Message" ? entry.message : messageOfEvents(entry.events)
  return message === undefined ? undefined : readdress(message, to)
}

/** The stored answer as stream events for `to`. */
export const replayEvents = (entry: CachedReply, to: Addressee): Array<StreamEvent> => {
  const events = entry._tag === "Events" ? entry.events : eventsOfMessage(entry.message)
  return events.map((event) =>
    event.type === "message_start" ? { type: "message_start", message: readdress(event.message, to) } : event
  )
}
