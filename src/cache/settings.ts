/**
 * The response cache and in-flight de-duplication, read from the environment. Both are off by default: caching an
 * LLM's answer by its exact request is only right for clients that ask the same question expecting the same
 * answer (retries, replays, tests), and an operator should choose that.
 *
 * Every value is checked here, once: a bad one throws `ConfigInvalid` naming its variable, so the proxy refuses to
 * start instead of caching by a size or a lifetime nobody meant.
 */
import * as Duration from "effect/Duration"
import { boolean, byteSize, duration, type Raw } from "../config/env.ts"

export { CACHE_VARIABLES, type CacheVariable } from "./variables.ts"

export interface CacheSettings {
  /** Answer repeated requests from stored replies (CACHE=on). */
  readonly enabled: boolean
  /** How long a stored reply is served (CACHE_TTL). */
  readonly ttl: Duration.Duration
  /** The store's bound: least recently used replies go first (CACHE_MAX_BYTES). */
  readonly maxBytes: number
  /** Identical requests in flight at once share one upstream call (DEDUPE; default: on when CACHE is on). */
  readonly dedupe: boolean
}

export const defaultCache: CacheSettings = {
  enabled: false,
  ttl: Duration.hours(1),
  maxBytes: 256 * 1024 * 1024,
  dedupe: false
}

/** Checks every cache variable; throws `ConfigInvalid` naming the first bad one. */
export const parseCacheSettings = (raw: Raw): CacheSettings => {
  const enabled = boolean(raw, "CACHE", defaultCache.enabled)
  return {
    enabled,
    ttl: duration(raw, "CACHE_TTL", { fallback: defaultCache.ttl }),
    maxBytes: byteSize(raw, "CACHE_MAX_BYTES", { fallback: defaultCache.maxBytes }),
    dedupe: boolean(raw, "DEDUPE", enabled)
  }
}
