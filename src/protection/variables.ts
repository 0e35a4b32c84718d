/**
 * The protections' environment variable names. A module of its own, importing nothing, so the config module can
 * list them at load time while `settings.ts` imports `ConfigInvalid` from it: the cycle then only meets at call time.
 */
export const PROTECTION_VARIABLES = [
  "MAX_CONCURRENT_UPSTREAM",
  "QUEUE_TIMEOUT",
  "UPSTREAM_RPM",
  "UPSTREAM_TPM",
  "CIRCUIT_BREAKER_FAILURE_THRESHOLD",
  "CIRCUIT_BREAKER_RECOVERY_TIMEOUT",
  "CIRCUIT_BREAKER_HALF_OPEN_REQUESTS"
] as const

export type ProtectionVariable = (typeof PROTECTION_VARIABLES)[number]
