/**
 * What the cache keeps for one request: the Anthropic answer as the client got it, a whole message or the events of
 * a stream, and the upstream model that wrote it. Plain JSON data, so a store outside this process (Redis) can hold
 * it as text, and either form can answer either kind of request (see `replay.ts`).
 *
 * Sizes are estimates of the JSON text, cheap enough to take per stream event: the text the model wrote (deltas,
 * tool inputs) counted exactly, the fixed fields of each event as a constant. They bound memory, so they err high.
 */
import type { MessageResponse, ResponseBlock, StreamEvent } from "../protocol/anthropic.ts"

export type CachedReply =
  | { readonly _tag: "Message"; readonly message: MessageResponse; readonly upstreamModel?: string | undefined }
  | { readonly _tag: "Events"; readonly events: ReadonlyArray<StreamEvent>; readonly upstreamModel?: string | undefined }

/** The fields every event or block has, as JSON, rounded up. */
const EVENT_OVERHEAD = 96
const MESSAGE_OVERHEAD = 320

const blockWeight = (block: ResponseBlock): number => {
  switch (block.type) {
    case "text":
      return EVENT_OVERHEAD + block.text.length
    case "thinking":
      return EVENT_OVERHEAD + block.thinking.length + block.signature.length
    case "redacted_thinking":
      return EVENT_OVERHEAD + block.data.length
    case "tool_use":
      // An input is small next to the text around it; its JSON text is only taken when it is stored whole.
      return EVENT_OVERHEAD + block.id.length + block.name.length
  }
}

/** Estimated JSON size of one stream event. */
export const eventWeight = (event: StreamEvent): number => {
  switch (event.type) {
    case "content_block_delta": {
      const delta = event.delta
      switch (delta.type) {
        case "text_delta":
          return EVENT_OVERHEAD + delta.text.length
        case "thinking_delta":
          return EVENT_OVERHEAD + delta.thinking.length
        case "signature_delta":
          return EVENT_OVERHEAD + delta.signature.length
        case "input_json_delta":
          return EVENT_OVERHEAD + delta.partial_json.length
      }
      return EVENT_OVERHEAD
    }
    case "content_block_start":
      return blockWeight(event.content_block)
    case "message_start":
      return MESSAGE_OVERHEAD + event.message.model.length
    case "message_delta":
      return MESSAGE_OVERHEAD
    default:
      return EVENT_OVERHEAD
  }
}

/** Estimated JSON size of a whole message. */
export const messageWeight = (message: MessageResponse): number => {
  let size = MESSAGE_OVERHEAD + message.model.length
  for (const block of message.content) {
    size += blockWeight(block)
    if (block.type === "tool_use") size += JSON.stringify(block.input).length
  }
  return size
}

/** Estimated size of an entry as a store would hold it. */
export const entryWeight = (entry: CachedReply): number => {
  if (entry._tag === "Message") return messageWeight(entry.message)
  let size = 0
  for (const event of entry.events) size += eventWeight(event)
  return size
}
