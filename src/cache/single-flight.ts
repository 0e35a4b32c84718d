/**
 * Identical requests in flight at the same time share one upstream call: the `SingleFlight` service.
 *
 * `run(key, call)` makes the call for the first request with that key, and lets every identical request that comes
 * while it runs join it: each gets the whole reply, a stream from its first event (replayed, then live), however
 * late it joined, at its own pace.
 *
 * **Who owns the call.** In the stage contract a call lives in the scope of the request that makes it (its upstream
 * body, its limiter permit, its rate-limit ticket); a shared call must not, or the first client hanging up would cut
 * everyone. So the call runs in a fiber of its own, forked detached, under a scope of its own (`Effect.scoped`):
 * the flight owns it. Each request is a member of the flight for as long as its own scope lasts (for a stream:
 * until its stream ends or its client goes away). The call ends when its stream does, or when its last member
 * leaves: then its fiber is interrupted, its scope closes, and the upstream request is aborted.
 *
 * **Failures.** A failed call fails every member with its error (before the first byte: the same `ProxyError`, so
 * the same HTTP status; mid-stream: after the same closing events), and the flight is forgotten before anyone hears
 * of it, so the next identical request (a client's retry) makes a fresh call instead of waiting on a dead one, the
 * seed's hang.
 *
 * **Memory.** A stream's events are kept for late joiners up to `replayBytes` (estimated, `entry.ts`); past that
 * the flight takes no one new (a late request makes its own call) and keeps only what its members have not read
 * (`broadcast.ts`). A whole message is simply shared.
 *
 * Keys are the caller's: the cache stage uses the cache key plus the reply kind, so a JSON request and a stream
 * request never join each other's call (one would wait for the whole message, the other would get events).
 */
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { ProxyError } from "../errors.ts"
import type { ProxyReply } from "../pipeline/stage.ts"
import type { StreamEvent } from "../protocol/anthropic.ts"
import { Broadcast, type Reader } from "./broadcast.ts"
import { eventWeight } from "./entry.ts"

export interface SingleFlightShape {
  /**
   * The reply of `call`, made once for every caller with the same `key` while it is in flight. The caller's
   * membership lasts as long as its scope (the request scope).
   */
  readonly run: (
    key: string,
    call: Effect.Effect<ProxyReply, ProxyError, Scope.Scope>,
    /** Called when this caller joins a flight already in the air: its own `call` will never run. */
    onJoin?: () => void
  ) => Effect.Effect<ProxyReply, ProxyError, Scope.Scope>
  /** Calls in flight now (for tests and metrics). */
  readonly inFlight: Effect.Effect<number>
}

export interface SingleFlightOptions {
  /** Events kept for late joiners of one stream, in estimated bytes (default 4 MiB). */
  readonly replayBytes?: number
}

/** What the call answered, without the events (those go through the broadcast). */
type Head = { readonly _tag: "Message"; readonly reply: ProxyReply } | {
  readonly _tag: "Stream"
  readonly reply: Omit<Extract<ProxyReply, { _tag: "Stream" }>, "events">
}

interface Flight {
  readonly key: string
  readonly head: Deferred.Deferred<Head, ProxyError>
  readonly events: Broadcast<StreamEvent, ProxyError>
  members: number
  fiber: Fiber.Fiber<void> | undefined
  settled: boolean
}

interface Member {
  readonly flight: Flight
  readonly reader: Reader
}

export const make = (options: SingleFlightOptions = {}): Effect.Effect<SingleFlightShape> =>
  Effect.sync(() => {
    const replayBytes = options.replayBytes ?? 4 * 1024 * 1024
    const flights = new Map<string, Flight>()

    const forget = (flight: Flight) => {
      flight.settled = true
      if (flights.get(flight.key) === flight) flights.delete(flight.key)
    }

    const admit = (flight: Flight): Member => {
      flight.members++
      return { flight, reader: flight.events.join() }
    }

    /** The call, run by the flight: drains a stream into the broadcast; its scope closes when it ends. */
    const produce = (flight: Flight, call: Effect.Effect<ProxyReply, ProxyError, Scope.Scope>): Effect.Effect<void> =>
      Effect.scoped(
        Effect.flatMap(call, (reply) => {
          if (reply._tag === "Message") {
            forget(flight)
            Deferred.doneUnsafe(flight.head, Effect.succeed({ _tag: "Message", reply }))
            return Effect.void
          }
          const { events, ...rest } = reply
          Deferred.doneUnsafe(flight.head, Effect.succeed({ _tag: "Stream", reply: rest }))
          return Effect.map(Effect.exit(Stream.runForEachArray(events, (batch) => flight.events.publish(batch))), (exit) => {
            forget(flight)
            flight.events.close(exit)
          })
        })
      ).pipe(
        // However the call ended, members still waiting hear of it, after the flight is forgotten (so a retry that
        // comes at once starts afresh). Both are no-ops when the reply already went out and the stream was closed.
        Effect.onExit((exit) =>
          Effect.sync(() => {
            forget(flight)
            const failure = Exit.isFailure(exit) ? Exit.failCause(exit.cause) : Exit.interrupt()
            Deferred.doneUnsafe(flight.head, failure)
            flight.events.close(failure)
          })
        ),
        Effect.exit,
        Effect.asVoid
      )

    const enter = (
      key: string,
      call: Effect.Effect<ProxyReply, ProxyError, Scope.Scope>,
      onJoin: (() => void) | undefined
    ): Effect.Effect<Member> =>
      Effect.suspend(() => {
        const current = flights.get(key)
        if (current !== undefined && !current.settled && current.events.joinable) {
          onJoin?.()
          return Effect.succeed(admit(current))
        }
        const flight: Flight = {
          key,
          head: Deferred.makeUnsafe<Head, ProxyError>(),
          events: new Broadcast<StreamEvent, ProxyError>(replayBytes, eventWeight),
          members: 0,
          fiber: undefined,
          settled: false
        }
        flights.set(key, flight)
        const member = admit(flight)
        return Effect.map(Effect.forkDetach(produce(flight, call)), (fiber) => {
          flight.fiber = fiber
          return member
        })
      })

    const leave = ({ flight, reader }: Member): Effect.Effect<void> =>
      Effect.suspend(() => {
        flight.events.leave(reader)
        flight.members--
        if (flight.members > 0 || flight.settled) return Effect.void
        // Nobody wants the answer any more: stop the call (its scope closes, the upstream request is aborted).
        forget(flight)
        return flight.fiber === undefined ? Effect.void : Fiber.interrupt(flight.fiber)
      })

    const reply = ({ flight, reader }: Member): Effect.Effect<ProxyReply, ProxyError> =>
      Effect.map(Deferred.await(flight.head), (head) =>
        head._tag === "Message" ? head.reply : { ...head.reply, events: flight.events.read(reader) })

    return {
      // Entering is uninterruptible (acquireRelease), so a request cannot start a flight and vanish before its
      // fiber is forked and its departure registered.
      run: (key, call, onJoin) => Effect.flatMap(Effect.acquireRelease(enter(key, call, onJoin), leave), reply),
      inFlight: Effect.sync(() => flights.size)
    }
  })

export class SingleFlight extends Context.Service<SingleFlight, SingleFlightShape>()("ccproxy/SingleFlight") {
  static readonly layer = (options: SingleFlightOptions = {}): Layer.Layer<SingleFlight> => Layer.effect(this, make(options))
}
