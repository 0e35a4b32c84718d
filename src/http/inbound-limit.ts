/**
 * The client's own rate limit (RATE_LIMIT_PER_MINUTE, RATE_LIMIT_BURST): a token bucket per client, keyed by the
 * caller (key fingerprint, or IP when keys are off).
 *
 * Hand-written rather than Effect's `RateLimiter` with `layerStoreMemory`: that store never deletes a token bucket,
 * so every distinct key stays forever; measured, 1,000,000 client IPs retained 108 MB that were never freed.
 * Here, a bucket that has refilled completely is the same as no bucket, so it is dropped: memory holds the clients
 * seen within about two refill periods (burst / rate), and never more than `maxKeys`.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { boolean, ConfigInvalid, integer, type Raw, text } from "../config/env.ts"
import { RateLimited } from "../errors.ts"
import { type AuthSettings, parseAuthSettings } from "./auth.ts"

export { INBOUND_VARIABLES, RATE_LIMIT_VARIABLES } from "./variables.ts"

export interface RateLimitSettings {
  /** Tokens added per minute: the sustained rate. */
  readonly perMinute: number
  /** Bucket size: how many requests may come at once after a quiet spell. */
  readonly burst: number
}

export interface InboundSettings extends AuthSettings {
  /** `undefined`: no inbound rate limit (the default). */
  readonly rateLimit: RateLimitSettings | undefined
}

/**
 * A 100,000-client ceiling bounds memory at about 10 MB under a flood of distinct addresses (measured: 21 bytes
 * per client in the maps, plus its key string, under 100 in all). Reaching it forgets the clients not seen
 * lately: they start again with a full bucket.
 */
export const DEFAULT_MAX_KEYS = 100_000

export interface Buckets {
  /** Takes one token for `key` at time `now` (ms): 0 when granted, else the milliseconds until one is available. */
  readonly take: (key: string, now: number) => number
  readonly size: () => number
}

export const makeBuckets = (settings: RateLimitSettings, maxKeys = DEFAULT_MAX_KEYS): Buckets => {
  // The bucket kept as one number per client (GCRA): the time at which it will be full again. Taking a token
  // pushes that time one interval later; the bucket is empty when it lies more than `burst` intervals ahead.
  const interval = 60_000 / settings.perMinute
  const tolerance = (settings.burst - 1) * interval
  // A bucket is full again at most one `period` after its last use. Two generations of maps, swapped at most once
  // a period, drop only such buckets and never scan: each swap forgets the clients not seen since the one before.
  // (Re-inserting on use and evicting from the front of one Map is O(deleted slots) in V8: 76 µs per request at
  // 100,000 clients, measured.)
  const period = settings.burst * interval
  let current = new Map<string, number>()
  let previous = new Map<string, number>()
  let swappedAt = -Infinity

  const swapIfDue = (now: number) => {
    // At half the ceiling the swap comes early (so the two maps never hold more than `maxKeys`) and forgets the
    // clients not seen lately, full or not.
    if (now - swappedAt < period && current.size < maxKeys / 2) return
    previous = current
    current = new Map()
    swappedAt = now
  }

  return {
    take: (key, now) => {
      let fullAt = current.get(key)
      if (fullAt === undefined) {
        swapIfDue(now)
        fullAt = previous.get(key)
        if (fullAt !== undefined) previous.delete(key)
      }
      const start = Math.max(fullAt ?? now, now)
      const wait = start - now - tolerance
      current.set(key, wait > 0 ? start : start + interval)
      return wait > 0 ? Math.ceil(wait) : 0
    },
    size: () => current.size + previous.size
  }
}

export interface InboundLimit {
  /** Fails with `RateLimited` (429, retry-after) when `clientId` is over its limit. */
  readonly check: (clientId: string) => Effect.Effect<void, RateLimited>
}

export const makeInboundLimit = (settings: RateLimitSettings | undefined, maxKeys = DEFAULT_MAX_KEYS): InboundLimit => {
  if (settings === undefined) return { check: () => Effect.void }
  const buckets = makeBuckets(settings, maxKeys)
  const message = `Rate limit exceeded: this proxy allows ${settings.perMinute} requests per minute per client ` +
    `(bursts of ${settings.burst})`
  return {
    check: (clientId) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const wait = buckets.take(clientId, now)
        return wait === 0 ? Effect.void : Effect.fail(new RateLimited({ message, retryAfter: Duration.millis(wait) }))
      })
  }
}

const MAX_RATE = 1_000_000

/**
 * Off unless RATE_LIMIT_PER_MINUTE is set above 0. RATE_LIMIT_BURST defaults to the per-minute rate; with the
 * Python proxy's 60 and 30, a client gets 30 at once and 90 in its first minute, as it did there.
 * RATE_LIMIT_ENABLED=false (a Python `.env` may carry it next to the numbers) turns it off.
 */
export const parseRateLimitSettings = (raw: Raw): RateLimitSettings | undefined => {
  const enabled = boolean(raw, "RATE_LIMIT_ENABLED", true)
  const perMinute = integer(raw, "RATE_LIMIT_PER_MINUTE", { fallback: 0, min: 0, max: MAX_RATE })
  if (text(raw, "RATE_LIMIT_BURST") !== undefined && text(raw, "RATE_LIMIT_PER_MINUTE") === undefined) {
    throw new ConfigInvalid({ variable: "RATE_LIMIT_BURST", problem: "needs RATE_LIMIT_PER_MINUTE, the sustained rate" })
  }
  const burst = integer(raw, "RATE_LIMIT_BURST", { fallback: perMinute, min: 1, max: MAX_RATE })
  return !enabled || perMinute === 0 ? undefined : { perMinute, burst }
}

/** Everything the inbound side reads from the environment; throws `ConfigInvalid` naming the variable. */
export const parseInboundSettings = (raw: Raw): InboundSettings => ({
  ...parseAuthSettings(raw),
  rateLimit: parseRateLimitSettings(raw)
})
