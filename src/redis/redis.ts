/**
 * State shared by every process and replica, in Redis (REDIS_URL): one layer that gives the protections their
 * `SharedStores` and the cache its `ResponseCache`, all over the process's one Redis client (`connection.ts`).
 *
 * | state                          | where in Redis                                   | store                           |
 * |--------------------------------|--------------------------------------------------|---------------------------------|
 * | RPM / TPM budgets              | `<prefix>ratelimit:<upstream>:rpm` / `:tpm` (+ `:refill`) | Effect's `RateLimiter` Redis store |
 * | 429 cool-downs                 | `<prefix>cooldown:<upstream>`                    | `cool-downs.ts`                 |
 * | circuit breakers               | `<prefix>breaker:<upstream>` (a hash)            | Effect's `CircuitBreaker` Redis store |
 * | cached answers                 | `<prefix>cache:<sha-256 key>`                    | `cache-store.ts`                |
 *
 * Per process, always: the in-flight limit (a permit is a live connection here), single-flight (the callers that
 * share a call are this process's), the adaptive budgets' ×0.8 / ×1.1 state, and the breaker's count of successful
 * probes. During a Redis outage the limits and breakers fall back to per-process memory and the cache misses; see
 * `connection.ts`, `rate-limiter-store.ts`, `breaker-store.ts`.
 *
 * Import as a namespace: `import * as SharedState from "./redis/redis.ts"`, then `SharedState.layer(…)`.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { CircuitBreaker, RateLimiter, Redis } from "effect/persistence"
import type { CacheSettings } from "../cache/settings.ts"
import { ResponseCache } from "../cache/store.ts"
import { SharedStores } from "../protection/shared.ts"
import * as BreakerStore from "./breaker-store.ts"
import * as CacheStore from "./cache-store.ts"
import { SharedRedis } from "./connection.ts"
import * as CoolDowns from "./cool-downs.ts"
import * as RateLimiterStore from "./rate-limiter-store.ts"
import type { RedisSettings } from "./settings.ts"

export { isUnavailable, RedisDeadline, type RedisStatus, RedisUnavailable, SharedRedis } from "./connection.ts"
export { defaultRedis, parseRedisSettings, REDIS_VARIABLES, type RedisSettings } from "./settings.ts"

export type Services = SharedRedis | SharedStores | ResponseCache

const stores = (settings: RedisSettings, cache: Pick<CacheSettings, "ttl" | "maxBytes">) =>
  Layer.effectContext(Effect.gen(function*() {
    const { redis } = yield* SharedRedis
    const onRedis = Context.make(Redis.Redis, redis)
    const prefix = settings.prefix
    const rateLimiter = RateLimiterStore.makeFallbackStore(
      yield* Effect.provideContext(RateLimiter.makeStoreRedis({ prefix: `${prefix}ratelimit:` }), onRedis),
      Context.get(yield* Layer.build(RateLimiter.layerStoreMemory), RateLimiter.RateLimiterStore)
    )
    const breaker = BreakerStore.makeFallbackStore(
      Context.get(
        yield* Layer.build(CircuitBreaker.layerStoreRedis({ prefix: `${prefix}breaker:` }).pipe(Layer.provide(Layer.succeedContext(onRedis)))),
        CircuitBreaker.CircuitBreakerStore
      ),
      Context.get(yield* Layer.build(CircuitBreaker.layerStoreMemory()), CircuitBreaker.CircuitBreakerStore)
    )
    return Context.make(SharedStores, { rateLimiter, breaker, coolDowns: CoolDowns.make(redis, prefix) }).pipe(
      Context.add(ResponseCache, CacheStore.make(redis, prefix, cache))
    )
  }))

/** The shared stores and the cache on Redis, with the client they share; built once per process. */
export const layer = (settings: RedisSettings, cache: Pick<CacheSettings, "ttl" | "maxBytes">): Layer.Layer<Services> =>
  Layer.provideMerge(stores(settings, cache), SharedRedis.layer(settings))
