/**
 * The edge's environment variable names,
 * alone in a module so the config module can list every variable without loading the feature.
 */
export const AUTH_VARIABLES = ["PROXY_API_KEYS", "ALLOW_UNAUTHENTICATED"] as const
export const RATE_LIMIT_VARIABLES = ["RATE_LIMIT_ENABLED", "RATE_LIMIT_PER_MINUTE", "RATE_LIMIT_BURST"] as const
export const INBOUND_VARIABLES = [...AUTH_VARIABLES, ...RATE_LIMIT_VARIABLES] as const
