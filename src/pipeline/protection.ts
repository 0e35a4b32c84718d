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
import * as Stream from "effect/Stream"
import type { ProxyError } from "../errors.ts"
import type { StreamEvent, Usage } from "../protocol/anthropic.ts"
import { rateLimitRejected } from "../observability/metrics.ts"
import { UpstreamBreaker } from "../protection/breaker.ts"
import { ConcurrencyLimiter } from "../protection/concurrency.ts"
import { type Ticket, UpstreamRateLimits } from "../protection/rate-limits.ts"
import { onStreamEnd, type ProxyReply, type Stage } from "./stage.ts"

export const breaker: Effect.Effect<Stage, never, UpstreamBreaker> = Effect.map(Effect.service(UpstreamBreaker), (circuits) => ({
  name: "breaker",
  wrap: (next) => (request) =>
    Effect.flatMap(circuits.admit(request.upstream), (call) =>
      next(request).pipe(
        Effect.onExit((exit) =>
          Exit.isSuccess(exit) && exit.value._tag === "Stream" ? Effect.void : call.reportExit(exit)
        ),
        Effect.map((reply) => reply._tag === "Stream" ? { ...reply, events: onStreamEnd(reply.events, call.reportExit) } : reply)
      ))
}))

export const limiter: Effect.Effect<Stage, never, ConcurrencyLimiter> = Effect.map(Effect.service(ConcurrencyLimiter), (permits) => ({
  name: "limiter",
  // `next` is called only once the permit is held: calling it runs the inner stages' synchronous work (the core
  // serialises the upstream body), which a queued request must not pay for, nor hold in memory while it waits.
  wrap: (next) => (request) => Effect.flatMap(permits.acquire(request.upstream), () => next(request))
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

  /** The stream, settled with the usage its last message_delta reported when it ends. */
  const settledStream = (events: Stream.Stream<StreamEvent, ProxyError>, ticket: Ticket) =>
    // One stage that watches the usage and settles at the end, as the logging stage does.
    Stream.transformPullBracket(events, (pull, _scope, streamScope) => {
      let usage: Partial<Usage> | undefined
      const settleAtEnd = Scope.addFinalizerExit(streamScope, (exit) => settle(ticket, usage, Exit.isSuccess(exit)))
      return Effect.as(
        settleAtEnd,
        Effect.map(pull, (batch) => {
          for (const event of batch) {
            if (event.type === "message_start") usage = event.message.usage
            else if (event.type === "message_delta") usage = { ...usage, ...event.usage }
          }
          return batch
        })
      )
    })

  // Without budgets only a cool-down (an upstream 429's Retry-After) can hold a request back: no ticket to settle,
  // nothing to observe in the reply.
  if (unlimited) {
    return {
      name: "rate-limits",
      wrap: (next) => (request) =>
        Effect.flatMap(
          Effect.tapError(limits.acquire(request.upstream, 0), () => rateLimitRejected(request.upstream)),
          () => next(request)
        )
    }
  }

  return {
    name: "rate-limits",
    wrap: (next) => (request) =>
      Effect.flatMap(
        Effect.tapError(limits.acquire(request.upstream, request.estimatedTokens), () => rateLimitRejected(request.upstream)),
        (ticket) =>
        Effect.map(next(request), (reply): ProxyReply =>
          reply._tag === "Stream"
            ? { ...reply, events: settledStream(reply.events, ticket) }
            : reply).pipe(
            Effect.tap((reply) => reply._tag === "Message" ? settle(ticket, reply.message.usage, true) : Effect.void)
          ))
  }
})
