/**
 * The protections' environment variable names,
 * alone in a module so the config module can list every variable without loading the feature.
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
