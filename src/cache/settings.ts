/**
 * The response cache and in-flight de-duplication, read from the environment. Both are off by default: caching an
 * LLM's answer by its exact request is only right for clients that ask the same question expecting the same
 * answer (retries, replays, tests), and an operator should choose that.
 *
 * Every value is checked here, once: a bad one throws `ConfigInvalid` naming its variable, so the proxy refuses to
 * start instead of caching by a size or a lifetime nobody meant.
 */
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import { ConfigInvalid } from "../config.ts"
import type { CacheVariable } from "./variables.ts"

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

type Raw = Readonly<Record<string, string | undefined>>

const text = (raw: Raw, name: CacheVariable): string | undefined => {
  const value = raw[name]?.trim()
  return value === undefined || value === "" ? undefined : value
}

const ON = /^(on|true|1|yes|enabled)$/i
const OFF = /^(off|false|0|no|disabled)$/i

const onOff = (raw: Raw, name: CacheVariable, fallback: boolean): boolean => {
  const value = text(raw, name)
  if (value === undefined) return fallback
  if (ON.test(value)) return true
  if (OFF.test(value)) return false
  throw new ConfigInvalid({ variable: name, problem: `must be "on" or "off" (got "${value}")` })
}

const UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  kb: 1000,
  mb: 1000 ** 2,
  gb: 1000 ** 3,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3
}

/** A byte size: a bare number of bytes, or with a unit ("256MB", "512 MiB", "1gb"). */
const bytes = (raw: Raw, name: CacheVariable, fallback: number): number => {
  const value = text(raw, name)
  if (value === undefined) return fallback
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(value)
  const unit = match === null ? undefined : UNITS[match[2]!.toLowerCase()]
  const size = match === null || unit === undefined ? Number.NaN : Math.floor(Number(match[1]) * unit)
  if (!Number.isSafeInteger(size) || size < 1) {
    throw new ConfigInvalid({ variable: name, problem: `must be a positive size such as "256MB" or "268435456" (got "${value}")` })
  }
  return size
}

/** A bare number is seconds, as elsewhere in the proxy; otherwise an Effect duration such as "1 hour". */
const duration = (raw: Raw, name: CacheVariable, fallback: Duration.Duration): Duration.Duration => {
  const value = text(raw, name)
  if (value === undefined) return fallback
  const parsed = /^\d+(\.\d+)?$/.test(value)
    ? Duration.seconds(Number(value))
    : Option.getOrUndefined(Duration.fromInput(value as Duration.Input))
  const millis = parsed === undefined ? Number.NaN : Duration.toMillis(parsed)
  if (parsed === undefined || !Number.isFinite(millis) || millis <= 0) {
    throw new ConfigInvalid({ variable: name, problem: `must be a positive duration such as "1 hour" (got "${value}")` })
  }
  return parsed
}

/** Checks every cache variable; throws `ConfigInvalid` naming the first bad one. */
export const parseCacheSettings = (raw: Raw): CacheSettings => {
  const enabled = onOff(raw, "CACHE", defaultCache.enabled)
  return {
    enabled,
    ttl: duration(raw, "CACHE_TTL", defaultCache.ttl),
    maxBytes: bytes(raw, "CACHE_MAX_BYTES", defaultCache.maxBytes),
    dedupe: onOff(raw, "DEDUPE", enabled)
  }
}
