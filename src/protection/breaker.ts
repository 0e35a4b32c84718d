/**
 * A circuit breaker per upstream: after `failureThreshold` failed calls in a row the upstream is left alone for
 * `recoveryTimeout` (requests fail at once with `Overloaded`, 529, `retry-after` = the time left), then probe
 * requests test it, and `halfOpenRequests` successful probes in a row close the circuit again.
 *
 * The circuits are those of Effect's `CircuitBreaker` (effect/persistence): their state machine lives in a
 * `CircuitBreakerStore`, in memory here and in Redis when replicas must share it, swapped by layer.
 *
 * **What counts**
 *
 * The breaker sits outside the retries, so a call that failed after all its retries is one failure. Only signs of
 * a sick upstream count: an upstream 5xx (529 included), an unreachable upstream, a timeout. A 4xx answer (the
 * request's fault, or a 429 that the rate limits handle), a client that hung up (interruption), our own errors and
 * defects are `Ignored`: they neither count as failures nor break a run of them.
 *
 * **Two ways in**
 *
 * - `protect(upstream, effect)` for a call whose outcome is known when the effect ends (a whole JSON reply).
 * - `admit(upstream)` for a streamed reply, whose outcome is only known when the stream ends: it takes the circuit's
 *   admission for the current scope and returns a `BreakerCall` whose `report` / `reportExit` records the outcome
 *   later. The first report wins; a call never reported is `Ignored` when its scope closes.
 *
 * **Why not `CircuitBreaker.execute`**
 *
 * `execute` records a call's outcome the moment the wrapped effect ends, and there is no way to report one later.
 * For a stream that effect ends at the first byte, so a stream that then died would be recorded as a success, and
 * that success resets the failure count: five streams in a row dying mid-way would never open the circuit.
 * `execute` also closes a half-open circuit on the first successful probe, and its `classify` cannot tell a probe
 * from any other call, so it cannot require several. This module therefore drives the same `CircuitBreakerStore`
 * (`admit` / `record`, which give each call a generation and tell probes apart) and adds both: a deferred report,
 * and a count of successful probes (a probe success short of the count is recorded as `Ignored`, which frees the
 * probe slot and keeps the circuit half-open for the next probe).
 *
 * **Gotchas**
 *
 * - One probe at a time: while it runs, other requests get `Overloaded` at once. A streamed probe holds the slot
 *   until its reply ends.
 * - The count of successful probes is kept per process, even on a shared store.
 * - A store that fails lets requests through unrecorded (logged), and reads as closed: a Redis outage must not take
 *   requests down.
 */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import { CircuitBreaker } from "effect/persistence"
import * as Scope from "effect/Scope"
import { Overloaded } from "../errors.ts"
import type { ProtectionSettings } from "./settings.ts"

export type BreakerOutcome = "Success" | "Failure" | "Ignored"

/** A call admitted through an upstream's circuit, whose outcome is reported once it is known. */
export interface BreakerCall {
  /** Records the call's outcome. Only the first report (or the scope closing: `Ignored`) counts. */
  readonly report: (outcome: BreakerOutcome) => Effect.Effect<void>
  /** Records the outcome that `classify` gives this exit. */
  readonly reportExit: (exit: Exit.Exit<unknown, unknown>) => Effect.Effect<void>
}

export interface CircuitStatus {
  readonly name: string
  readonly circuit: "closed" | "open" | "half_open"
  /** How long an open circuit stays open. */
  readonly retryAfter?: Duration.Duration
}

export interface UpstreamBreakerShape {
  /** Runs `effect` through the upstream's circuit: `Overloaded` at once if it is open, else one recorded outcome. */
  readonly protect: <A, E, R>(upstream: string, effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | Overloaded, R>
  /**
   * Admits one call for the current scope; its outcome is reported later (see `BreakerCall`), or when the scope
   * closes: `endedWith`'s exit then (a stream's ending, observed elsewhere), else Ignored.
   */
  readonly admit: (
    upstream: string,
    endedWith?: () => Exit.Exit<unknown, unknown> | undefined
  ) => Effect.Effect<BreakerCall, Overloaded, Scope.Scope>
  /** Every upstream's circuit (those named here and every one used so far), for GET /health. */
  readonly states: (names?: Iterable<string>) => Effect.Effect<ReadonlyArray<CircuitStatus>>
}

export type BreakerSettings = Pick<ProtectionSettings, "failureThreshold" | "recoveryTimeout" | "halfOpenRequests">

/** Whether an error says the upstream is unwell (as opposed to the request being wrong, or us). */
export const countsAgainstUpstream = (error: unknown): boolean => {
  if (typeof error !== "object" || error === null || !("_tag" in error)) return false
  switch (error._tag) {
    case "UpstreamUnreachable":
    case "UpstreamTimeout":
      return true
    case "UpstreamFailure":
      return "upstreamStatus" in error && typeof error.upstreamStatus === "number" && error.upstreamStatus >= 500
    default:
      return false
  }
}

/** How a call's exit counts: success, a sign of a sick upstream, or neither (4xx, hang-ups, our own failures). */
export const classify = (exit: Exit.Exit<unknown, unknown>): BreakerOutcome => {
  if (Exit.isSuccess(exit)) return "Success"
  if (Cause.hasInterruptsOnly(exit.cause)) return "Ignored"
  const error = Cause.findErrorOption(exit.cause)
  return error._tag === "Some" && countsAgainstUpstream(error.value) ? "Failure" : "Ignored"
}

const seconds = (d: Duration.Duration) => `${Math.max(1, Math.ceil(Duration.toMillis(d) / 1000))} s`

export const make = (
  settings: BreakerSettings
): Effect.Effect<UpstreamBreakerShape, never, CircuitBreaker.CircuitBreakerStore> =>
  Effect.gen(function*() {
    const store = yield* CircuitBreaker.CircuitBreakerStore
    const tripPolicy = CircuitBreaker.consecutive(settings.failureThreshold)
    const seen = new Set<string>()
    /** Successful probes so far in the current half-open period, per upstream. */
    const probeSuccesses = new Map<string, number>()

    const logTransition = (transition: CircuitBreaker.Transition | undefined): Effect.Effect<void> => {
      if (transition === undefined) return Effect.void
      const upstream = transition.key
      switch (transition.to) {
        case "Open":
          return Effect.logWarning(
            transition.from === "Closed" ? "Circuit opened: upstream is failing" : "Circuit reopened: probe failed",
            { upstream, retryAfterSeconds: Duration.toMillis(transition.retryAfter) / 1000 }
          )
        case "HalfOpen":
          return Effect.logInfo("Circuit half-open: probing upstream", { upstream })
        case "Closed":
          return Effect.logInfo("Circuit closed: upstream recovered", { upstream })
      }
    }

    const refuse = (upstream: string, error: CircuitBreaker.CircuitBreakerError): Effect.Effect<undefined, Overloaded> => {
      const reason = error.reason
      switch (reason._tag) {
        case "CircuitOpen":
          return Effect.fail(
            new Overloaded({
              message: `Upstream "${upstream}" is failing; the circuit breaker holds requests back from it for ` +
                `another ${seconds(reason.retryAfter)}`,
              retryAfter: reason.retryAfter
            })
          )
        case "CircuitHalfOpen":
          return Effect.fail(
            new Overloaded({ message: `Upstream "${upstream}" is recovering; a probe request is testing it` })
          )
        case "CircuitBreakerStoreError":
          return Effect.as(
            Effect.logWarning("Circuit breaker store failed; the request goes through unrecorded", {
              upstream,
              error: reason.message
            }),
            undefined
          )
      }
    }

    /** The store's admission, or `undefined` when the store failed and the call runs unrecorded. */
    const enter = (upstream: string): Effect.Effect<CircuitBreaker.Admission | undefined, Overloaded, Scope.Scope> => {
      seen.add(upstream)
      return Effect.matchEffect(store.admit(upstream), {
        onFailure: (error) => refuse(upstream, error),
        onSuccess: (admission) => {
          if (admission.transition === undefined) return Effect.succeed(admission)
          probeSuccesses.delete(upstream)
          return Effect.as(logTransition(admission.transition), admission)
        }
      })
    }

    const record = (
      upstream: string,
      admission: CircuitBreaker.Admission | undefined,
      outcome: BreakerOutcome
    ): Effect.Effect<void> => {
      if (admission === undefined) return Effect.void
      let recorded = outcome
      if (admission.probe) {
        if (outcome === "Success") {
          const successes = (probeSuccesses.get(upstream) ?? 0) + 1
          if (successes < settings.halfOpenRequests) {
            probeSuccesses.set(upstream, successes)
            recorded = "Ignored"
          } else {
            probeSuccesses.delete(upstream)
          }
        } else if (outcome === "Failure") {
          probeSuccesses.delete(upstream)
        }
      }
      return store.record({
        key: upstream,
        generation: admission.generation,
        outcome: recorded,
        tripPolicy,
        openFor: settings.recoveryTimeout
      }).pipe(
        Effect.flatMap(logTransition),
        Effect.catch((error) =>
          Effect.logWarning("Circuit breaker store failed to record an outcome", { upstream, error: error.message })
        )
      )
    }

    const protect = <A, E, R>(upstream: string, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | Overloaded, R> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.scopedWith((scope) =>
          Effect.flatMap(Scope.provide(enter(upstream), scope), (admission) =>
            Effect.flatMap(Effect.exit(restore(effect)), (exit) =>
              Effect.flatMap(record(upstream, admission, classify(exit)), () => exit)))
        )
      )

    // Uninterruptible from admission to finalizer: an admission lost in between would leave a probe slot taken
    // for good in the memory store.
    const admit = (
      upstream: string,
      endedWith?: () => Exit.Exit<unknown, unknown> | undefined
    ): Effect.Effect<BreakerCall, Overloaded, Scope.Scope> =>
      Effect.uninterruptible(
        Effect.flatMap(Effect.scope, (scope) =>
          Effect.flatMap(enter(upstream), (admission) => {
            let reported = false
            const report = (outcome: BreakerOutcome) =>
              Effect.suspend(() => {
                if (reported) return Effect.void
                reported = true
                return record(upstream, admission, outcome)
              })
            const call: BreakerCall = { report, reportExit: (exit) => report(classify(exit)) }
            // One finalizer: the outcome known when the scope closes (a stream's ending), else Ignored.
            const atClose = Effect.suspend(() => {
              const exit = endedWith?.()
              return report(exit === undefined ? "Ignored" : classify(exit))
            })
            return Effect.as(Scope.addFinalizer(scope, atClose), call)
          }))
      )

    const states = (names?: Iterable<string>): Effect.Effect<ReadonlyArray<CircuitStatus>> =>
      Effect.suspend(() => {
        const all = new Set(names)
        for (const name of seen) all.add(name)
        return Effect.forEach(all, (name) =>
          store.state(name).pipe(
            Effect.map((state): CircuitStatus => {
              switch (state._tag) {
                case "Closed":
                  return { name, circuit: "closed" }
                case "HalfOpen":
                  return { name, circuit: "half_open" }
                case "Open":
                  // Past its open time a circuit reads Open until the next call probes it; it is half-open in effect.
                  return Duration.isZero(state.retryAfter)
                    ? { name, circuit: "half_open" }
                    : { name, circuit: "open", retryAfter: state.retryAfter }
              }
            }),
            Effect.catch(() => Effect.succeed<CircuitStatus>({ name, circuit: "closed" }))
          ))
      })

    return { protect, admit, states }
  })

/** One circuit breaker per upstream, on Effect's CircuitBreaker store. */
export class UpstreamBreaker extends Context.Service<UpstreamBreaker, UpstreamBreakerShape>()("ccproxy/UpstreamBreaker") {
  /** Over any `CircuitBreakerStore`. */
  static readonly layer = (
    settings: BreakerSettings
  ): Layer.Layer<UpstreamBreaker, never, CircuitBreaker.CircuitBreakerStore> => Layer.effect(UpstreamBreaker, make(settings))

  /** Circuits kept in this process's memory. */
  static readonly layerMemory = (settings: BreakerSettings): Layer.Layer<UpstreamBreaker> =>
    UpstreamBreaker.layer(settings).pipe(Layer.provide(CircuitBreaker.layerStoreMemory()))
}
