/**
 * The wrapper stores, with a primary that fails as Redis does when it is away: calls go to the in-memory fallback,
 * an outcome is recorded by the store that admitted its call, and calls return to the primary once it answers.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { CircuitBreaker, RateLimiter } from "effect/persistence"
import * as Context from "effect/Context"
import * as BreakerStore from "../../src/redis/breaker-store.ts"
import * as RateLimiterStore from "../../src/redis/rate-limiter-store.ts"

/** A store that fails every call while `down.value`, else delegates to `healthy`. */
const flaky = <S extends object>(
  healthy: S,
  down: { value: boolean },
  failure: () => unknown
): S =>
  Object.fromEntries(Object.entries(healthy).map(([name, call]) => [
    name,
    (...args: Array<unknown>) => Effect.suspend(() => down.value ? Effect.fail(failure()) : call(...args))
  ])) as S

const memoryRateStore = Effect.map(Layer.build(RateLimiter.layerStoreMemory), (context) => Context.get(context, RateLimiter.RateLimiterStore))
const memoryBreakerStore = Effect.map(Layer.build(CircuitBreaker.layerStoreMemory()), (context) => Context.get(context, CircuitBreaker.CircuitBreakerStore))

describe("fallback RateLimiterStore", () => {
  it.effect("a failing primary is replaced by memory; a healthy one is used again, with its own state", () =>
    Effect.gen(function*() {
      const down = { value: false }
      const primaryMemory = yield* memoryRateStore
      const storeError = () => new RateLimiter.RateLimiterError({ reason: new RateLimiter.RateLimitStoreError({ message: "Redis is away" }) })
      const store = RateLimiterStore.makeFallbackStore(flaky(primaryMemory, down, storeError), yield* memoryRateStore)
      const take = store.tokenBucket({ key: "k", tokens: 1, limit: 3, refillRate: Duration.seconds(20), allowOverflow: true })
      expect((yield* take)[0]).toBe(2)
      expect((yield* take)[0]).toBe(1)
      down.value = true
      // The fallback's bucket is its own, full.
      expect((yield* take)[0]).toBe(2)
      down.value = false
      expect((yield* take)[0]).toBe(0)
    }).pipe(Effect.scoped))
})

describe("fallback CircuitBreakerStore", () => {
  const storeError = () => new CircuitBreaker.CircuitBreakerError({ reason: new CircuitBreaker.CircuitBreakerStoreError({ message: "Redis is away" }) })
  const record = (store: CircuitBreaker.CircuitBreakerStore["Service"], generation: number, outcome: "Success" | "Failure") =>
    store.record({ key: "up", generation, outcome, tripPolicy: CircuitBreaker.consecutive(1), openFor: Duration.seconds(30) })

  it.effect("an admission from the fallback is recorded there, even once the primary is back", () =>
    Effect.gen(function*() {
      const down = { value: true }
      const primary = yield* memoryBreakerStore
      const fallback = yield* memoryBreakerStore
      const store = BreakerStore.makeFallbackStore(flaky(primary, down, storeError), fallback)
      // Recorded while the call's scope is open, as the breaker does.
      const transition = yield* Effect.scoped(Effect.gen(function*() {
        const admission = yield* store.admit("up")
        down.value = false
        return yield* record(store, admission.generation, "Failure")
      }))
      expect(transition?.to).toBe("Open")
      expect((yield* fallback.state("up"))._tag).toBe("Open")
      expect((yield* primary.state("up"))._tag).toBe("Closed")
      // Back on the primary: its circuit is closed, so calls are admitted.
      const again = yield* Effect.scoped(store.admit("up"))
      expect(again.probe).toBe(false)
    }).pipe(Effect.scoped))

  it.effect("a primary that fails to record drops the outcome; a circuit open on the primary rejects", () =>
    Effect.gen(function*() {
      const down = { value: false }
      const primary = yield* memoryBreakerStore
      const fallback = yield* memoryBreakerStore
      const store = BreakerStore.makeFallbackStore(flaky(primary, down, storeError), fallback)
      const admission = yield* Effect.scoped(store.admit("up"))
      down.value = true
      expect(yield* record(store, admission.generation, "Failure")).toBeUndefined()
      expect((yield* fallback.state("up"))._tag).toBe("Closed")
      down.value = false
      const second = yield* Effect.scoped(store.admit("up"))
      yield* record(store, second.generation, "Failure")
      const rejected = yield* Effect.flip(Effect.scoped(store.admit("up")))
      expect(rejected.reason._tag).toBe("CircuitOpen")
      expect((yield* store.state("up"))._tag).toBe("Open")
    }).pipe(Effect.scoped))
})
