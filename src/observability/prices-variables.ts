/**
 * The prices' environment variable names. A module of its own, importing nothing, so the config module can list
 * them at load time while `prices-settings.ts` imports `ConfigInvalid` from it: the cycle then only meets at call
 * time.
 */
export const PRICES_FILE_VARIABLE = "PRICES_FILE"

export const PRICES_VARIABLES = [PRICES_FILE_VARIABLE] as const

export type PricesVariable = (typeof PRICES_VARIABLES)[number]
