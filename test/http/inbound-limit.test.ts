/**
 * The client's own rate limit: burst, then 429 with retry-after, recovery, and memory bounded under many clients.
 */
import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { TestClock } from "effect/testing"
import { ConfigInvalid } from "../../src/config.ts"
import { toAnthropicError } from "../../src/errors.ts"
import { makeBuckets, makeInboundLimit, parseInboundSettings, parseRateLimitSettings } from "../../src/http/inbound-limit.ts"

describe("makeInboundLimit", () => {
  it.effect("a burst passes, the next request gets 429 with retry-after, and one token returns on time", () =>
    Effect.gen(function*() {
      // 60 a minute: one token a second; a bucket of 3.
      const limit = makeInboundLimit({ perMinute: 60, burst: 3 })
      for (let i = 0; i < 3; i++) yield* limit.check("client-a")
      const refused = yield* Effect.exit(limit.check("client-a"))
      expect(Exit.isFailure(refused)).toBe(true)
      const error = yield* Effect.flip(limit.check("client-a"))
      expect(error._tag).toBe("RateLimited")
      expect(Duration.toMillis(error.retryAfter)).toBe(1000)
      const rendered = toAnthropicError(error)
      expect(rendered).toMatchObject({ status: 429, type: "rate_limit_error", headers: { "retry-after": "1" } })
      expect(rendered.message).toContain("60 requests per minute")

      // Another client has its own bucket.
      yield* limit.check("client-b")

      yield* TestClock.adjust("999 millis")
      expect(Duration.toMillis((yield* Effect.flip(limit.check("client-a"))).retryAfter)).toBe(1)
      yield* TestClock.adjust("1 millis")
      yield* limit.check("client-a")
      expect(Exit.isFailure(yield* Effect.exit(limit.check("client-a")))).toBe(true)

      // After a full refill period the whole burst is back, and no more.
      yield* TestClock.adjust("1 minute")
      for (let i = 0; i < 3; i++) yield* limit.check("client-a")
      expect(Exit.isFailure(yield* Effect.exit(limit.check("client-a")))).toBe(true)
    }))

  it.effect("off: never refuses", () =>
    Effect.gen(function*() {
      const limit = makeInboundLimit(undefined)
      for (let i = 0; i < 1000; i++) yield* limit.check("client")
    }))
})

describe("makeBuckets", () => {
  it("a refused request does not cost a token (fractional refill is kept)", () => {
    const buckets = makeBuckets({ perMinute: 60, burst: 1 })
    expect(buckets.take("a", 0)).toBe(0)
    expect(buckets.take("a", 400)).toBe(600)
    expect(buckets.take("a", 800)).toBe(200)
    expect(buckets.take("a", 1000)).toBe(0)
  })

  it("forgetting idle clients changes no answer (against a limiter that keeps every client forever)", () => {
    // The same GCRA without eviction.
    const reference = (perMinute: number, burst: number) => {
      const fullAt = new Map<string, number>()
      const interval = 60_000 / perMinute
      return (key: string, now: number) => {
        const start = Math.max(fullAt.get(key) ?? now, now)
        const wait = start - now - (burst - 1) * interval
        fullAt.set(key, wait > 0 ? start : start + interval)
        return wait > 0 ? Math.ceil(wait) : 0
      }
    }
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 120 }),
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0, max: 20_000 })), { maxLength: 300 }),
        (perMinute, burst, steps) => {
          const buckets = makeBuckets({ perMinute, burst })
          const expected = reference(perMinute, burst)
          let now = 0
          for (const [client, dt] of steps) {
            now += dt
            expect(buckets.take(`c${client}`, now)).toBe(expected(`c${client}`, now))
          }
        }
      )
    )
  })

  it("idle clients are dropped: memory follows recent traffic, not all traffic ever", () => {
    // 30 tokens at 1 a second: an emptied bucket is full again 30 s later.
    const buckets = makeBuckets({ perMinute: 60, burst: 30 })
    // 10,000 clients in the first 30 s, each emptying its bucket.
    for (let i = 0; i < 10_000; i++) {
      for (let n = 0; n < 30; n++) expect(buckets.take(`10.0.${i >> 8}.${i & 255}`, i * 3)).toBe(0)
    }
    expect(buckets.size()).toBe(10_000)
    // Until they are full again they are kept...
    buckets.take("192.0.2.1", 40_000)
    expect(buckets.size()).toBe(10_001)
    // ...then forgotten.
    buckets.take("192.0.2.2", 75_000)
    expect(buckets.size()).toBe(2)
    // A returning client starts full, exactly as if it had been kept.
    for (let i = 0; i < 30; i++) expect(buckets.take("10.0.0.0", 75_001)).toBe(0)
    expect(buckets.take("10.0.0.0", 75_001)).toBe(1000)
  })

  it("under a flood of distinct clients memory stays under maxKeys, and a client in steady use keeps its bucket", () => {
    const buckets = makeBuckets({ perMinute: 60, burst: 2 }, 1_000)
    buckets.take("steady", 0)
    buckets.take("steady", 0)
    let largest = 0
    for (let i = 0; i < 100_000; i++) {
      buckets.take(`flood-${i}`, 1)
      largest = Math.max(largest, buckets.size())
      if (i % 100 === 0) expect(buckets.take("steady", 1)).toBeGreaterThan(0)
    }
    expect(largest).toBeLessThanOrEqual(1_000)
    expect(largest).toBeGreaterThan(900)
  })
})

describe("parseRateLimitSettings", () => {
  it("off by default and at 0", () => {
    expect(parseRateLimitSettings({})).toBeUndefined()
    expect(parseRateLimitSettings({ RATE_LIMIT_PER_MINUTE: "0" })).toBeUndefined()
    expect(parseRateLimitSettings({ RATE_LIMIT_PER_MINUTE: "60", RATE_LIMIT_ENABLED: "false" })).toBeUndefined()
  })

  it("burst defaults to the per-minute rate", () => {
    expect(parseRateLimitSettings({ RATE_LIMIT_PER_MINUTE: "60" })).toEqual({ perMinute: 60, burst: 60 })
    expect(parseRateLimitSettings({ RATE_LIMIT_PER_MINUTE: " 60 ", RATE_LIMIT_BURST: "30", RATE_LIMIT_ENABLED: "true" }))
      .toEqual({ perMinute: 60, burst: 30 })
  })

  const invalid: ReadonlyArray<readonly [Record<string, string>, string]> = [
    [{ RATE_LIMIT_PER_MINUTE: "-1" }, "RATE_LIMIT_PER_MINUTE"],
    [{ RATE_LIMIT_PER_MINUTE: "1.5" }, "RATE_LIMIT_PER_MINUTE"],
    [{ RATE_LIMIT_PER_MINUTE: "lots" }, "RATE_LIMIT_PER_MINUTE"],
    [{ RATE_LIMIT_PER_MINUTE: "1e2" }, "RATE_LIMIT_PER_MINUTE"],
    [{ RATE_LIMIT_PER_MINUTE: "60", RATE_LIMIT_BURST: "0" }, "RATE_LIMIT_BURST"],
    [{ RATE_LIMIT_BURST: "10" }, "RATE_LIMIT_BURST"],
    [{ RATE_LIMIT_ENABLED: "sometimes" }, "RATE_LIMIT_ENABLED"]
  ]
  for (const [raw, variable] of invalid) {
    it(`${JSON.stringify(raw)} is rejected, naming ${variable}`, () => {
      expect(() => parseRateLimitSettings(raw)).toThrow(ConfigInvalid)
      try {
        parseRateLimitSettings(raw)
      } catch (error) {
        expect((error as ConfigInvalid).variable).toBe(variable)
        expect((error as ConfigInvalid).message).toMatch(new RegExp(`^${variable} `))
      }
    })
  }
})

describe("parseInboundSettings", () => {
  it("reads keys and limits together", () => {
    const settings = parseInboundSettings({
      PROXY_API_KEYS: "k1,k2",
      ALLOW_UNAUTHENTICATED: "false",
      RATE_LIMIT_PER_MINUTE: "120",
      RATE_LIMIT_BURST: "20"
    })
    expect(settings.apiKeys).toHaveLength(2)
    expect(settings.allowUnauthenticated).toBe(false)
    expect(settings.rateLimit).toEqual({ perMinute: 120, burst: 20 })
  })
})
