/**
 * Where state shared between processes and replicas lives (REDIS_URL, REDIS_PREFIX, REDIS_TIMEOUT), read from the
 * environment. Unset REDIS_URL: nothing is shared, every process keeps its own limits, breakers and cache.
 *
 * The URL may carry a password, so it is kept `Redacted` and never printed: not in problems reported here, not in
 * logs. What the logs name is `host` (host and port only).
 *
 * Every value is checked here, once: a bad one throws `ConfigInvalid` naming its variable.
 */
import * as Duration from "effect/Duration"
import * as Redacted from "effect/Redacted"
import { ConfigInvalid, duration, type Raw, text } from "../config/env.ts"

export { REDIS_VARIABLES, type RedisVariable } from "./variables.ts"

export interface RedisSettings {
  /** The whole URL, credentials included: only the client sees it. */
  readonly url: Redacted.Redacted<string>
  /** `host:port`, what logs and messages show. */
  readonly host: string
  /** Before every key (REDIS_PREFIX). */
  readonly prefix: string
  /** Deadline of each Redis call (REDIS_TIMEOUT). */
  readonly timeout: Duration.Duration
}

export const defaultRedis = {
  prefix: "ccproxy:",
  // A local or same-zone Redis answers these scripts in well under a millisecond; 250 ms is far above that and
  // still short enough that a black-holed Redis costs a request one quarter-second before it falls back.
  timeout: Duration.millis(250)
} as const

const PROTOCOLS = new Set(["redis:", "rediss:"])

/** The URL checked, or `undefined` when REDIS_URL is unset. Throws without echoing the value (it may hold a password). */
export const parseRedisSettings = (raw: Raw): RedisSettings | undefined => {
  const value = text(raw, "REDIS_URL")
  if (value === undefined) return undefined
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new ConfigInvalid({ variable: "REDIS_URL", problem: "must be a redis:// or rediss:// URL (the value is not shown: it may hold a password)" })
  }
  if (!PROTOCOLS.has(url.protocol) || url.hostname === "") {
    throw new ConfigInvalid({ variable: "REDIS_URL", problem: `must be a redis:// or rediss:// URL with a host (got a ${url.protocol} URL)` })
  }
  const prefix = text(raw, "REDIS_PREFIX") ?? defaultRedis.prefix
  if (/\s/.test(prefix)) throw new ConfigInvalid({ variable: "REDIS_PREFIX", problem: `must not contain spaces (got "${prefix}")` })
  return {
    url: Redacted.make(value),
    host: `${url.hostname}:${url.port === "" ? "6379" : url.port}`,
    prefix,
    timeout: duration(raw, "REDIS_TIMEOUT", { fallback: defaultRedis.timeout })
  }
}
