/**
 * The guardrails' environment variable names,
 * alone in a module so the config module can list every variable without loading the feature.
 */

/** The variable behind each structural limit, named in every violation so an operator knows what to raise. */
export const LIMIT_VARIABLES = {
  maxMessages: "MAX_MESSAGES",
  maxContentBlocks: "MAX_CONTENT_BLOCKS",
  maxTools: "MAX_TOOLS",
  maxDepth: "MAX_JSON_DEPTH",
  maxStringLength: "MAX_STRING_LENGTH"
} as const

export const SECRET_GUARD_VARIABLE = "SECRET_GUARD"

export const GUARDRAIL_VARIABLES = [
  LIMIT_VARIABLES.maxMessages,
  LIMIT_VARIABLES.maxContentBlocks,
  LIMIT_VARIABLES.maxTools,
  LIMIT_VARIABLES.maxDepth,
  LIMIT_VARIABLES.maxStringLength,
  SECRET_GUARD_VARIABLE
] as const

export type GuardrailVariable = (typeof GUARDRAIL_VARIABLES)[number]
