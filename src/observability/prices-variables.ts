/**
 * The prices' environment variable names,
 * alone in a module so the config module can list every variable without loading the feature.
 */
export const PRICES_FILE_VARIABLE = "PRICES_FILE"

export const PRICES_VARIABLES = [PRICES_FILE_VARIABLE] as const

export type PricesVariable = (typeof PRICES_VARIABLES)[number]
