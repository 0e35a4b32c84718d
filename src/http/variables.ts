/**
 * The edge's environment variable names. A module of its own, importing nothing, so the config module can list them
 * at load time while `auth.ts` and `inbound-limit.ts` import `ConfigInvalid` from it: the cycle then only meets at
 * call time.
 */
export const AUTH_VARIABLES = ["PROXY_API_KEYS", "ALLOW_UNAUTHENTICATED"] as const
export const RATE_LIMIT_VARIABLES = ["RATE_LIMIT_ENABLED", "RATE_LIMIT_PER_MINUTE", "RATE_LIMIT_BURST"] as const
export const INBOUND_VARIABLES = [...AUTH_VARIABLES, ...RATE_LIMIT_VARIABLES] as const
