/**
 * One observer per streamed reply. The logging stage watches every stream (usage, stop reason, first token, an
 * error event, how it ended) into the request's `RequestStats`; stages inside it that need a stream's ending (the
 * breaker's outcome, the rate limits' real usage) read it there from a finalizer on the request scope instead of
 * wrapping the stream again. Each wrapper costs every chunk a pull through one more channel: 35 µs for a
 * 35-chunk stream in `bench/stages.ts`, more than the breaker's own work.
 *
 * What they read is the stream as the logging stage sees it: the one the client gets. The default stages between
 * them pass events and failures through unchanged; a user stage placed there that turned an upstream failure into
 * a normal end would hide it from the breaker too.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { ProxyError } from "../errors.ts"
import { RequestStats, type StreamSeen } from "../observability/record.ts"
import type { StreamEvent } from "../protocol/anthropic.ts"
import type { ProxyReply } from "./stage.ts"

export const emptySeen = (): StreamSeen => ({
  usage: undefined,
  stopReason: undefined,
  firstTokenAt: undefined,
  error: undefined,
  exit: undefined
})

const observeEvents = (events: ReadonlyArray<StreamEvent>, seen: StreamSeen, now: () => number) => {
  for (const event of events) {
    switch (event.type) {
      case "message_start":
        seen.usage = { ...event.message.usage }
        break
      case "content_block_delta":
        seen.firstTokenAt ??= now()
        break
      case "message_delta":
        seen.usage = { ...seen.usage, ...event.usage }
        seen.stopReason = event.delta.stop_reason
        break
      case "error":
        seen.error = `${event.error.type}: ${event.error.message}`
        break
    }
  }
}

/**
 * `events`, with what they show written into `seen`; when the stream ends, `seen.exit` is set, then `onEnd` runs
 * (in the stream's own scope, so before the request scope closes). `onStart` runs when the stream is first pulled.
 * A module-level function so the closures that live as long as the stream capture only these arguments.
 */
export const watchStream = (
  events: Stream.Stream<StreamEvent, ProxyError>,
  seen: StreamSeen,
  onEnd: (seen: StreamSeen) => Effect.Effect<void>,
  onStart: Effect.Effect<void> = Effect.void
): Stream.Stream<StreamEvent, ProxyError> =>
  Stream.transformPullBracket(events, (pull, _scope, streamScope) =>
    Effect.clockWith((clock) => {
      const now = () => clock.currentTimeMillisUnsafe()
      const atEnd = Scope.addFinalizerExit(streamScope, (exit) => {
        seen.exit = exit as Exit.Exit<unknown, ProxyError>
        return onEnd(seen)
      })
      return Effect.as(
        Effect.andThen(onStart, atEnd),
        Effect.map(pull, (chunk) => {
          observeEvents(chunk, seen, now)
          return chunk
        })
      )
    }))

/**
 * Where a stage inside the logging stage reads how this request's stream went: the logging stage's observations
 * when it watches the stream (`observed`), else a fresh record that `watchedBy` fills.
 */
export interface Observations {
  readonly seen: StreamSeen
  readonly observed: boolean
}

export const observationsIn = (context: Context.Context<never>): Observations => {
  const seen = Context.getOrUndefined(context, RequestStats)?.seen
  return seen === undefined ? { seen: emptySeen(), observed: false } : { seen, observed: true }
}

/** The reply, with its stream watched into `observations` unless the logging stage already does. */
export const watchedBy = (reply: ProxyReply, observations: Observations): ProxyReply =>
  observations.observed || reply._tag !== "Stream"
    ? reply
    : { ...reply, events: watchStream(reply.events, observations.seen, () => Effect.void) }

/**
 * Runs `f` with what a streamed reply showed, from a finalizer on the request scope (which closes after the
 * stream's own scope, so the ending is known by then); never for a stream that was not started.
 */
export const whenStreamEnds = (
  reply: Extract<ProxyReply, { _tag: "Stream" }>,
  f: (seen: StreamSeen & { readonly exit: Exit.Exit<unknown, ProxyError> }) => Effect.Effect<void>
): Effect.Effect<ProxyReply, never, Scope.Scope> =>
  Effect.withFiber((fiber) => {
    const observations = observationsIn(fiber.context)
    const seen = observations.seen
    return Effect.flatMap(Effect.scope, (scope) =>
      Effect.as(
        Scope.addFinalizer(scope, Effect.suspend(() => (seen.exit === undefined ? Effect.void : f(seen as Ended)))),
        watchedBy(reply, observations)
      ))
  })

type Ended = StreamSeen & { readonly exit: Exit.Exit<unknown, ProxyError> }
