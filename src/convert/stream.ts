/**
 * The streaming converter as Stream transformers (PROTOCOL.md §I.4): `toEvents` runs the `StreamTranslator` state
 * machine over upstream chunks, `withPings` keeps quiet connections alive.
 */
import { Array as Arr, Cause, Clock, Duration, Effect, Pull, Stream } from "effect"
import type { ProxyError } from "../errors.ts"
import type { StreamEvent } from "../protocol/anthropic.ts"
import type { Chunk } from "../protocol/openai.ts"
import { type StreamContext, StreamTranslator } from "./stream-translator.ts"

export { type StreamContext, StreamTranslator }

/**
 * Upstream chunks → Anthropic events. `message_start` goes out before the upstream's first chunk; the output never
 * fails: upstream errors, early ends and our own defects all end in an `error` event. One pull per upstream read;
 * once the terminal event is out (an error chunk, say) the upstream is not pulled again, so it is released at once.
 */
export const toEvents = (ctx: StreamContext) =>
<E extends ProxyError, R = never>(chunks: Stream.Stream<Chunk, E, R>): Stream.Stream<StreamEvent, never, R> =>
  Stream.suspend(() => {
    const machine = new StreamTranslator(ctx)
    const translated = Stream.transformPull(chunks, (pull) =>
      Effect.sync(() => {
        let started = false
        const emit = (events: Array<StreamEvent>) => Arr.isArrayNonEmpty(events) ? Effect.succeed(events) : next
        const next: Pull.Pull<Arr.NonEmptyReadonlyArray<StreamEvent>, E, void, R> = Effect.suspend(() => {
          if (!started) {
            started = true
            return Effect.succeed(Arr.of(machine.start()))
          }
          if (machine.isDone) return Cause.done()
          return Pull.matchEffect(pull, {
            onSuccess: (batch) => emit(machine.stepAll(batch)),
            onFailure: Effect.failCause,
            onDone: () => emit(machine.finish())
          })
        })
        return next
      }))
    return translated.pipe(
      Stream.catch((error: E) => Stream.fromArray(machine.fail(error))),
      Stream.catchDefect(() => Stream.fromArray(machine.failInternally()))
    )
  })

export type PingEvent = Extract<StreamEvent, { type: "ping" }>

const PING: PingEvent = { type: "ping" }

/**
 * Inserts `ping` events while the source is silent for `interval` (a long reasoning phase, a slow upstream), so
 * idle-connection timeouts on the way to the client do not fire. One timer fiber for the whole stream, stopped when
 * the source ends; time comes from the Clock. A zero or infinite interval turns pings off.
 */
export const withPings = (interval: Duration.Input) =>
<A, E, R>(events: Stream.Stream<A, E, R>): Stream.Stream<A | PingEvent, E, R> => {
  const intervalMillis = Duration.toMillis(interval)
  if (!(intervalMillis > 0 && Number.isFinite(intervalMillis))) return events
  return Stream.unwrap(Clock.clockWith((clock) =>
    Effect.sync(() => {
      let lastActivity = clock.currentTimeMillisUnsafe()
      const source = Stream.mapArray(events, (batch) => {
        lastActivity = clock.currentTimeMillisUnsafe()
        return batch
      })
      const nextPing: Effect.Effect<PingEvent> = Effect.suspend(() => {
        const now = clock.currentTimeMillisUnsafe()
        const wait = lastActivity + intervalMillis - now
        if (wait > 0) return Effect.flatMap(Effect.sleep(wait), () => nextPing)
        lastActivity = now
        return Effect.succeed(PING)
      })
      return Stream.merge(source, Stream.fromEffectRepeat(nextPing), { haltStrategy: "left" })
    })
  ))
}
