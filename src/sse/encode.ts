/**
 * Anthropic events → SSE bytes. The `event:` line is mandatory: the Anthropic SDK dispatches on it and ignores data
 * under names it does not know (PROTOCOL.md §B.1).
 */
import * as Stream from "effect/Stream"
import type { StreamEvent } from "../protocol/anthropic.ts"

const encoder = new TextEncoder()

export const encodeEvent = (event: StreamEvent): string => `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`

/** One string and one `encode` per stream chunk, so a burst of small deltas costs one write, not one per event. */
export const encodeEvents = <E, R = never>(events: Stream.Stream<StreamEvent, E, R>): Stream.Stream<Uint8Array, E, R> =>
  Stream.mapArray(events, (batch) => {
    let text = ""
    for (const event of batch) text += encodeEvent(event)
    return [encoder.encode(text)]
  })
