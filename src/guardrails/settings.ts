/**
 * The guardrails' configuration: structural limits and the secret guard, from environment variables. Parsed here,
 * next to what it configures, so the config module only has to pass the raw variables through.
 */
import { ConfigInvalid, integer, type Raw, text } from "../config/env.ts"
import { DEFAULT_STRUCTURE_LIMITS, type StructureLimits } from "./structure.ts"
import { LIMIT_VARIABLES, SECRET_GUARD_VARIABLE } from "./variables.ts"

export { GUARDRAIL_VARIABLES, type GuardrailVariable } from "./variables.ts"

/** `off`: nothing scanned. `redact`: secrets replaced before going upstream. `block`: the request refused (400). */
export type SecretGuardMode = "off" | "redact" | "block"

export interface GuardrailSettings {
  readonly limits: StructureLimits
  readonly secretGuard: SecretGuardMode
}

export const DEFAULT_GUARDRAILS: GuardrailSettings = { limits: DEFAULT_STRUCTURE_LIMITS, secretGuard: "off" }

/**
 * The accepted range of each limit. Depth has a floor because a request with content blocks is already 5 levels
 * deep, and a ceiling because the proxy's recursive steps (schema decode, `JSON.stringify`) must stay well inside
 * the stack; V8 strings stop near 2^29 characters.
 */
const RANGES: Record<keyof StructureLimits, readonly [number, number]> = {
  maxMessages: [1, 10_000_000],
  maxContentBlocks: [1, 10_000_000],
  maxTools: [1, 1_000_000],
  maxDepth: [8, 1_000],
  maxStringLength: [1, 536_870_888]
}

const MODES: ReadonlySet<string> = new Set(["off", "redact", "block"])

const parseLimit = (raw: Raw, field: keyof StructureLimits): number => {
  const [min, max] = RANGES[field]
  return integer(raw, LIMIT_VARIABLES[field], { fallback: DEFAULT_STRUCTURE_LIMITS[field], min, max })
}

/** Pure: raw variables → settings; throws `ConfigInvalid` naming the first bad variable. */
export const parseGuardrails = (raw: Raw): GuardrailSettings => {
  const value = text(raw, SECRET_GUARD_VARIABLE)
  const mode = value?.toLowerCase() ?? "off"
  if (!MODES.has(mode)) {
    throw new ConfigInvalid({ variable: SECRET_GUARD_VARIABLE, problem: `must be one of off, redact, block (got "${value}")` })
  }
  return {
    limits: {
      maxMessages: parseLimit(raw, "maxMessages"),
      maxContentBlocks: parseLimit(raw, "maxContentBlocks"),
      maxTools: parseLimit(raw, "maxTools"),
      maxDepth: parseLimit(raw, "maxDepth"),
      maxStringLength: parseLimit(raw, "maxStringLength")
    },
    secretGuard: mode as SecretGuardMode
  }
}
