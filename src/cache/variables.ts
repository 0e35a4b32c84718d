/**
 * The response cache's environment variable names. A module of its own, importing nothing, so the config module can
 * list them at load time while `settings.ts` imports `ConfigInvalid` from it: the cycle then only meets at call time.
 */
export const CACHE_VARIABLES = ["CACHE", "CACHE_TTL", "CACHE_MAX_BYTES", "DEDUPE"] as const

export type CacheVariable = (typeof CACHE_VARIABLES)[number]
