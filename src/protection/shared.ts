/**
 * What the protections keep in a store shared by every process (Redis, see `redis/redis.ts`), when there is one:
 * the rate limits' buckets, the circuits, and the cool-downs an upstream's 429 Retry-After imposes.
 *
 * Absent (no REDIS_URL), each protection instance keeps its own state in memory, as before. Present, every instance
 * uses these stores, which are process-wide and outlive config reloads; keys are per upstream, so instances built
 * for different upstreams never meet in them. The in-flight limit (MAX_CONCURRENT_UPSTREAM) is not here: a permit is
 * held by a live connection of this process, and stays per process.
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type { CircuitBreaker, RateLimiter } from "effect/persistence"

/** Cool-downs seen by every process: a 429's Retry-After on one holds all of them back. */
export interface SharedCoolDownsShape {
  /** Milliseconds left on the upstream's cool-down; 0 when there is none, or it cannot be read. */
  readonly remaining: (upstream: string) => Effect.Effect<number>
  /** Holds every process back from `upstream` for `millis`; never shortens a longer cool-down. Best effort. */
  readonly hold: (upstream: string, millis: number) => Effect.Effect<void>
}

export interface SharedStoresShape {
  readonly rateLimiter: RateLimiter.RateLimiterStore["Service"]
  readonly breaker: CircuitBreaker.CircuitBreakerStore["Service"]
  readonly coolDowns: SharedCoolDownsShape
}

export class SharedStores extends Context.Service<SharedStores, SharedStoresShape>()("ccproxy/SharedStores") {}

/** The cool-downs alone, for the rate limits (`rate-limits.ts` reads it if present). */
export class SharedCoolDowns extends Context.Service<SharedCoolDowns, SharedCoolDownsShape>()("ccproxy/SharedCoolDowns") {}
