/**
 * The knobs of the three protections (in-flight limit, upstream rate limits, circuit breaker), read from the
 * environment. Kept apart from `config.ts` so the protections can be built and tested on their own; the names of
 * the breaker variables are the Python CCProxy's, so existing setups keep working.
 *
 * Every value is checked here, once: a bad one throws `ConfigInvalid` naming its variable, so the proxy refuses
 * to start instead of limiting by a number nobody meant.
 */
import * as Duration from "effect/Duration"
import { duration, integer, type Raw, text } from "../config/env.ts"

export interface ProtectionSettings {
  /** Requests in flight to one upstream at a time (MAX_CONCURRENT_UPSTREAM). */
  readonly maxConcurrent: number
  /**
   * Longest a request waits for a permit, a rate-limit window or a cool-down before it is turned away
   * (QUEUE_TIMEOUT). Zero turns it away at once.
   */
  readonly queueTimeout: Duration.Duration
  /** Requests per minute sent to one upstream (UPSTREAM_RPM); `undefined` is no limit. */
  readonly rpm: number | undefined
  /** Tokens (prompt + completion) per minute sent to one upstream (UPSTREAM_TPM); `undefined` is no limit. */
  readonly tpm: number | undefined
  /** Failed calls in a row that open an upstream's circuit (CIRCUIT_BREAKER_FAILURE_THRESHOLD). */
  readonly failureThreshold: number
  /** How long an open circuit turns requests away before it lets a probe through (CIRCUIT_BREAKER_RECOVERY_TIMEOUT). */
  readonly recoveryTimeout: Duration.Duration
  /** Successful probes in a row that close a half-open circuit (CIRCUIT_BREAKER_HALF_OPEN_REQUESTS). */
  readonly halfOpenRequests: number
}

import type { ProtectionVariable } from "./variables.ts"
export { PROTECTION_VARIABLES, type ProtectionVariable } from "./variables.ts"

export const defaultProtection: ProtectionSettings = {
  maxConcurrent: 64,
  queueTimeout: Duration.seconds(30),
  rpm: undefined,
  tpm: undefined,
  failureThreshold: 5,
  recoveryTimeout: Duration.seconds(60),
  halfOpenRequests: 1
}

/** A per-minute budget: unset, "0", "off" or "unlimited" mean no limit at all (and no cost on the hot path). */
const budget = (raw: Raw, name: ProtectionVariable): number | undefined => {
  const value = text(raw, name)
  if (value === undefined || /^(0|off|none|unlimited)$/i.test(value)) return undefined
  return integer(raw, name, { fallback: 0, min: 1 })
}

/** Checks every protection variable; throws `ConfigInvalid` naming the first bad one. */
export const parseProtection = (raw: Raw): ProtectionSettings => ({
  maxConcurrent: integer(raw, "MAX_CONCURRENT_UPSTREAM", { fallback: defaultProtection.maxConcurrent, min: 1 }),
  queueTimeout: duration(raw, "QUEUE_TIMEOUT", { fallback: defaultProtection.queueTimeout, allowZero: true }),
  rpm: budget(raw, "UPSTREAM_RPM"),
  tpm: budget(raw, "UPSTREAM_TPM"),
  failureThreshold: integer(raw, "CIRCUIT_BREAKER_FAILURE_THRESHOLD", { fallback: defaultProtection.failureThreshold, min: 1 }),
  recoveryTimeout: duration(raw, "CIRCUIT_BREAKER_RECOVERY_TIMEOUT", { fallback: defaultProtection.recoveryTimeout }),
  halfOpenRequests: integer(raw, "CIRCUIT_BREAKER_HALF_OPEN_REQUESTS", { fallback: defaultProtection.halfOpenRequests, min: 1 })
})
