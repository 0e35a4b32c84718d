/**
 * The cache's environment variable names,
 * alone in a module so the config module can list every variable without loading the feature.
 */
export const CACHE_VARIABLES = ["CACHE", "CACHE_TTL", "CACHE_MAX_BYTES", "DEDUPE"] as const

export type CacheVariable = (typeof CACHE_VARIABLES)[number]
