/**
 * The protection variables: defaults, accepted spellings, and refusals that name the variable; and the one layer
 * that provides all three services.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { ConfigInvalid } from "../../src/config.ts"
import * as Protection from "../../src/protection/protection.ts"

const { parseProtection } = Protection

describe("parseProtection", () => {
  it("defaults: 64 in flight, 30 s queue, no rate limits, breaker 5 / 60 s / 1", () => {
    expect(parseProtection({})).toEqual({
      maxConcurrent: 64,
      queueTimeout: Duration.seconds(30),
      rpm: undefined,
      tpm: undefined,
      failureThreshold: 5,
      recoveryTimeout: Duration.seconds(60),
      halfOpenRequests: 1
    })
  })

  it("reads every variable; durations as bare seconds or Effect durations", () => {
    const s = parseProtection({
      MAX_CONCURRENT_UPSTREAM: "8",
      QUEUE_TIMEOUT: "2.5",
      UPSTREAM_RPM: "120",
      UPSTREAM_TPM: " 6000000 ",
      CIRCUIT_BREAKER_FAILURE_THRESHOLD: "3",
      CIRCUIT_BREAKER_RECOVERY_TIMEOUT: "2 minutes",
      CIRCUIT_BREAKER_HALF_OPEN_REQUESTS: "3"
    })
    expect(s).toEqual({
      maxConcurrent: 8,
      queueTimeout: Duration.millis(2500),
      rpm: 120,
      tpm: 6_000_000,
      failureThreshold: 3,
      recoveryTimeout: Duration.minutes(2),
      halfOpenRequests: 3
    })
  })

  it("0, off and unlimited switch a rate limit off; a zero queue timeout means no queueing", () => {
    const s = parseProtection({ UPSTREAM_RPM: "0", UPSTREAM_TPM: "unlimited", QUEUE_TIMEOUT: "0" })
    expect([s.rpm, s.tpm, Duration.toMillis(s.queueTimeout)]).toEqual([undefined, undefined, 0])
    expect(parseProtection({ UPSTREAM_RPM: "" }).rpm).toBeUndefined()
  })

  it.each([
    ["MAX_CONCURRENT_UPSTREAM", "0"],
    ["MAX_CONCURRENT_UPSTREAM", "1.5"],
    ["UPSTREAM_RPM", "-1"],
    ["UPSTREAM_TPM", "lots"],
    ["QUEUE_TIMEOUT", "soon"],
    ["QUEUE_TIMEOUT", "-3"],
    ["CIRCUIT_BREAKER_FAILURE_THRESHOLD", "0"],
    ["CIRCUIT_BREAKER_RECOVERY_TIMEOUT", "0"],
    ["CIRCUIT_BREAKER_HALF_OPEN_REQUESTS", "none"]
  ])("refuses %s=%s, naming the variable", (variable, value) => {
    let thrown: unknown
    try {
      parseProtection({ [variable]: value })
    } catch (error) {
      thrown = error
    }
    expect(thrown).toBeInstanceOf(ConfigInvalid)
    expect((thrown as ConfigInvalid).variable).toBe(variable)
    expect((thrown as ConfigInvalid).message).toContain(value)
  })

  it("lists its variables", () => {
    expect(Protection.PROTECTION_VARIABLES).toContain("CIRCUIT_BREAKER_HALF_OPEN_REQUESTS")
  })
})

describe("Protection.layerConfig", () => {
  it.effect("builds all three services from parsed settings", () =>
    Effect.gen(function*() {
      const limiter = yield* Protection.ConcurrencyLimiter
      const breaker = yield* Protection.UpstreamBreaker
      const limits = yield* Protection.UpstreamRateLimits
      expect((yield* limiter.stats("a")).limit).toBe(3)
      expect(yield* breaker.states(["a"])).toEqual([{ name: "a", circuit: "closed" }])
      yield* limits.acquire("a", 10)
      expect((yield* limits.snapshot)[0]?.rpm).toEqual({ configured: 7, effective: 7 })
    }).pipe(
      Effect.provide(Protection.layer(Protection.parseProtection({ MAX_CONCURRENT_UPSTREAM: "3", UPSTREAM_RPM: "7" })))
    ))
})
