/**
 * Each upstream's protection state in one view: its circuit, its permits in use and queued, and its rate limits.
 * GET /health and GET /v1/metrics both show it (each in its own JSON shape), so they never disagree on which
 * upstreams there are or what state they are in.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { ProxyConfig } from "../config.ts"
import { type CircuitStatus, UpstreamBreaker } from "../protection/breaker.ts"
import { ConcurrencyLimiter, type ConcurrencyStats } from "../protection/concurrency.ts"
import { type RateLimitState, UpstreamRateLimits } from "../protection/rate-limits.ts"

export interface UpstreamStatus {
  readonly name: string
  readonly circuit: CircuitStatus["circuit"]
  readonly inFlight: number
  readonly queued: number
  readonly maxConcurrent: number
  readonly rpm: RateLimitState["rpm"] | null
  readonly tpm: RateLimitState["tpm"] | null
  readonly coolDownMillis: number
}

export interface UpstreamStatusView {
  /** The configured upstream and every one used so far. */
  readonly upstreams: Effect.Effect<ReadonlyArray<UpstreamStatus>>
  /** The raw figures, for the Prometheus gauges. */
  readonly protection: Effect.Effect<readonly [ReadonlyArray<ConcurrencyStats & { readonly upstream: string }>, ReadonlyArray<CircuitStatus>]>
}

export const makeUpstreamStatus: Effect.Effect<
  UpstreamStatusView,
  never,
  ConcurrencyLimiter | UpstreamBreaker | UpstreamRateLimits | ProxyConfig
> = Effect.gen(function*() {
  const limiter = yield* ConcurrencyLimiter
  const breaker = yield* UpstreamBreaker
  const rateLimits = yield* UpstreamRateLimits
  const config = yield* ProxyConfig

  const configured = config.providers.map((provider) => provider.name)
  const limitOf = (name: string) =>
    config.providers.find((provider) => provider.name === name)?.protection.maxConcurrent ?? config.protection.maxConcurrent
  const protection = Effect.all([limiter.snapshot, breaker.states(configured)] as const)

  const upstreams = Effect.map(Effect.all([protection, rateLimits.snapshot]), ([[permits, circuits], rates]) => {
    const names = new Set([...configured, ...circuits.map((c) => c.name), ...permits.map((p) => p.upstream), ...rates.map((r) => r.upstream)])
    return [...names].map((name): UpstreamStatus => {
      const lane = permits.find((p) => p.upstream === name)
      const rate = rates.find((r) => r.upstream === name)
      return {
        name,
        circuit: circuits.find((c) => c.name === name)?.circuit ?? "closed",
        inFlight: lane?.inUse ?? 0,
        queued: lane?.waiting ?? 0,
        maxConcurrent: lane?.limit ?? limitOf(name),
        rpm: rate?.rpm ?? null,
        tpm: rate?.tpm ?? null,
        coolDownMillis: rate === undefined ? 0 : Duration.toMillis(rate.coolDown)
      }
    })
  })

  return { upstreams, protection }
})
