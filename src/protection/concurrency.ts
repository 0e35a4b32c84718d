/**
 * Bounds the requests in flight to each upstream.
 *
 * Each upstream (by name) gets its own `Semaphore` of `maxConcurrent` permits, made the first time the name is
 * seen, so a slow upstream cannot use up the capacity meant for another. A request takes one permit with
 * `acquire` and holds it until its `Scope` closes; for a streamed reply that is when the stream ends, so the permit
 * spans the whole answer, not just the call that started it.
 *
 * **Details**
 *
 * - A request that finds every permit taken queues for at most `queueTimeout`, then fails with `Overloaded`
 *   (529, `retry-after`). A zero `queueTimeout` turns it away at once.
 * - The permit goes back exactly once, whatever ends the scope: success, failure, interruption. The permit and its
 *   release are registered in one uninterruptible step (`Semaphore.takeScoped`), so no interruption can fall
 *   between them.
 * - A request interrupted while it queues (a client that hung up) leaves the queue at once and holds nothing.
 * - `stats` and `snapshot` show, per upstream, the permits in use, the requests waiting and the limit, for
 *   `/health`, metrics, and tests that check every permit came back.
 *
 * **Gotchas**
 *
 * - A request that times out in the very instant a permit frees may still have taken it; the permit is then held
 *   by the failing request's scope and returned when that scope closes, like any other.
 * - Queued requests are served in arrival order; a request arriving while others queue joins the queue even if a
 *   permit has just freed, so it cannot overtake them.
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import { Overloaded } from "../errors.ts"
import { FallbackAvailable } from "../routing/fallback.ts"
import type { ProtectionSettings } from "./settings.ts"

export interface ConcurrencyStats {
  /** Permits held by requests now. */
  readonly inUse: number
  /** Requests queued for a permit. */
  readonly waiting: number
  /** Permits in all. */
  readonly limit: number
}

export interface ConcurrencyLimiterShape {
  /**
   * Takes one of `upstream`'s permits for the lifetime of the current scope, queueing up to the queue timeout;
   * fails with `Overloaded` if none frees in time.
   */
  readonly acquire: (upstream: string) => Effect.Effect<void, Overloaded, Scope.Scope>
  /** The permits of one upstream (all free if it was never used). */
  readonly stats: (upstream: string) => Effect.Effect<ConcurrencyStats>
  /** The permits of every upstream used so far. */
  readonly snapshot: Effect.Effect<ReadonlyArray<ConcurrencyStats & { readonly upstream: string }>>
}

export type ConcurrencySettings = Pick<ProtectionSettings, "maxConcurrent" | "queueTimeout">

/**
 * What we tell a client turned away after queueing. Its request already waited the whole queue timeout, so the
 * proxy is saturated; a few seconds lets some of the work in flight finish without making an interactive client
 * wait as long again.
 */
const RETRY_AFTER_QUEUE_FULL = Duration.seconds(5)

interface Lane {
  readonly semaphore: Semaphore.Semaphore
  /** Our own count: the semaphore does not tell how many fibers wait on it. */
  waiting: number
}

export const make = (settings: ConcurrencySettings): Effect.Effect<ConcurrencyLimiterShape> =>
  Effect.sync(() => {
    const limit = settings.maxConcurrent
    const queueMillis = Duration.toMillis(settings.queueTimeout)
    const lanes = new Map<string, Lane>()

    const laneOf = (upstream: string): Lane => {
      let lane = lanes.get(upstream)
      if (lane === undefined) {
        lane = { semaphore: Semaphore.makeUnsafe(limit), waiting: 0 }
        lanes.set(upstream, lane)
      }
      return lane
    }

    const refuse = (upstream: string) =>
      new Overloaded({
        message: `Too many requests in flight to upstream "${upstream}" (limit ${limit}); ${
          queueMillis > 0 ? `no slot freed within ${Duration.format(settings.queueTimeout)}` : "requests do not queue"
        }`,
        retryAfter: RETRY_AFTER_QUEUE_FULL
      })

    // Called while uninterruptible: the count goes up and its decrement is registered before the wait becomes
    // interruptible, so it comes down exactly once, however the wait ends (a permit, the timeout, an interruption).
    const queue = (
      upstream: string,
      lane: Lane,
      restore: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
    ): Effect.Effect<void, Overloaded, Scope.Scope> =>
      Effect.flatMap(FallbackAvailable, (fallback) => {
        // With another target ready, moving on beats queueing here.
        if (queueMillis <= 0 || fallback) return Effect.fail(refuse(upstream))
        lane.waiting++
        return restore(Effect.timeoutOption(Semaphore.takeScoped(lane.semaphore, 1), settings.queueTimeout)).pipe(
          Effect.onExit(() => Effect.sync(() => lane.waiting--)),
          Effect.flatMap((taken) => Option.isSome(taken) ? Effect.void : Effect.fail(refuse(upstream)))
        )
      })

    const acquire = (upstream: string): Effect.Effect<void, Overloaded, Scope.Scope> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(Effect.scope, (scope) => {
          const lane = laneOf(upstream)
          // The common case takes a free permit without forking the timeout race; it is skipped while others
          // queue so a newcomer cannot overtake them.
          if (lane.waiting > 0) return queue(upstream, lane, restore)
          return Effect.flatMap(Semaphore.takeIfAvailable(lane.semaphore, 1), (taken) =>
            taken
              ? Scope.addFinalizer(scope, Semaphore.release(lane.semaphore, 1))
              : queue(upstream, lane, restore))
        })
      )

    // `release(0)` returns the free permits without changing them: the semaphore's own count is the truth.
    const statsOf = (lane: Lane): Effect.Effect<ConcurrencyStats> =>
      Effect.map(Semaphore.release(lane.semaphore, 0), (free) => ({ inUse: limit - free, waiting: lane.waiting, limit }))

    return {
      acquire,
      stats: (upstream) =>
        Effect.suspend(() => {
          const lane = lanes.get(upstream)
          return lane === undefined ? Effect.succeed({ inUse: 0, waiting: 0, limit }) : statsOf(lane)
        }),
      snapshot: Effect.suspend(() =>
        Effect.forEach(lanes, ([upstream, lane]) => Effect.map(statsOf(lane), (stats) => ({ upstream, ...stats })))
      )
    }
  })

/** Per-upstream limit on requests in flight. */
export class ConcurrencyLimiter extends Context.Service<ConcurrencyLimiter, ConcurrencyLimiterShape>()(
  "ccproxy/ConcurrencyLimiter"
) {
  static readonly layer = (settings: ConcurrencySettings): Layer.Layer<ConcurrencyLimiter> =>
    Layer.effect(ConcurrencyLimiter, make(settings))
}
