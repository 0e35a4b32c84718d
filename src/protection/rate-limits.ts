/**
 * Keeps the traffic sent to each upstream under its requests-per-minute and tokens-per-minute budgets
 * (UPSTREAM_RPM, UPSTREAM_TPM), and backs off when the upstream itself says 429.
 *
 * The budgets are token buckets in Effect's `RateLimiter`, so their state lives in whatever `RateLimiterStore`
 * the layer is given: memory today, Redis when replicas must share one budget.
 *
 * **Details**
 *
 * - `acquire(upstream, estimatedTokens)` reserves one request and the estimated tokens, then waits for its turn.
 *   Reservations queue in order: the bucket goes into debt and each caller waits for its share of the refill. A
 *   caller whose turn (or the upstream's cool-down) is further away than the queue timeout gives its reservation
 *   back and fails with `RateLimited` (429) carrying how long it would have had to wait.
 * - The token estimate is the caller's cheap guess (no tokenizer here). `settle(ticket, actualTokens)` corrects it
 *   once the reply's real usage is known: the difference is charged, or given back (see Gotchas).
 * - `feedback(upstream, …)` makes the budgets adaptive. An upstream 429 multiplies the effective budgets by 0.8
 *   (floors: 10 requests, 1,000 tokens per minute, or the configured budget if lower; at most once per Retry-After
 *   window, so a burst of 429s counts once) and its Retry-After becomes a cool-down: nothing is sent to that upstream before it passes. Each run of 10 successes in a row (a streamed
 *   reply counts when it ends well) multiplies them by 1.1, up to the configured budgets.
 * - With no budget configured nothing is reserved and the store is never called; only a cool-down, set by a 429,
 *   is still honoured.
 *
 * **Why not `RateLimiter.adaptiveConsume` / `adaptiveFeedback`**
 *
 * Effect's adaptive mode learns a limit of its own: after a 429 it waits out the Retry-After, then counts the tokens
 * that pass until the next 429 and enforces that count over the observed window. It ignores successes and 429s
 * without a Retry-After, so it can neither lower a configured budget by a factor with floors nor grow it back
 * after 10 successes, and its learned limit would fight the configured one. So the budgets here are plain
 * `consume` calls whose limit is our effective budget, and the 0.8/1.1 state and the cool-down are ours.
 *
 * **Gotchas**
 *
 * - Giving tokens back is a `consume` of a negative count: both Effect stores simply add it to the bucket. The
 *   amount is capped so the bucket never holds more than its limit, but the check and the refund are two store
 *   calls, so a refill between them may let a bucket briefly exceed its limit by the refund. A ticket never
 *   settled keeps its estimate.
 * - A request estimated above the whole TPM budget is charged the budget, so it can still pass once the bucket is
 *   full; `settle` then charges the rest as debt for those who follow.
 * - When a 429 lowers a budget, the bucket is cut down to the new budget, so it applies at once rather than after
 *   the tokens saved under the old one are spent.
 * - The effective budgets and the success count are per process, even on a shared store. The cool-down is shared
 *   when `SharedCoolDowns` is in context (Redis): a 429 seen by one process holds back all of them. That costs one
 *   Redis read per request (PTTL, well under a millisecond on a local Redis); without it, no call at all.
 * - Requests are spaced (60 s / effective RPM apart) only while an RPM budget is lowered: a TPM budget alone is not
 *   spaced, and once the RPM budget has grown back to the configured one, a newcomer may leave before requests that
 *   were given later places while it was lowered.
 * - A store that fails lets the request through (logged): losing the budget must not take requests down.
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { RateLimiter } from "effect/persistence"
import { RateLimited } from "../errors.ts"
import type { ProtectionSettings } from "./settings.ts"
import { FallbackAvailable } from "../routing/fallback.ts"
import { SharedCoolDowns } from "./shared.ts"

/** What the upstream said about one request, as far as its budgets care. */
export type RateFeedback =
  | { readonly _tag: "Success" }
  | { readonly _tag: "RateLimited"; readonly retryAfter?: Duration.Duration | undefined }

/** One admitted request; hand it back to `settle` with the real token count when the reply ends. */
export interface Ticket {
  readonly upstream: string
  /** Tokens charged against the TPM budget so far (0 when there is none). */
  readonly tokens: number
}

export interface Budget {
  readonly configured: number
  readonly effective: number
}

export interface RateLimitState {
  readonly upstream: string
  readonly rpm: Budget | undefined
  readonly tpm: Budget | undefined
  /** Time left before requests may go to this upstream again (zero when not cooling down). */
  readonly coolDown: Duration.Duration
  /** Successes in a row since the last 429 or the last growth of the budgets. */
  readonly successes: number
}

export interface UpstreamRateLimitsShape {
  /** Reserves one request and `estimatedTokens`, waiting up to the queue timeout; fails with `RateLimited`. */
  readonly acquire: (upstream: string, estimatedTokens: number) => Effect.Effect<Ticket, RateLimited>
  /** Corrects the ticket's token charge to `actualTokens`. Only the first call per ticket counts. */
  readonly settle: (ticket: Ticket, actualTokens: number) => Effect.Effect<void>
  /** Adapts the upstream's budgets to its answer: a 429 lowers them and may start a cool-down. */
  readonly feedback: (upstream: string, feedback: RateFeedback) => Effect.Effect<void>
  /** Effective budgets and cool-downs of every upstream that has any. */
  readonly snapshot: Effect.Effect<ReadonlyArray<RateLimitState>>
}

export type RateLimitSettings = Pick<ProtectionSettings, "rpm" | "tpm" | "queueTimeout">

const WINDOW = Duration.minutes(1)
const BACKOFF = 0.8
const RECOVERY = 1.1
const SUCCESSES_TO_RECOVER = 10
const RPM_FLOOR = 10
const TPM_FLOOR = 1_000

/** The shortest time between two lowerings of an upstream's budgets. */
const LOWER_WINDOW_MILLIS = 1_000

interface Lane {
  rpm: number | undefined
  tpm: number | undefined
  successes: number
  /** Epoch millis before which nothing goes to the upstream; 0 when there is no cool-down. */
  coolDownUntil: number
  /** Epoch millis before which another 429 does not lower the budgets again (see `rateLimited`). */
  lowerAgainAt: number
  /** While the RPM budget is lowered: epoch millis of the next request's earliest departure (see `depart`). */
  nextDeparture: number
}

class Admitted implements Ticket {
  readonly upstream: string
  readonly tokens: number
  settled = false
  constructor(upstream: string, tokens: number) {
    this.upstream = upstream
    this.tokens = tokens
  }
}

/** What `reserve` took from the buckets, so that it can be given back. */
interface Reservation {
  readonly rpm: number | undefined
  readonly tpm: number | undefined
  readonly tokens: number
  readonly delayMillis: number
}

const rpmKey = (upstream: string) => `${upstream}:rpm`
const tpmKey = (upstream: string) => `${upstream}:tpm`

const seconds = (millis: number) => `${Math.max(1, Math.ceil(millis / 1000))} s`

export const make = (settings: RateLimitSettings): Effect.Effect<UpstreamRateLimitsShape, never, RateLimiter.RateLimiter> =>
  Effect.gen(function*() {
    const limiter = yield* RateLimiter.RateLimiter
    const shared = Option.getOrUndefined(yield* Effect.serviceOption(SharedCoolDowns))
    const limited = settings.rpm !== undefined || settings.tpm !== undefined
    const queueMillis = Duration.toMillis(settings.queueTimeout)
    const lanes = new Map<string, Lane>()

    const laneOf = (upstream: string): Lane => {
      let lane = lanes.get(upstream)
      if (lane === undefined) {
        lane = { rpm: settings.rpm, tpm: settings.tpm, successes: 0, coolDownUntil: 0, lowerAgainAt: 0, nextDeparture: 0 }
        lanes.set(upstream, lane)
      }
      return lane
    }

    /** Takes `tokens` (negative: gives them back) without waiting; debt is allowed. Store failures pass. */
    const take = (key: string, limit: number, tokens: number): Effect.Effect<number> =>
      limiter.consume({ key, limit, window: WINDOW, tokens, algorithm: "token-bucket", onExceeded: "delay" }).pipe(
        Effect.map((result) => Duration.toMillis(result.delay)),
        Effect.catch((error) =>
          Effect.as(Effect.logWarning("Upstream rate-limit store failed; the request is let through", { key, error: error.message }), 0)
        )
      )

    /** Gives tokens back, never filling the bucket past its limit. */
    const giveBack = (key: string, limit: number, tokens: number): Effect.Effect<void> =>
      tokens <= 0 ? Effect.void : limiter.consume({ key, limit, window: WINDOW, tokens: 0, algorithm: "token-bucket", onExceeded: "delay" }).pipe(
        Effect.flatMap(({ remaining }) => {
          const room = Math.min(tokens, limit - remaining)
          return room > 0 ? take(key, limit, -room) : Effect.void
        }),
        Effect.catch(() => Effect.void)
      )

    const reserve = (upstream: string, lane: Lane, estimate: number): Effect.Effect<Reservation> => {
      const rpm = lane.rpm
      const tpm = lane.tpm
      const tokens = tpm === undefined ? 0 : Math.min(tpm, estimate)
      return Effect.zipWith(
        rpm === undefined ? Effect.succeed(0) : take(rpmKey(upstream), rpm, 1),
        tpm === undefined || tokens === 0 ? Effect.succeed(0) : take(tpmKey(upstream), tpm, tokens),
        (rpmDelay, tpmDelay) => ({ rpm, tpm, tokens, delayMillis: Math.max(rpmDelay, tpmDelay) })
      )
    }

    const release = (upstream: string, r: Reservation): Effect.Effect<void> =>
      Effect.andThen(
        r.rpm === undefined ? Effect.void : giveBack(rpmKey(upstream), r.rpm, 1),
        r.tpm === undefined ? Effect.void : giveBack(tpmKey(upstream), r.tpm, r.tokens)
      )

    /**
     * Waits out the upstream's cool-down, re-checking after each wait (another 429 may have lengthened it); succeeds
     * with whether it had to wait.
     */
    const coolDown = (upstream: string, lane: Lane, deadline: number, waited = false): Effect.Effect<boolean, RateLimited> =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const left = lane.coolDownUntil - now
        if (left <= 0) {
          lane.coolDownUntil = 0
          return Effect.succeed(waited)
        }
        if (now + left > deadline) {
          return Effect.fail(
            new RateLimited({
              message: `Upstream "${upstream}" answered 429; no requests go to it for another ${seconds(left)}`,
              retryAfter: Duration.millis(left)
            })
          )
        }
        return Effect.andThen(Effect.sleep(Duration.millis(left)), coolDown(upstream, lane, deadline, true))
      })

    const overBudget = (upstream: string, r: Reservation) =>
      new RateLimited({
        message: `Upstream "${upstream}" budget is used up (${
          [r.rpm === undefined ? "" : `${r.rpm} requests`, r.tpm === undefined ? "" : `${r.tpm} tokens`].filter(Boolean)
            .join(", ")
        } per minute); next slot in ${seconds(r.delayMillis)}`,
        retryAfter: Duration.millis(r.delayMillis)
      })

    /**
     * When this request may go. While an upstream's RPM budget is lowered, requests to it also leave one at a time,
     * 60 s / budget apart, in the order they were reserved. The upstream that just said 429 may count per second,
     * and the bucket alone lets bursts through: the tokens it saved (up to a minute's worth), and reservations
     * made after a ×1.1 growth, computed at the faster refill, landing next to earlier ones. In the bench's storm
     * (600 RPM configured, an upstream that takes 5 a second, 16 clients) 6–7 % of the upstream's answers in the
     * last 5 s were still 429s with the bucket alone; spaced, none were. Per process, even on a shared store.
     */
    const depart = (lane: Lane, earliest: number, deadline: number): number => {
      if (lane.rpm === undefined || lane.rpm === settings.rpm) return earliest
      const at = Math.max(earliest, lane.nextDeparture)
      if (at <= deadline) lane.nextDeparture = at + 60_000 / lane.rpm
      return at
    }

    /**
     * After a cool-down that began while this request waited for its turn: a fresh place in line, so the requests
     * that were waiting do not all leave the moment it ends, towards an upstream that just said 429.
     */
    const departAgain = (upstream: string, lane: Lane, reservation: Reservation, deadline: number): Effect.Effect<void, RateLimited> =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const at = depart(lane, now, deadline)
        if (at > deadline) return Effect.fail(overBudget(upstream, { ...reservation, delayMillis: at - now }))
        return at > now ? Effect.sleep(Duration.millis(at - now)) : Effect.void
      })

    const admitSlowly = (upstream: string, lane: Lane, estimate: number): Effect.Effect<Ticket, RateLimited> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.gen(function*() {
          // With another target ready, no waiting here at all: a cool-down or a spent budget sends the request on.
          const deadline = (yield* Clock.currentTimeMillis) + ((yield* FallbackAvailable) ? 0 : queueMillis)
          yield* restore(coolDown(upstream, lane, deadline))
          if (lane.rpm === undefined && lane.tpm === undefined) return new Admitted(upstream, 0)
          const reservation = yield* reserve(upstream, lane, estimate)
          const now = yield* Clock.currentTimeMillis
          // The store's own latency (a Redis round trip) is not waiting for a slot: with QUEUE_TIMEOUT=0 a request
          // free to go at once must still go, though the clock moved on while the store answered.
          const latest = Math.max(deadline, now)
          const before = lane.nextDeparture
          const departure = depart(lane, now + reservation.delayMillis, latest)
          if (departure > latest) {
            yield* release(upstream, reservation)
            return yield* Effect.fail(overBudget(upstream, { ...reservation, delayMillis: departure - now }))
          }
          const next = lane.nextDeparture
          // The wait is interruptible (a client hanging up); whatever ends it early gives the reservation back, and
          // its place in line when it was the last one given.
          const waited = yield* Effect.exit(restore(
            Effect.andThen(
              departure > now ? Effect.sleep(Duration.millis(departure - now)) : Effect.void,
              Effect.flatMap(coolDown(upstream, lane, deadline), (cooled) => cooled ? departAgain(upstream, lane, reservation, deadline) : Effect.void)
            )
          ))
          if (Exit.isFailure(waited)) {
            if (next !== before && lane.nextDeparture === next) lane.nextDeparture = departure
            yield* release(upstream, reservation)
            return yield* Effect.failCause(waited.cause)
          }
          return new Admitted(upstream, reservation.tokens)
        })
      )

    const admit = (upstream: string, estimatedTokens: number): Effect.Effect<Ticket, RateLimited> =>
      Effect.suspend(() => {
        const lane = limited ? laneOf(upstream) : lanes.get(upstream)
        // Nothing configured and no cool-down: not a single store call on the hot path.
        if (lane === undefined || (!limited && lane.coolDownUntil === 0)) {
          return Effect.succeed(new Admitted(upstream, 0))
        }
        const estimate = Number.isFinite(estimatedTokens) ? Math.max(0, Math.ceil(estimatedTokens)) : 0
        return admitSlowly(upstream, lane, estimate)
      })

    /** Another process's cool-down becomes this one's too, before the request is admitted. */
    const acquire = (upstream: string, estimatedTokens: number): Effect.Effect<Ticket, RateLimited> =>
      shared === undefined ? admit(upstream, estimatedTokens) : Effect.flatMap(shared.remaining(upstream), (left) =>
        left <= 0 ? admit(upstream, estimatedTokens) : Effect.flatMap(Clock.currentTimeMillis, (now) => {
          const lane = laneOf(upstream)
          lane.coolDownUntil = Math.max(lane.coolDownUntil, now + left)
          return admit(upstream, estimatedTokens)
        }))

    const settle = (ticket: Ticket, actualTokens: number): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (!(ticket instanceof Admitted) || ticket.settled) return Effect.void
        ticket.settled = true
        const tpm = lanes.get(ticket.upstream)?.tpm
        if (tpm === undefined) return Effect.void
        const actual = Number.isFinite(actualTokens) ? Math.max(0, Math.ceil(actualTokens)) : ticket.tokens
        const difference = actual - ticket.tokens
        if (difference > 0) return Effect.asVoid(take(tpmKey(ticket.upstream), tpm, difference))
        return giveBack(tpmKey(ticket.upstream), tpm, -difference)
      })

    /** Takes out whatever the bucket holds above `limit`, so a lowered budget applies at once. */
    const cap = (key: string, limit: number): Effect.Effect<void> =>
      limiter.consume({ key, limit, window: WINDOW, tokens: 0, algorithm: "token-bucket", onExceeded: "delay" }).pipe(
        Effect.flatMap(({ remaining }) => remaining > limit ? take(key, limit, remaining - limit) : Effect.void),
        Effect.catch(() => Effect.void),
        Effect.asVoid
      )

    // Budgets are whole numbers; the epsilon keeps float noise (80 × 1.1 = 88.00000000000001) from adding one.
    const lower = (upstream: string, lane: Lane): Effect.Effect<void> => {
      const cut = (budget: number | undefined, configured: number | undefined, floor: number) =>
        budget === undefined || configured === undefined
          ? budget
          : Math.max(Math.min(floor, configured), Math.floor(budget * BACKOFF + 1e-9))
      const before = { rpm: lane.rpm, tpm: lane.tpm }
      lane.rpm = cut(lane.rpm, settings.rpm, RPM_FLOOR)
      lane.tpm = cut(lane.tpm, settings.tpm, TPM_FLOOR)
      lane.successes = 0
      return Effect.andThen(
        lane.rpm === undefined || lane.rpm === before.rpm ? Effect.void : cap(rpmKey(upstream), lane.rpm),
        lane.tpm === undefined || lane.tpm === before.tpm ? Effect.void : cap(tpmKey(upstream), lane.tpm)
      )
    }

    const grow = (lane: Lane) => {
      const up = (budget: number | undefined, configured: number | undefined) =>
        budget === undefined || configured === undefined
          ? budget
          : Math.min(configured, Math.ceil(budget * RECOVERY - 1e-9))
      lane.rpm = up(lane.rpm, settings.rpm)
      lane.tpm = up(lane.tpm, settings.tpm)
    }

    const succeeded = (upstream: string) => {
      const lane = lanes.get(upstream)
      if (lane === undefined || !limited) return
      if (lane.rpm === settings.rpm && lane.tpm === settings.tpm) {
        lane.successes = 0
      } else if (++lane.successes >= SUCCESSES_TO_RECOVER) {
        lane.successes = 0
        grow(lane)
      }
    }

    const rateLimited = (upstream: string, retryAfter: Duration.Duration | undefined) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const lane = laneOf(upstream)
        const millis = retryAfter === undefined ? 0 : Duration.toMillis(retryAfter)
        if (millis > 0) lane.coolDownUntil = Math.max(lane.coolDownUntil, now + millis)
        const told = shared === undefined || millis <= 0 ? Effect.void : shared.hold(upstream, millis)
        // One burst of 429s is one signal: requests already in flight answer 429 together, and lowering ×0.8 for
        // each took a 600 RPM budget to its floor in about 2 s in the bench's storm. Lower once per Retry-After
        // window (at least a second), then let the next window's 429s speak.
        if (now < lane.lowerAgainAt) {
          lane.successes = 0
          return told
        }
        lane.lowerAgainAt = now + Math.max(millis, LOWER_WINDOW_MILLIS)
        return Effect.andThen(told, lower(upstream, lane))
      })

    const feedback = (upstream: string, feedback: RateFeedback): Effect.Effect<void> =>
      feedback._tag === "Success" ? Effect.sync(() => succeeded(upstream)) : rateLimited(upstream, feedback.retryAfter)

    const snapshot = Effect.map(Clock.currentTimeMillis, (now) =>
      Array.from(lanes, ([upstream, lane]): RateLimitState => ({
        upstream,
        rpm: settings.rpm === undefined || lane.rpm === undefined ? undefined : { configured: settings.rpm, effective: lane.rpm },
        tpm: settings.tpm === undefined || lane.tpm === undefined ? undefined : { configured: settings.tpm, effective: lane.tpm },
        coolDown: Duration.millis(Math.max(0, lane.coolDownUntil - now)),
        successes: lane.successes
      })))

    return { acquire, settle, feedback, snapshot }
  })

/** Per-upstream outbound budgets (requests and tokens per minute), adaptive to the upstream's 429s. */
export class UpstreamRateLimits extends Context.Service<UpstreamRateLimits, UpstreamRateLimitsShape>()(
  "ccproxy/UpstreamRateLimits"
) {
  /** Over any `RateLimiter` (and so any `RateLimiterStore`). */
  static readonly layer = (settings: RateLimitSettings): Layer.Layer<UpstreamRateLimits, never, RateLimiter.RateLimiter> =>
    Layer.effect(UpstreamRateLimits, make(settings))

  /** Budgets kept in this process's memory. */
  static readonly layerMemory = (settings: RateLimitSettings): Layer.Layer<UpstreamRateLimits> =>
    UpstreamRateLimits.layer(settings).pipe(
      Layer.provide(RateLimiter.layer),
      Layer.provide(RateLimiter.layerStoreMemory)
    )
}
