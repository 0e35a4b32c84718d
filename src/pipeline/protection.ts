/**
 * The upstream's protections as three stages, outermost first:
 *
 * - `breaker`: an open circuit answers 529 at once, before any queueing; the call's outcome (a stream's when it
 *   ends, so one that dies mid-way counts) is reported to the upstream's circuit.
 * - `rate-limits`: the upstream's requests and tokens per minute; charged the cheap estimate up front, corrected by
 *   the reply's real usage. Without budgets it only holds requests back during an upstream's 429 cool-down.
 * - `limiter`: a permit per request in flight to the upstream, held in the request scope, so until the reply's last
 *   byte; waiting is bounded by QUEUE_TIMEOUT.
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import type { Usage } from "../protocol/anthropic.ts"
import { rateLimitRejected } from "../observability/metrics.ts"
import { UpstreamBreaker } from "../protection/breaker.ts"
import { ConcurrencyLimiter } from "../protection/concurrency.ts"
import { type Ticket, UpstreamRateLimits } from "../protection/rate-limits.ts"
import { handOff, type Handler, type ProxyReply, type Stage } from "./stage.ts"
import { observationsIn, watchedBy, whenStreamEnds } from "./stream-watch.ts"

export const breaker: Effect.Effect<Stage, never, UpstreamBreaker> = Effect.map(Effect.service(UpstreamBreaker), (circuits) => ({
  name: "breaker",
  wrap: (next) => (request) => guarded(circuits, request.upstream, handOff(next, request))
}))

/**
 * The call through the upstream's circuit. Module-level, so its closures cannot reach the request (see `handOff`).
 * A stream's outcome is read when the request scope closes (the admission's finalizer), from `stream-watch.ts`.
 */
const guarded = (
  circuits: UpstreamBreaker["Service"],
  upstream: string,
  handed: () => ReturnType<Handler>
): ReturnType<Handler> =>
  Effect.withFiber((fiber) => {
    const observations = observationsIn(fiber.context)
    return Effect.flatMap(circuits.admit(upstream, () => observations.seen.exit), (call) =>
      Effect.map(
        Effect.onExit(handed(), (exit) => Exit.isSuccess(exit) && exit.value._tag === "Stream" ? Effect.void : call.reportExit(exit)),
        (reply) => watchedBy(reply, observations)
      ))
  })

export const limiter: Effect.Effect<Stage, never, ConcurrencyLimiter> = Effect.map(Effect.service(ConcurrencyLimiter), (permits) => ({
  name: "limiter",
  // `next` is called only once the permit is held: calling it runs the inner stages' synchronous work (the core
  // serialises the upstream body), which a queued request must not pay for, nor hold in memory while it waits.
  wrap: (next) => (request) => Effect.flatMap(permits.acquire(request.upstream), handOff(next, request))
}))

const tokensOf = (usage: Partial<Usage> | undefined): number | undefined =>
  usage === undefined
    ? undefined
    : (usage.input_tokens ?? 0) + (usage.output_tokens ?? 0) + (usage.cache_read_input_tokens ?? 0) +
      (usage.cache_creation_input_tokens ?? 0)

export const makeRateLimits = (unlimited: boolean): Effect.Effect<Stage, never, UpstreamRateLimits> =>
  Effect.map(Effect.service(UpstreamRateLimits), (limits) => {
  const settle = (ticket: Ticket, usage: Partial<Usage> | undefined, ok: boolean) =>
    Effect.andThen(
      tokensOf(usage) === undefined ? Effect.void : limits.settle(ticket, tokensOf(usage)!),
      ok ? limits.feedback(ticket.upstream, { _tag: "Success" }) : Effect.void
    )

  // Without budgets only a cool-down (an upstream 429's Retry-After) can hold a request back: no ticket to settle,
  // nothing to observe in the reply.
  if (unlimited) {
    return {
      name: "rate-limits",
      wrap: (next) => (request) => {
        const upstream = request.upstream
        return Effect.flatMap(
          Effect.tapError(limits.acquire(upstream, 0), () => rateLimitRejected(upstream)),
          handOff(next, request)
        )
      }
    }
  }

  return {
    name: "rate-limits",
    wrap: (next) => (request) => {
      const upstream = request.upstream
      const handed = handOff(next, request)
      return Effect.flatMap(
        Effect.tapError(limits.acquire(upstream, request.estimatedTokens), () => rateLimitRejected(upstream)),
        (ticket) =>
        Effect.flatMap(handed(), (reply): Effect.Effect<ProxyReply, never, Scope.Scope> =>
          reply._tag === "Stream"
            ? whenStreamEnds(reply, (seen) => settle(ticket, seen.usage, Exit.isSuccess(seen.exit)))
            : Effect.as(settle(ticket, reply.message.usage, true), reply)))
    }
  }
})
