/**
 * The per-upstream in-flight limit: who waits, who is turned away, and that every permit comes back however a
 * request ends.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Exit, Fiber, Scope } from "effect"
import { TestClock } from "effect/testing"
import { Overloaded } from "../../src/errors.ts"
import { ConcurrencyLimiter } from "../../src/protection/concurrency.ts"

const limiter = (maxConcurrent: number, queueTimeout: Duration.Input = "30 seconds") =>
  Effect.provide(ConcurrencyLimiter, ConcurrencyLimiter.layer({ maxConcurrent, queueTimeout: Duration.fromInputUnsafe(queueTimeout) }))

/** A request that takes a permit and holds it until `release` completes. */
const request = (
  limiter: ConcurrencyLimiter["Service"],
  release: Deferred.Deferred<void>,
  upstream = "a"
) => Effect.scoped(Effect.andThen(limiter.acquire(upstream), Deferred.await(release)))

describe("ConcurrencyLimiter", () => {
  it.effect("3 permits, 5 callers: 3 run, 2 wait, and all finish once permits come back", () =>
    Effect.gen(function*() {
      const l = yield* limiter(3)
      const release = yield* Deferred.make<void>()
      const fibers = yield* Effect.forEach([1, 2, 3, 4, 5], () => Effect.forkChild(request(l, release)))
      yield* Effect.yieldNow
      expect(yield* l.stats("a")).toEqual({ inUse: 3, waiting: 2, limit: 3 })
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.joinAll(fibers)
      expect(yield* l.stats("a")).toEqual({ inUse: 0, waiting: 0, limit: 3 })
    }))

  it.effect("upstreams have separate permits", () =>
    Effect.gen(function*() {
      const l = yield* limiter(1)
      const release = yield* Deferred.make<void>()
      const a = yield* Effect.forkChild(request(l, release, "a"))
      const b = yield* Effect.forkChild(request(l, release, "b"))
      yield* Effect.yieldNow
      expect(yield* l.snapshot).toEqual([
        { upstream: "a", inUse: 1, waiting: 0, limit: 1 },
        { upstream: "b", inUse: 1, waiting: 0, limit: 1 }
      ])
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.joinAll([a, b])
    }))

  it.effect("a caller that waits past the queue timeout gets Overloaded with retry-after", () =>
    Effect.gen(function*() {
      const l = yield* limiter(1, "30 seconds")
      const release = yield* Deferred.make<void>()
      const holder = yield* Effect.forkChild(request(l, release))
      yield* Effect.yieldNow
      const waiter = yield* Effect.forkChild(Effect.scoped(l.acquire("a")).pipe(Effect.flip))
      yield* TestClock.adjust("29 seconds")
      expect((yield* l.stats("a")).waiting).toBe(1)
      yield* TestClock.adjust("1 second")
      const error = yield* Fiber.join(waiter)
      expect(error).toBeInstanceOf(Overloaded)
      expect(error.message).toContain(`"a"`)
      expect(error.retryAfter).toBeDefined()
      expect(yield* l.stats("a")).toEqual({ inUse: 1, waiting: 0, limit: 1 })
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(holder)
      expect((yield* l.stats("a")).inUse).toBe(0)
    }))

  it.effect("a zero queue timeout turns a caller away at once", () =>
    Effect.gen(function*() {
      const l = yield* limiter(1, 0)
      const release = yield* Deferred.make<void>()
      const holder = yield* Effect.forkChild(request(l, release))
      yield* Effect.yieldNow
      const error = yield* Effect.scoped(l.acquire("a")).pipe(Effect.flip)
      expect(error._tag).toBe("Overloaded")
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(holder)
    }))

  it.effect("a caller interrupted while queued leaves the queue at once and never takes a permit", () =>
    Effect.gen(function*() {
      const l = yield* limiter(1)
      const release = yield* Deferred.make<void>()
      const holder = yield* Effect.forkChild(request(l, release))
      yield* Effect.yieldNow
      let acquired = false
      const waiter = yield* Effect.forkChild(
        Effect.scoped(Effect.andThen(l.acquire("a"), Effect.sync(() => (acquired = true))))
      )
      yield* Effect.yieldNow
      expect((yield* l.stats("a")).waiting).toBe(1)
      yield* Fiber.interrupt(waiter)
      expect(yield* l.stats("a")).toEqual({ inUse: 1, waiting: 0, limit: 1 })
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(holder)
      yield* TestClock.adjust("1 minute")
      expect(acquired).toBe(false)
      expect((yield* l.stats("a")).inUse).toBe(0)
    }))

  it.effect("the permit comes back after success, failure, defect and interruption", () =>
    Effect.gen(function*() {
      const l = yield* limiter(2)
      const held = (body: Effect.Effect<void, string>) => Effect.scoped(Effect.andThen(l.acquire("a"), body))
      yield* held(Effect.void)
      yield* Effect.exit(held(Effect.fail("boom")))
      yield* Effect.exit(held(Effect.die("bug")))
      const running = yield* Effect.forkChild(held(Effect.never))
      yield* Effect.yieldNow
      expect((yield* l.stats("a")).inUse).toBe(1)
      yield* Fiber.interrupt(running)
      expect(yield* l.stats("a")).toEqual({ inUse: 0, waiting: 0, limit: 2 })
    }))

  it.effect("a permit lives as long as the scope that took it, e.g. a stream's", () =>
    Effect.gen(function*() {
      const l = yield* limiter(1)
      const scope = yield* Scope.make()
      yield* Scope.provide(l.acquire("a"), scope)
      expect((yield* l.stats("a")).inUse).toBe(1)
      yield* Scope.close(scope, Exit.void)
      yield* Scope.close(scope, Exit.void)
      expect((yield* l.stats("a")).inUse).toBe(0)
    }))

  it.effect("no leaks under churn: 200 callers, mixed endings, 4 permits", () =>
    Effect.gen(function*() {
      const l = yield* limiter(4, "10 seconds")
      const fibers = yield* Effect.forEach(Array.from({ length: 200 }, (_, i) => i), (i) =>
        Effect.forkChild(
          Effect.scoped(
            Effect.andThen(
              l.acquire("a"),
              Effect.andThen(Effect.sleep(Duration.millis(i % 7)), i % 3 === 0 ? Effect.fail("x") : Effect.void)
            )
          ).pipe(Effect.exit)
        ))
      yield* Effect.yieldNow
      yield* Effect.forEach(fibers.filter((_, i) => i % 5 === 0), Fiber.interrupt)
      yield* TestClock.adjust("1 minute")
      const exits = yield* Fiber.awaitAll(fibers)
      expect(exits.filter(Exit.hasInterrupts).length).toBeGreaterThan(30)
      expect(yield* l.stats("a")).toEqual({ inUse: 0, waiting: 0, limit: 4 })
    }))
})
