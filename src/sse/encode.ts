/**
 * Anthropic events → SSE bytes. The `event:` line is mandatory: the Anthropic SDK dispatches on it and ignores data
 * under names it does not know (PROTOCOL.md §B.1).
 */
import * as Arr from "effect/Array"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Pull from "effect/Pull"
import * as Stream from "effect/Stream"
import type { StreamEvent } from "../protocol/anthropic.ts"

const encoder = new TextEncoder()

export const encodeEvent = (event: StreamEvent): string => `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`

const encodeBatch = (batch: ReadonlyArray<StreamEvent>): Uint8Array => {
  let text = ""
  for (const event of batch) text += encodeEvent(event)
  return encoder.encode(text)
}

/**
 * One string and one `encode` per stream chunk, so a burst of small deltas costs one write, not one per event.
 *
 * `recover` turns a failure of the events into a last event (the response's headers are out by then, so an error
 * can only be reported in the stream); when it returns undefined, or for interruptions, the failure goes on. Both in
 * one stage, since every stage costs each chunk a step.
 */
export const encodeEvents = <E, R = never>(
  events: Stream.Stream<StreamEvent, E, R>,
  recover: (cause: Cause.Cause<E>) => StreamEvent | undefined = () => undefined
): Stream.Stream<Uint8Array, E, R> =>
  Stream.transformPull(events, (pull) =>
    Effect.sync(() => {
      let recovered = false
      const next: Pull.Pull<Arr.NonEmptyReadonlyArray<Uint8Array>, E> = Effect.suspend(() =>
        recovered ? Cause.done() : Pull.matchEffect(pull, {
          onSuccess: (batch) => Effect.succeed(Arr.of(encodeBatch(batch))),
          onFailure: (cause) => {
            const last = Cause.hasInterruptsOnly(cause) ? undefined : recover(cause)
            if (last === undefined) return Effect.failCause(cause)
            recovered = true
            return Effect.succeed(Arr.of(encodeBatch([last])))
          },
          onDone: () => Cause.done()
        })
      )
      return next
    }))
