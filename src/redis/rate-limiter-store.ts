/**
 * A `RateLimiterStore` that keeps the budgets in Redis (Effect's `RateLimiter.makeStoreRedis`, its Lua scripts) and
 * falls back to Effect's in-memory store for any call Redis cannot answer.
 *
 * - While Redis answers, every process draws from one bucket per key: an UPSTREAM_RPM of 500 is 500 in total.
 * - A call that fails (the gate is down, or the call just failed or outlived REDIS_TIMEOUT) is answered by this
 *   process's memory store instead, so a request never waits on, or fails because of, Redis. The gate warns once.
 * - When Redis answers again the calls go back to it, to the buckets as Redis kept them (refilled meanwhile); what
 *   the memory buckets spent during the outage is not carried over.
 *
 * During an outage each process therefore enforces the whole budget on its own: with N replicas up to N times the
 * budget can reach the upstream, until Redis is back. (Nothing else could be enforced without knowing N.)
 */
import * as Effect from "effect/Effect"
import { RateLimiter } from "effect/persistence"

const storeFailed = (error: RateLimiter.RateLimiterError) => error.reason._tag === "RateLimitStoreError"

export const makeFallbackStore = (
  primary: RateLimiter.RateLimiterStore["Service"],
  fallback: RateLimiter.RateLimiterStore["Service"]
): RateLimiter.RateLimiterStore["Service"] =>
  RateLimiter.RateLimiterStore.of({
    fixedWindow: (options) => Effect.catchIf(primary.fixedWindow(options), storeFailed, () => fallback.fixedWindow(options)),
    tokenBucket: (options) => Effect.catchIf(primary.tokenBucket(options), storeFailed, () => fallback.tokenBucket(options)),
    adaptiveConsume: (options) =>
      Effect.catchIf(primary.adaptiveConsume(options), storeFailed, () => fallback.adaptiveConsume(options)),
    adaptiveFeedback: (options) =>
      Effect.catchIf(primary.adaptiveFeedback(options), storeFailed, () => fallback.adaptiveFeedback(options))
  })
