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
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
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

const sameSettings = (a: ProtectionSettings, b: ProtectionSettings): boolean => settingsKey(a) === settingsKey(b)

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
 * Instances kept for the whole process, one per distinct set of settings: a config reload builds its protections
 * from the pool, so a provider whose settings did not change keeps its state (an open circuit, a cool-down, the
 * permits its requests in flight hold) instead of starting afresh beside the old one. A service of the process,
 * built once (`app.ts`); without it, each `layer` builds instances of its own.
 */
export class Pool extends Context.Service<Pool, {
  readonly instances: (settings: ProtectionSettings) => Effect.Effect<Context.Context<Services>>
}>()("ccproxy/ProtectionPool") {
  static readonly layer: Layer.Layer<Pool> = Layer.effect(
    Pool,
    Effect.gen(function*() {
      const scope = yield* Effect.scope
      const services = yield* Effect.context<never>()
      const built = new Map<string, Context.Context<Services>>()
      return Pool.of({
        instances: (settings) =>
          Effect.suspend(() => {
            const key = settingsKey(settings)
            const found = built.get(key)
            if (found !== undefined) return Effect.succeed(found)
            return Effect.tap(Effect.provide(Layer.buildWithScope(instances(settings), scope), services), (context) =>
              Effect.sync(() => built.set(key, context)))
          })
      })
    })
  )
}

/** Settings as a key: durations by their milliseconds. */
const settingsKey = (settings: ProtectionSettings): string =>
  JSON.stringify(Object.entries(settings).map(([key, value]) => [key, Duration.isDuration(value) ? Duration.toMillis(value) : value ?? null]))

/**
 * All three services, in memory or over the process's `SharedStores`, from settings already checked by
 * `parseProtection`; `perUpstream` gives named upstreams settings of their own (a provider's `max_concurrent`,
 * `rpm`, breaker…). Each such upstream gets its own instances and calls are sent to them by name, so the
 * protections themselves stay single-setting and simple. Instances come from the process's `Pool` when there is one.
 */
export const layer = (
  settings: ProtectionSettings,
  perUpstream: ReadonlyMap<string, ProtectionSettings> = new Map()
): Layer.Layer<Services> =>
  Layer.effectContext(Effect.gen(function*() {
    const pool = yield* Effect.serviceOption(Pool)
    const instancesFor = (s: ProtectionSettings) => Option.isSome(pool) ? pool.value.instances(s) : Layer.build(instances(s))
    const fallback = yield* instancesFor(settings)
    const own = [...perUpstream].filter(([, upstreamSettings]) => !sameSettings(upstreamSettings, settings))
    if (own.length === 0) return fallback
    const byName = new Map<string, Context.Context<Services>>()
    for (const [name, upstreamSettings] of own) byName.set(name, yield* instancesFor(upstreamSettings))
    return dispatchByUpstream(fallback, byName)
  }))

/** One set of services that sends each call to the named upstream's own instance (or the shared one). */
const dispatchByUpstream = (
  fallback: Context.Context<Services>,
  byName: ReadonlyMap<string, Context.Context<Services>>
): Context.Context<Services> => {
  // Providers with equal settings share instances: each once.
  const all = [...new Set([fallback, ...byName.values()])]
  const mineOnly = <A extends { readonly upstream: string }>(context: Context.Context<Services>, entries: ReadonlyArray<A>) =>
    entries.filter((entry) => (byName.get(entry.upstream) ?? fallback) === context)
  const of = <I extends Services, S>(tag: Context.Key<I, S>) => (upstream: string): S => Context.get(byName.get(upstream) ?? fallback, tag)
  const limiter = of(ConcurrencyLimiter)
  const limits = of(UpstreamRateLimits)
  const breaker = of(UpstreamBreaker)
  // Each upstream is reported by the instances it is sent to now, and by no other.
  const owned = (names: Iterable<string> | undefined, context: Context.Context<Services>) =>
    names === undefined ? undefined : [...names].filter((name) => (byName.get(name) ?? fallback) === context)
  return Context.make(ConcurrencyLimiter, {
    acquire: (upstream) => limiter(upstream).acquire(upstream),
    stats: (upstream) => limiter(upstream).stats(upstream),
    snapshot: Effect.map(Effect.forEach(all, (context) => Effect.map(Context.get(context, ConcurrencyLimiter).snapshot, (entries) => mineOnly(context, entries))), (lists) => lists.flat())
  }).pipe(
    Context.add(UpstreamRateLimits, {
      acquire: (upstream, tokens) => limits(upstream).acquire(upstream, tokens),
      settle: (ticket, tokens) => limits(ticket.upstream).settle(ticket, tokens),
      feedback: (upstream, feedback) => limits(upstream).feedback(upstream, feedback),
      snapshot: Effect.map(Effect.forEach(all, (context) => Effect.map(Context.get(context, UpstreamRateLimits).snapshot, (entries) => mineOnly(context, entries))), (lists) => lists.flat())
    }),
    Context.add(UpstreamBreaker, {
      protect: (upstream, effect) => breaker(upstream).protect(upstream, effect),
      admit: (upstream, endedWith) => breaker(upstream).admit(upstream, endedWith),
      states: (names) =>
        Effect.map(
          Effect.forEach(all, (context) => {
            const circuits = Context.get(context, UpstreamBreaker)
            const mine = owned(names, context)
            // Instances are shared (by settings, across reloads too): each reports only the upstreams sent to it now.
            return Effect.map(circuits.states(mine), (states) =>
              states.filter((state) => (byName.get(state.name) ?? fallback) === context))
          }),
          (lists) => lists.flat()
        )
    })
  )
}
