/**
 * The streaming converter as a Stream transformer (PROTOCOL.md §I.4): `toEvents` runs the `StreamTranslator` state
 * machine over upstream chunks (and silences, which become `ping` events that keep quiet connections alive).
 */
import * as Arr from "effect/Array"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Pull from "effect/Pull"
import * as Stream from "effect/Stream"
import type { ProxyError } from "../errors.ts"
import type { StreamEvent } from "../protocol/anthropic.ts"
import type { UpstreamEvent } from "../protocol/openai.ts"
import { type StreamContext, StreamTranslator } from "./stream-translator.ts"

export { type StreamContext, StreamTranslator }

/**
 * Upstream chunks → Anthropic events. `message_start` goes out before the upstream's first chunk. A failure before
 * finish_reason (an upstream error, an early end, a defect of ours) closes the open block, and then the stream
 * fails with it: typed `ProxyError`s as they are, defects as defects; the HTTP edge renders either as the `error`
 * event. One pull per upstream read; once the machine is done (an error chunk, say) the upstream is not pulled
 * again, so it is released at once.
 */
export const toEvents = (ctx: StreamContext) =>
<E extends ProxyError, R = never>(chunks: Stream.Stream<UpstreamEvent, E, R>): Stream.Stream<StreamEvent, ProxyError, R> =>
  // One stage, failures included: every combinator around a stream costs each event a step and each open stream
  // its closures.
  Stream.transformPull(chunks, (pull) =>
    Effect.sync(() => {
      const machine = new StreamTranslator(ctx)
      let started = false
      /** A bug of ours while translating closes the block and fails the stream, never breaks the connection. */
      const guarded = (translate: (out: Array<StreamEvent>) => Array<StreamEvent>): Array<StreamEvent> => {
        const out: Array<StreamEvent> = []
        try {
          return translate(out)
        } catch (defect) {
          return machine.failInternally(Cause.die(defect), out)
        }
      }
      // The closing events go out first; the pull after them ends the stream, or fails it with the machine's failure.
      const emit = (events: Array<StreamEvent>) => Arr.isArrayNonEmpty(events) ? Effect.succeed(events) : next
      const next: Pull.Pull<Arr.NonEmptyReadonlyArray<StreamEvent>, ProxyError, void, R> = Effect.suspend(() => {
        if (!started) {
          started = true
          return Effect.succeed(Arr.of(machine.start()))
        }
        if (machine.isDone) {
          const failure = machine.failure
          return failure === undefined ? Cause.done() : Effect.failCause(failure)
        }
        return Pull.matchEffect(pull, {
          onSuccess: (batch) => emit(guarded((out) => machine.stepAll(batch, out))),
          onFailure: (cause) => {
            const error = Cause.findErrorOption(cause)
            if (Option.isSome(error)) return emit(machine.fail(error.value))
            return Cause.hasDies(cause) ? emit(machine.failInternally(cause as Cause.Cause<never>)) : Effect.failCause(cause)
          },
          onDone: () => emit(guarded((out) => machine.finish(out)))
        })
      })
      return next
    }))
