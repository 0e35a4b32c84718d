/**
 * The shared state's environment variable names,
 * alone in a module so the config module can list every variable without loading the feature.
 */
export const REDIS_VARIABLES = [
  /** `redis://[user:password@]host:port[/db]` or `rediss://…` (TLS). Unset: all state per process. */
  "REDIS_URL",
  /** Put before every key the proxy writes; default `ccproxy:`. Replicas that share state share the prefix. */
  "REDIS_PREFIX",
  /** Longest any one Redis call may take before the proxy stops waiting for it; default 250 ms. */
  "REDIS_TIMEOUT"
] as const

export type RedisVariable = (typeof REDIS_VARIABLES)[number]
