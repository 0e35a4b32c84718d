/**
 * The streaming converter as a Stream transformer (PROTOCOL.md §I.4): `toEvents` runs the `StreamTranslator` state
 * machine over upstream chunks, and turns the upstream's silences into `ping` events that keep quiet connections
 * alive.
 */
import * as Arr from "effect/Array"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Pull from "effect/Pull"
import * as Stream from "effect/Stream"
import type { ProxyError } from "../errors.ts"
import type { StreamEvent } from "../protocol/anthropic.ts"
import { type Chunk, SILENCE, type UpstreamEvent } from "../protocol/openai.ts"
import { type StreamContext, StreamTranslator } from "./stream-translator.ts"

export { type StreamContext, StreamTranslator }

/**
 * Upstream chunks → Anthropic events. `message_start` goes out before the upstream's first chunk; the output never
 * fails: upstream errors, early ends and our own defects all end in an `error` event. One pull per upstream read;
 * once the terminal event is out (an error chunk, say) the upstream is not pulled again, so it is released at once.
 */
const PING: StreamEvent = { type: "ping" }

export const toEvents = (ctx: StreamContext) =>
<E extends ProxyError, R = never>(chunks: Stream.Stream<UpstreamEvent, E, R>): Stream.Stream<StreamEvent, never, R> =>
  // One stage, failures included: every combinator around a stream costs each event a step and each open stream
  // its closures.
  Stream.transformPull(chunks, (pull) =>
    Effect.sync(() => {
      const machine = new StreamTranslator(ctx)
      let started = false
      const step = (batch: ReadonlyArray<UpstreamEvent>): Array<StreamEvent> => {
        if (!batch.includes(SILENCE)) return machine.stepAll(batch as ReadonlyArray<Chunk>)
        const events: Array<StreamEvent> = []
        for (const event of batch) {
          if (event === SILENCE) events.push(PING)
          else events.push(...machine.stepAll([event]))
        }
        return events
      }
      /** A bug of ours while translating ends the stream with an error event, never a broken connection. */
      const guarded = (translate: () => Array<StreamEvent>): Array<StreamEvent> => {
        try {
          return translate()
        } catch {
          return machine.failInternally()
        }
      }
      const emit = (events: Array<StreamEvent>) => Arr.isArrayNonEmpty(events) ? Effect.succeed(events) : next
      const next: Pull.Pull<Arr.NonEmptyReadonlyArray<StreamEvent>, never, void, R> = Effect.suspend(() => {
        if (!started) {
          started = true
          return Effect.succeed(Arr.of(machine.start()))
        }
        if (machine.isDone) return Cause.done()
        return Pull.matchEffect(pull, {
          onSuccess: (batch) => emit(guarded(() => step(batch))),
          onFailure: (cause) => {
            const error = Cause.findErrorOption(cause)
            if (Option.isSome(error)) return emit(machine.fail(error.value))
            return Cause.hasDies(cause) ? emit(machine.failInternally()) : Effect.failCause(cause as Cause.Cause<never>)
          },
          onDone: () => emit(guarded(() => machine.finish()))
        })
      })
      return next
    }))
