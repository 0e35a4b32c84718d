/**
 * The three upstream protections as one layer, their state in this process's memory:
 *
 * - `ConcurrencyLimiter`: requests in flight per upstream (MAX_CONCURRENT_UPSTREAM, QUEUE_TIMEOUT);
 * - `UpstreamRateLimits`: requests and tokens per minute per upstream, adaptive to 429s (UPSTREAM_RPM, UPSTREAM_TPM);
 * - `UpstreamBreaker`: a circuit per upstream (CIRCUIT_BREAKER_*).
 *
 * Shared state across replicas comes from building the rate limits and the breaker with their plain `layer` over
 * Redis stores instead (`RateLimiter.layerStoreRedis`, `CircuitBreaker.layerStoreRedis`).
 *
 * Import as a namespace: `import * as Protection from "./protection/protection.ts"`, then `Protection.layer(…)`.
 */
import * as Layer from "effect/Layer"
import { UpstreamBreaker } from "./breaker.ts"
import { ConcurrencyLimiter } from "./concurrency.ts"
import { UpstreamRateLimits } from "./rate-limits.ts"
import type { ProtectionSettings } from "./settings.ts"

export { type BreakerCall, type BreakerOutcome, classify, type CircuitStatus, UpstreamBreaker } from "./breaker.ts"
export { ConcurrencyLimiter, type ConcurrencyStats } from "./concurrency.ts"
export { type RateFeedback, type RateLimitState, type Ticket, UpstreamRateLimits } from "./rate-limits.ts"
export { defaultProtection, parseProtection, PROTECTION_VARIABLES, type ProtectionSettings } from "./settings.ts"

export type Services = ConcurrencyLimiter | UpstreamRateLimits | UpstreamBreaker

/** All three services, in memory, from settings already checked by `parseProtection`. */
export const layer = (settings: ProtectionSettings): Layer.Layer<Services> =>
  Layer.mergeAll(
    ConcurrencyLimiter.layer(settings),
    UpstreamRateLimits.layerMemory(settings),
    UpstreamBreaker.layerMemory(settings)
  )
