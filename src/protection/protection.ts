/**
 * The three upstream protections as one layer, their state in this process's memory:
 *
 * - `ConcurrencyLimiter`: requests in flight per upstream (MAX_CONCURRENT_UPSTREAM, QUEUE_TIMEOUT);
 * - `UpstreamRateLimits`: requests and tokens per minute per upstream, adaptive to 429s (UPSTREAM_RPM, UPSTREAM_TPM);
 * - `UpstreamBreaker`: a circuit per upstream (CIRCUIT_BREAKER_*).
 *
 * With `SharedStores` in context (REDIS_URL, see `redis/redis.ts`) the rate limits, their cool-downs and the
 * breaker keep their state there instead, shared by every process; the in-flight limit stays per process.
 *
 * Import as a namespace: `import * as Protection from "./protection/protection.ts"`, then `Protection.layer(…)`.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Equal from "effect/Equal"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { CircuitBreaker, RateLimiter } from "effect/persistence"
import { UpstreamBreaker } from "./breaker.ts"
import { ConcurrencyLimiter } from "./concurrency.ts"
import { UpstreamRateLimits } from "./rate-limits.ts"
import type { ProtectionSettings } from "./settings.ts"
import { SharedCoolDowns, SharedStores, type SharedStoresShape } from "./shared.ts"

export { type BreakerCall, type BreakerOutcome, classify, type CircuitStatus, UpstreamBreaker } from "./breaker.ts"
export { ConcurrencyLimiter, type ConcurrencyStats } from "./concurrency.ts"
export { type RateFeedback, type RateLimitState, type Ticket, UpstreamRateLimits } from "./rate-limits.ts"
export { defaultProtection, parseProtection, PROTECTION_VARIABLES, type ProtectionSettings } from "./settings.ts"
export { SharedCoolDowns, type SharedCoolDownsShape, SharedStores, type SharedStoresShape } from "./shared.ts"

export type Services = ConcurrencyLimiter | UpstreamRateLimits | UpstreamBreaker

const sameSettings = (a: ProtectionSettings, b: ProtectionSettings): boolean =>
  (Object.keys(a) as Array<keyof ProtectionSettings>).every((key) => Equal.equals(a[key], b[key]))

const inMemory = (settings: ProtectionSettings): Layer.Layer<Services> =>
  Layer.mergeAll(
    ConcurrencyLimiter.layer(settings),
    UpstreamRateLimits.layerMemory(settings),
    UpstreamBreaker.layerMemory(settings)
  )

/** The rate limits and the breaker over the shared stores; the in-flight limit is per process all the same. */
const onShared = (settings: ProtectionSettings, shared: SharedStoresShape): Layer.Layer<Services> =>
  Layer.mergeAll(
    ConcurrencyLimiter.layer(settings),
    UpstreamRateLimits.layer(settings).pipe(
      Layer.provide(RateLimiter.layer),
      Layer.provide(Layer.succeed(RateLimiter.RateLimiterStore, shared.rateLimiter)),
      Layer.provide(Layer.succeed(SharedCoolDowns, shared.coolDowns))
    ),
    UpstreamBreaker.layer(settings).pipe(Layer.provide(Layer.succeed(CircuitBreaker.CircuitBreakerStore, shared.breaker)))
  )

/** Instances for one set of settings: over the shared stores when the process has them, else in memory. */
const instances = (settings: ProtectionSettings): Layer.Layer<Services> =>
  Layer.unwrap(Effect.map(Effect.serviceOption(SharedStores), (shared) =>
    Option.isSome(shared) ? onShared(settings, shared.value) : inMemory(settings)))

/**
 * All three services, in memory or over the process's `SharedStores`, from settings already checked by `parseProtection`; `perUpstream` gives named
 * upstreams settings of their own (a provider's `max_concurrent`, `rpm`, breaker…). Each such upstream gets its
 * own instances and calls are sent to them by name, so the protections themselves stay single-setting and simple.
 */
export const layer = (
  settings: ProtectionSettings,
  perUpstream: ReadonlyMap<string, ProtectionSettings> = new Map()
): Layer.Layer<Services> => {
  const own = [...perUpstream].filter(([, upstreamSettings]) => !sameSettings(upstreamSettings, settings))
  if (own.length === 0) return instances(settings)
  return Layer.effectContext(Effect.gen(function*() {
    const fallback = yield* Layer.build(instances(settings))
    const byName = new Map<string, Context.Context<Services>>()
    for (const [name, upstreamSettings] of own) byName.set(name, yield* Layer.build(instances(upstreamSettings)))
    return dispatchByUpstream(fallback, byName)
  }))
}

/** One set of services that sends each call to the named upstream's own instance (or the shared one). */
const dispatchByUpstream = (
  fallback: Context.Context<Services>,
  byName: ReadonlyMap<string, Context.Context<Services>>
): Context.Context<Services> => {
  const all = [fallback, ...byName.values()]
  const of = <I extends Services, S>(tag: Context.Key<I, S>) => (upstream: string): S => Context.get(byName.get(upstream) ?? fallback, tag)
  const every = <I extends Services, S>(tag: Context.Key<I, S>): ReadonlyArray<S> => all.map((context) => Context.get(context, tag))
  const limiter = of(ConcurrencyLimiter)
  const limits = of(UpstreamRateLimits)
  const breaker = of(UpstreamBreaker)
  // An upstream with instances of its own is reported by those only; the shared ones report everything else.
  const owned = (names: Iterable<string> | undefined, context: Context.Context<Services>) =>
    names === undefined ? undefined : [...names].filter((name) => (byName.get(name) ?? fallback) === context)
  return Context.make(ConcurrencyLimiter, {
    acquire: (upstream) => limiter(upstream).acquire(upstream),
    stats: (upstream) => limiter(upstream).stats(upstream),
    snapshot: Effect.map(Effect.forEach(every(ConcurrencyLimiter), (one) => one.snapshot), (lists) => lists.flat())
  }).pipe(
    Context.add(UpstreamRateLimits, {
      acquire: (upstream, tokens) => limits(upstream).acquire(upstream, tokens),
      settle: (ticket, tokens) => limits(ticket.upstream).settle(ticket, tokens),
      feedback: (upstream, feedback) => limits(upstream).feedback(upstream, feedback),
      snapshot: Effect.map(Effect.forEach(every(UpstreamRateLimits), (one) => one.snapshot), (lists) => lists.flat())
    }),
    Context.add(UpstreamBreaker, {
      protect: (upstream, effect) => breaker(upstream).protect(upstream, effect),
      admit: (upstream, endedWith) => breaker(upstream).admit(upstream, endedWith),
      states: (names) =>
        Effect.map(
          Effect.forEach(all, (context) => {
            const circuits = Context.get(context, UpstreamBreaker)
            const mine = owned(names, context)
            return Effect.map(circuits.states(mine), (states) =>
              context === fallback ? states.filter((state) => !byName.has(state.name)) : states)
          }),
          (lists) => lists.flat()
        )
    })
  )
}
