/**
 * Outbound budgets per upstream: requests and tokens per minute on Effect's RateLimiter, corrected by real usage,
 * and adaptive to the upstream's 429s. All timing on the TestClock.
 */
import { describe, expect, it } from "@effect/vitest"
import { Clock, Duration, Effect, Fiber, Layer } from "effect"
import { RateLimiter } from "effect/persistence"
import { TestClock } from "effect/testing"
import { RateLimited } from "../../src/errors.ts"
import { type RateLimitSettings, UpstreamRateLimits } from "../../src/protection/rate-limits.ts"

const settings = (s: Partial<RateLimitSettings>): RateLimitSettings => ({
  rpm: undefined,
  tpm: undefined,
  queueTimeout: Duration.seconds(30),
  ...s
})

const limits = (s: Partial<RateLimitSettings>) =>
  Effect.provide(UpstreamRateLimits, UpstreamRateLimits.layerMemory(settings(s)))

const seconds = (d: Duration.Duration) => Duration.toMillis(d) / 1000

const done = <A, E>(fiber: Fiber.Fiber<A, E>) => Effect.sync(() => fiber.pollUnsafe() !== undefined)

describe("UpstreamRateLimits: requests per minute", () => {
  it.effect("RPM 2: the third request fails at once when its turn is past the queue timeout", () =>
    Effect.gen(function*() {
      const l = yield* limits({ rpm: 2, queueTimeout: Duration.seconds(10) })
      yield* l.acquire("a", 0)
      yield* l.acquire("a", 0)
      const error = yield* Effect.flip(l.acquire("a", 0))
      expect(error).toBeInstanceOf(RateLimited)
      expect(seconds(error.retryAfter)).toBe(30)
      expect(error.message).toContain(`"a"`)
      // Its reservation was given back: after one refill interval there is room again.
      yield* TestClock.adjust("30 seconds")
      yield* l.acquire("a", 0)
    }))

  it.effect("RPM 2: the third request waits for its turn when that is within the queue timeout", () =>
    Effect.gen(function*() {
      const l = yield* limits({ rpm: 2, queueTimeout: Duration.seconds(60) })
      yield* l.acquire("a", 0)
      yield* l.acquire("a", 0)
      const third = yield* Effect.forkChild(l.acquire("a", 0))
      yield* TestClock.adjust("29 seconds")
      expect(yield* done(third)).toBe(false)
      yield* TestClock.adjust("1 second")
      expect((yield* Fiber.join(third)).upstream).toBe("a")
    }))

  it.effect("upstreams have separate budgets", () =>
    Effect.gen(function*() {
      const l = yield* limits({ rpm: 1, queueTimeout: Duration.zero })
      yield* l.acquire("a", 0)
      yield* l.acquire("b", 0)
      expect((yield* Effect.flip(l.acquire("a", 0)))._tag).toBe("RateLimited")
    }))

  it.effect("a caller interrupted while it waits gives its place back", () =>
    Effect.gen(function*() {
      const l = yield* limits({ rpm: 1, queueTimeout: Duration.minutes(5) })
      yield* l.acquire("a", 0)
      const second = yield* Effect.forkChild(l.acquire("a", 0))
      yield* Effect.yieldNow
      yield* Fiber.interrupt(second)
      // Without the refund the next caller would be third in line and wait two minutes.
      const third = yield* Effect.forkChild(l.acquire("a", 0))
      yield* TestClock.adjust("60 seconds")
      expect(yield* done(third)).toBe(true)
    }))
})

describe("UpstreamRateLimits: tokens per minute", () => {
  it.effect("estimates are charged, and settle corrects them to the real usage", () =>
    Effect.gen(function*() {
      const l = yield* limits({ tpm: 1_000, queueTimeout: Duration.seconds(10) })
      const first = yield* l.acquire("a", 600)
      expect(first.tokens).toBe(600)
      // 400 left; 600 more would need 200 tokens of refill = 12 s > 10 s.
      const error = yield* Effect.flip(l.acquire("a", 600))
      expect(seconds(error.retryAfter)).toBe(12)
      // The reply used 100 tokens, not 600: 500 come back, and a 600-token request fits again.
      yield* l.settle(first, 100)
      const second = yield* l.acquire("a", 600)
      // Settling twice changes nothing.
      yield* l.settle(first, 0)
      expect((yield* Effect.flip(l.acquire("a", 600)))._tag).toBe("RateLimited")
      // A reply that used more than estimated is charged the difference: 300 in debt now.
      yield* l.settle(second, 1_000)
      const wait = yield* Effect.flip(l.acquire("a", 200))
      expect(seconds(wait.retryAfter)).toBe(18)
    }))

  it.effect("giving back never fills the bucket past its limit", () =>
    Effect.gen(function*() {
      const l = yield* limits({ tpm: 1_000, queueTimeout: Duration.zero })
      const ticket = yield* l.acquire("a", 500)
      yield* TestClock.adjust("1 minute")
      yield* l.settle(ticket, 0)
      yield* l.acquire("a", 1_000)
      expect((yield* Effect.flip(l.acquire("a", 1)))._tag).toBe("RateLimited")
    }))

  it.effect("a request estimated above the whole budget is charged the budget", () =>
    Effect.gen(function*() {
      const l = yield* limits({ tpm: 1_000, queueTimeout: Duration.zero })
      const ticket = yield* l.acquire("a", 5_000)
      expect(ticket.tokens).toBe(1_000)
    }))
})

describe("UpstreamRateLimits: adaptive", () => {
  it.effect("an upstream 429 lowers the budgets ×0.8, down to the floors", () =>
    Effect.gen(function*() {
      const l = yield* limits({ rpm: 100, tpm: 10_000 })
      const budgets = Effect.map(l.snapshot, ([s]) => [s?.rpm?.effective, s?.tpm?.effective])
      yield* l.acquire("a", 0)
      yield* l.feedback("a", { _tag: "RateLimited" })
      expect(yield* budgets).toEqual([80, 8_000])
      yield* TestClock.adjust("1 second")
      yield* l.feedback("a", { _tag: "RateLimited" })
      expect(yield* budgets).toEqual([64, 6_400])
      for (let i = 0; i < 30; i++) {
        yield* TestClock.adjust("1 second")
        yield* l.feedback("a", { _tag: "RateLimited" })
      }
      expect(yield* budgets).toEqual([10, 1_000])
    }))

  it.effect("a burst of 429s within one Retry-After window lowers the budgets once", () =>
    Effect.gen(function*() {
      const l = yield* limits({ rpm: 100 })
      const rpm = Effect.map(l.snapshot, ([s]) => s?.rpm?.effective)
      yield* l.acquire("a", 0)
      for (let i = 0; i < 20; i++) yield* l.feedback("a", { _tag: "RateLimited", retryAfter: Duration.seconds(2) })
      expect(yield* rpm).toBe(80)
      yield* TestClock.adjust("1 second")
      yield* l.feedback("a", { _tag: "RateLimited" })
      expect(yield* rpm).toBe(80)
      yield* TestClock.adjust("1 second")
      yield* l.feedback("a", { _tag: "RateLimited" })
      expect(yield* rpm).toBe(64)
    }))

  it.effect("a budget configured below the floor is not raised by a 429", () =>
    Effect.gen(function*() {
      const l = yield* limits({ rpm: 5 })
      yield* l.feedback("a", { _tag: "RateLimited" })
      expect((yield* l.snapshot)[0]?.rpm).toEqual({ configured: 5, effective: 5 })
    }))

  it.effect("a lowered budget applies at once: the bucket is cut down to it, and requests leave 60 s / budget apart", () =>
    Effect.gen(function*() {
      const l = yield* limits({ rpm: 20, queueTimeout: Duration.zero })
      yield* l.acquire("a", 0) // 19 left
      yield* l.feedback("a", { _tag: "RateLimited" }) // 20 → 16
      for (let i = 0; i < 16; i++) {
        yield* l.acquire("a", 0)
        const early = yield* Effect.flip(l.acquire("a", 0))
        expect(Duration.toMillis(early.retryAfter)).toBe(3_750)
        yield* TestClock.adjust("3750 millis")
      }
      // 60 s after the cut, 16 went: the bucket refilled by exactly what they took.
      yield* l.acquire("a", 0)
    }))

  it.effect("while lowered, queued requests depart evenly at the lowered rate, in order, across a growth", () =>
    Effect.gen(function*() {
      const l = yield* limits({ rpm: 120, queueTimeout: Duration.seconds(30) })
      yield* l.acquire("a", 0)
      yield* l.feedback("a", { _tag: "RateLimited" }) // 120 → 96: 625 ms apart
      yield* l.acquire("a", 0)
      const departed: Array<number> = []
      const start = yield* Clock.currentTimeMillis
      const queued = yield* Effect.forEach([0, 1, 2, 3], (i) =>
        Effect.forkChild(Effect.andThen(l.acquire("a", 0), Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => departed[i] = now - start)))))
      yield* Effect.yieldNow // they reserve their places
      // Ten successes grow the budget (96 → 106) while they wait: later reservations are computed at the faster
      // refill, yet nobody leaves before the one queued ahead of them, nor closer than the spacing they were given.
      yield* Effect.repeat(l.feedback("a", { _tag: "Success" }), { times: 9 })
      yield* Effect.forkChild(Effect.andThen(l.acquire("a", 0), Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => departed[4] = now - start))))
      yield* TestClock.adjust("10 seconds")
      yield* Effect.forEach(queued, Fiber.join)
      expect(departed.length).toBe(5)
      for (let i = 1; i < departed.length; i++) expect(departed[i]! - departed[i - 1]!).toBeGreaterThanOrEqual(566) // 60 s / 106
      expect(departed.slice(0, 4)).toEqual([625, 1250, 1875, 2500])
    }))

  it.effect("while lowered, a waiter that leaves gives its place back when it was the last one given", () =>
    Effect.gen(function*() {
      const l = yield* limits({ rpm: 120, queueTimeout: Duration.seconds(30) })
      yield* l.acquire("a", 0)
      yield* l.feedback("a", { _tag: "RateLimited" }) // 120 → 96: 625 ms apart
      yield* l.acquire("a", 0) // leaves now; the next place is at 625 ms
      const leaving = yield* Effect.forkChild(l.acquire("a", 0)) // 625 ms
      yield* Effect.yieldNow
      yield* Fiber.interrupt(leaving)
      const start = yield* Clock.currentTimeMillis
      const next = yield* Effect.forkChild(Effect.andThen(l.acquire("a", 0), Clock.currentTimeMillis))
      yield* TestClock.adjust("5 seconds")
      expect((yield* Fiber.join(next)) - start).toBe(625) // not 1,250
    }))

  it.effect("while lowered, a cool-down that starts while requests wait does not release them together", () =>
    Effect.gen(function*() {
      const l = yield* limits({ rpm: 120, queueTimeout: Duration.seconds(30) })
      yield* l.acquire("a", 0)
      yield* l.feedback("a", { _tag: "RateLimited" }) // 120 → 96: 625 ms apart
      yield* l.acquire("a", 0)
      const start = yield* Clock.currentTimeMillis
      const departed: Array<number> = []
      const waiting = yield* Effect.forEach([0, 1, 2], (i) =>
        Effect.forkChild(Effect.andThen(l.acquire("a", 0), Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => departed[i] = now - start)))))
      yield* Effect.yieldNow // places at 625, 1250, 1875 ms
      yield* TestClock.adjust("1 second")
      yield* l.feedback("a", { _tag: "RateLimited", retryAfter: Duration.seconds(3) }) // until 4 s
      yield* TestClock.adjust("20 seconds")
      yield* Effect.forEach(waiting, Fiber.join)
      expect(departed[0]).toBe(625)
      // The other two waited out the cool-down, then left one at a time at the lowered pace (96 → 76: 790 ms).
      expect(departed[1]).toBeGreaterThanOrEqual(4_000)
      expect(departed[2]! - departed[1]!).toBeGreaterThanOrEqual(789)
    }))

  it.effect("10 successes in a row grow the budgets ×1.1, capped at the configured ones", () =>
    Effect.gen(function*() {
      const l = yield* limits({ rpm: 100, tpm: 10_000 })
      const budgets = Effect.map(l.snapshot, ([s]) => [s?.rpm?.effective, s?.tpm?.effective])
      const succeed = (n: number) => Effect.repeat(l.feedback("a", { _tag: "Success" }), { times: n - 1 })
      yield* l.acquire("a", 0)
      yield* l.feedback("a", { _tag: "RateLimited" })
      yield* succeed(9)
      expect(yield* budgets).toEqual([80, 8_000])
      yield* succeed(1)
      expect(yield* budgets).toEqual([88, 8_800])
      // A 429 in between restarts the count.
      yield* succeed(9)
      yield* TestClock.adjust("1 second")
      yield* l.feedback("a", { _tag: "RateLimited" })
      yield* succeed(9)
      expect(yield* budgets).toEqual([70, 7_040])
      yield* succeed(1)
      expect(yield* budgets).toEqual([77, 7_744])
      yield* succeed(10 * 6)
      expect(yield* budgets).toEqual([100, 10_000])
      yield* succeed(10)
      expect(yield* budgets).toEqual([100, 10_000])
    }))

  it.effect("a 429's Retry-After is a cool-down: requests wait it out, or fail if it outlasts the queue timeout", () =>
    Effect.gen(function*() {
      const l = yield* limits({ rpm: 1_000, queueTimeout: Duration.seconds(30) })
      yield* l.feedback("a", { _tag: "RateLimited", retryAfter: Duration.seconds(20) })
      const waiting = yield* Effect.forkChild(l.acquire("a", 0))
      yield* TestClock.adjust("19 seconds")
      expect(yield* done(waiting)).toBe(false)
      expect(seconds((yield* l.snapshot)[0]!.coolDown)).toBe(1)
      yield* TestClock.adjust("1 second")
      expect(yield* done(waiting)).toBe(true)
      yield* l.feedback("a", { _tag: "RateLimited", retryAfter: Duration.seconds(45) })
      const error = yield* Effect.flip(l.acquire("a", 0))
      expect(seconds(error.retryAfter)).toBe(45)
      expect(error.message).toContain("429")
    }))

  it.effect("a cool-down holds even with no budget configured, then costs nothing again", () =>
    Effect.gen(function*() {
      const l = yield* limits({})
      yield* l.feedback("a", { _tag: "RateLimited", retryAfter: Duration.seconds(5) })
      const waiting = yield* Effect.forkChild(l.acquire("a", 10))
      yield* TestClock.adjust("4 seconds")
      expect(yield* done(waiting)).toBe(false)
      yield* TestClock.adjust("1 second")
      expect(yield* done(waiting)).toBe(true)
      yield* l.acquire("a", 10)
    }))
})

describe("UpstreamRateLimits: cost and degradation", () => {
  const counting = (calls: { n: number }, fail = false) =>
    Layer.succeed(RateLimiter.RateLimiter, {
      [RateLimiter.TypeId]: RateLimiter.TypeId,
      consume: () =>
        Effect.suspend(() => {
          calls.n++
          return fail
            ? Effect.fail(new RateLimiter.RateLimiterError({ reason: new RateLimiter.RateLimitStoreError({ message: "down" }) }))
            : Effect.succeed({ delay: Duration.zero, limit: 1, remaining: 0, resetAfter: Duration.zero })
        }),
      adaptiveConsume: () => Effect.die("unused"),
      adaptiveFeedback: () => Effect.die("unused")
    })

  it.effect("unlimited: the store is never called", () =>
    Effect.gen(function*() {
      const calls = { n: 0 }
      const l = yield* Effect.provide(UpstreamRateLimits, UpstreamRateLimits.layer(settings({})).pipe(Layer.provide(counting(calls))))
      const ticket = yield* l.acquire("a", 1_000)
      yield* l.settle(ticket, 5_000)
      yield* l.feedback("a", { _tag: "Success" })
      yield* l.feedback("a", { _tag: "RateLimited" })
      yield* l.acquire("a", 1_000)
      expect(calls.n).toBe(0)
      expect(yield* l.snapshot).toEqual([{ upstream: "a", rpm: undefined, tpm: undefined, coolDown: Duration.zero, successes: 0 }])
    }))

  it.effect("a failing store lets requests through", () =>
    Effect.gen(function*() {
      const calls = { n: 0 }
      const l = yield* Effect.provide(
        UpstreamRateLimits,
        UpstreamRateLimits.layer(settings({ rpm: 1, tpm: 10 })).pipe(Layer.provide(counting(calls, true)))
      )
      yield* l.acquire("a", 5)
      yield* l.acquire("a", 5)
      expect(calls.n).toBe(4)
    }))
})
