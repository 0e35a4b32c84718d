/**
 * Per-provider protection settings (`Protection.layer(global, perUpstream)`): each provider with settings of its own
 * is limited by them, the others by the global ones, and the views (/health's) list every provider once.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Duration, Effect, Exit, Layer, Scope } from "effect"
import * as Protection from "../../src/protection/protection.ts"
import { defaultProtection, type ProtectionSettings } from "../../src/protection/settings.ts"

const global: ProtectionSettings = { ...defaultProtection, queueTimeout: Duration.zero }
const perUpstream = new Map<string, ProtectionSettings>([
  ["tight", { ...global, maxConcurrent: 1, rpm: 1, failureThreshold: 1 }],
  ["same", { ...global }]
])

const services = Layer.build(Protection.layer(global, perUpstream))

describe("per-provider protection", () => {
  it.effect("a provider's own in-flight limit, budget and breaker apply to it alone", () =>
    Effect.scoped(Effect.gen(function*() {
      const context = yield* services
      const permits = Context.get(context, Protection.ConcurrencyLimiter)
      const scope = yield* Scope.make()
      yield* Scope.provide(permits.acquire("tight"), scope)
      expect((yield* Effect.flip(Scope.provide(permits.acquire("tight"), scope)))._tag).toBe("Overloaded")
      // The global limit (64) for the others.
      for (let i = 0; i < 10; i++) yield* Scope.provide(permits.acquire("loose"), scope)
      yield* Scope.close(scope, Exit.void)

      const limits = Context.get(context, Protection.UpstreamRateLimits)
      yield* limits.acquire("tight", 0)
      expect((yield* Effect.flip(limits.acquire("tight", 0)))._tag).toBe("RateLimited")
      for (let i = 0; i < 5; i++) yield* limits.acquire("loose", 0)

      const breaker = Context.get(context, Protection.UpstreamBreaker)
      yield* Effect.exit(breaker.protect("tight", Effect.fail({ _tag: "UpstreamUnreachable", message: "down" })))
      yield* Effect.exit(breaker.protect("loose", Effect.fail({ _tag: "UpstreamUnreachable", message: "down" })))
      const states = yield* breaker.states(["tight", "loose", "same"])
      expect(Object.fromEntries(states.map((s) => [s.name, s.circuit]))).toEqual({ tight: "open", loose: "closed", same: "closed" })
      expect(states.map((s) => s.name).sort()).toEqual(["loose", "same", "tight"])

      const snapshot = yield* permits.snapshot
      expect(snapshot.map((s) => [s.upstream, s.limit]).sort()).toEqual([["loose", 64], ["tight", 1]])
    })))
})
