/**
 * The routing stage: chooses the provider and model for each request from the route table (`routing/routes.ts`)
 * and, for a fallback chain, tries the next target when one fails before anything reached the client.
 *
 * A fallback chain runs as an `ExecutionPlan`: one step per target, each providing the `CurrentTarget` the stages
 * inside read, and each step after the first taken only when the previous failure `canFallBack`. Every target goes
 * through the inner stages again, so it gets its own conversion (caps and parameters differ per model), its own
 * breaker (an open circuit fails at once, so its provider is skipped without waiting), rate limits and limiter.
 * Each target runs in a scope of its own under the request's: a target that failed releases its permit at once
 * instead of holding it while the next one streams.
 *
 * A one-target route (the common case, and every setup without a config file) skips all of that: no plan, no
 * extra scope, the request handed on as before.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as ExecutionPlan from "effect/ExecutionPlan"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import { ProxyConfig } from "../config.ts"
import { InvalidRequest, type ProxyError } from "../errors.ts"
import { fallbackTaken } from "../observability/metrics.ts"
import { RequestStats, type RequestStatsShape } from "../observability/record.ts"
import { FallbackAvailable } from "../routing/fallback.ts"
import { type Chain, chooseRoute, formatTarget, type Target } from "../routing/routes.ts"
import { handOff, type Handler, type ProxyReply, type ProxyRequest, type Stage } from "./stage.ts"

/** The target a fallback step is trying. */
class CurrentTarget extends Context.Service<CurrentTarget, Target>()("ccproxy/CurrentTarget") {}

/**
 * Whether the next target may do better: the provider is down, overloaded or limiting us (429, 5xx/529, no
 * connection, no first byte in time, an answer that is not an answer), or our own protections turned the request
 * away from it (open circuit, full queue, spent budget). A request the provider rejects as such (400, 401, 404)
 * would be rejected by the next one too, or hide a mistake: it goes back to the client.
 */
export const canFallBack = (error: ProxyError): boolean => {
  switch (error._tag) {
    case "UpstreamFailure":
      return error.upstreamStatus === 429 || error.upstreamStatus === 408 || error.upstreamStatus >= 500
    case "UpstreamUnreachable":
    case "UpstreamTimeout":
    case "UpstreamProtocolError":
    case "Overloaded":
    case "RateLimited":
      return true
    default:
      return false
  }
}

/** Short words for what went wrong: the log's `failed_over` and the fallback metric's `reason` label. */
export const fallbackReason = (error: ProxyError): string =>
  error._tag === "UpstreamFailure" ? String(error.upstreamStatus) : error._tag

interface Step {
  readonly provide: Context.Context<CurrentTarget>
  readonly while?: (error: ProxyError) => boolean
}

/** One step per target; every step after the first is taken only when the failure before it can fall back. */
const planOf = (chain: Chain) => {
  const [first, ...rest] = chain.map((target, i): Step => ({
    provide: Context.make(CurrentTarget, target),
    ...(i === 0 ? {} : { while: canFallBack })
  }))
  return ExecutionPlan.make(first!, ...rest)
}

const routedTo = (request: ProxyRequest, target: Target): ProxyRequest => ({
  ...request,
  upstream: target.provider,
  upstreamModel: target.model
})

/** Runs `effect` in a child of the request scope, closed at once if it fails (the request scope closes the rest). */
const inOwnScope = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R | Scope.Scope> =>
  Effect.flatMap(Effect.scope, (parent) =>
    Effect.flatMap(Scope.fork(parent), (child) =>
      Effect.onExit(Scope.provide(effect, child), (exit) => Exit.isFailure(exit) ? Scope.close(child, exit) : Effect.void)))

/**
 * One target of a chain: the request routed to it, told whether a next target waits (so the protections and the
 * upstream move on rather than queue or retry), and, when it fails over to that next target, noted for the log and
 * the metrics.
 */
const tryTarget = (
  next: Handler,
  request: ProxyRequest,
  chain: Chain,
  stats: RequestStatsShape | undefined
): Effect.Effect<ProxyReply, ProxyError, Scope.Scope | CurrentTarget> =>
  Effect.flatMap(Effect.all([Effect.service(CurrentTarget), Effect.service(ExecutionPlan.CurrentMetadata)]), ([target, step]) => {
    if (stats !== undefined) stats.upstream = target.provider
    const last = step.stepIndex === chain.length - 1
    const tried = Effect.provideService(inOwnScope(next(routedTo(request, target))), FallbackAvailable, !last)
    return last ? tried : Effect.tapError(tried, (error) => {
      if (!canFallBack(error)) return Effect.void
      const reason = fallbackReason(error)
      if (stats !== undefined) (stats.failedOver ??= []).push(`${formatTarget(target)}: ${reason}`)
      return fallbackTaken(target.provider, reason)
    })
  })

export const routing: Effect.Effect<Stage, never, ProxyConfig> = Effect.map(ProxyConfig, (config) => {
  // The table's chains are fixed for this config: each gets its plan once.
  const plans = new Map<Chain, ReturnType<typeof planOf>>()
  const planFor = (chain: Chain) => {
    let plan = plans.get(chain)
    if (plan === undefined) plans.set(chain, plan = planOf(chain))
    return plan
  }
  return {
    name: "routing",
    wrap: (next) => (request) => {
      const routed = chooseRoute(config.routes, config.providers, request.body, request.estimatedTokens)
      if ("problem" in routed) return Effect.fail(new InvalidRequest({ message: routed.problem }))
      const chain = routed.chain
      return Effect.flatMap(Effect.serviceOption(RequestStats), (found) => {
        const stats = Option.getOrUndefined(found)
        if (stats !== undefined) {
          stats.routedBy = routed.route
          stats.upstream = chain[0].provider
        }
        if (chain.length === 1) return handOff(next, routedTo(request, chain[0]))()
        return Effect.withExecutionPlan(tryTarget(next, request, chain, stats), planFor(chain))
      })
    }
  }
})
