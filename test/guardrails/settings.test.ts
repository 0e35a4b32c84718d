import { describe, expect, it } from "@effect/vitest"
import { ConfigInvalid } from "../../src/config.ts"
import { DEFAULT_GUARDRAILS, GUARDRAIL_VARIABLES, parseGuardrails } from "../../src/guardrails/settings.ts"

const problem = (raw: Record<string, string | undefined>) => {
  try {
    parseGuardrails(raw)
    return undefined
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigInvalid)
    return (error as ConfigInvalid).message
  }
}

describe("parseGuardrails", () => {
  it("defaults: generous limits, secret guard off", () => {
    expect(parseGuardrails({})).toEqual(DEFAULT_GUARDRAILS)
    expect(DEFAULT_GUARDRAILS).toEqual({
      limits: { maxMessages: 100_000, maxContentBlocks: 200_000, maxTools: 10_000, maxDepth: 64, maxStringLength: 10_000_000 },
      secretGuard: "off"
    })
  })

  it("names the variables it reads", () => {
    expect(GUARDRAIL_VARIABLES).toEqual([
      "MAX_MESSAGES",
      "MAX_CONTENT_BLOCKS",
      "MAX_TOOLS",
      "MAX_JSON_DEPTH",
      "MAX_STRING_LENGTH",
      "SECRET_GUARD"
    ])
  })

  it("reads every variable; blank is unset, case and spaces do not matter for the mode", () => {
    const settings = parseGuardrails({
      MAX_MESSAGES: "500",
      MAX_CONTENT_BLOCKS: " 2000 ",
      MAX_TOOLS: "100_000",
      MAX_JSON_DEPTH: "",
      MAX_STRING_LENGTH: "1000000",
      SECRET_GUARD: " Redact "
    })
    expect(settings).toEqual({
      limits: { maxMessages: 500, maxContentBlocks: 2000, maxTools: 100_000, maxDepth: 64, maxStringLength: 1_000_000 },
      secretGuard: "redact"
    })
    expect(parseGuardrails({ SECRET_GUARD: "block" }).secretGuard).toBe("block")
    expect(parseGuardrails({ SECRET_GUARD: "OFF" }).secretGuard).toBe("off")
  })

  it.each<[Record<string, string>, string]>([
    [{ SECRET_GUARD: "on" }, `SECRET_GUARD must be one of off, redact, block (got "on")`],
    [{ MAX_MESSAGES: "0" }, `MAX_MESSAGES must be an integer from 1 to 10000000 (got "0")`],
    [{ MAX_CONTENT_BLOCKS: "1e3" }, `MAX_CONTENT_BLOCKS must be an integer from 1 to 10000000 (got "1e3")`],
    [{ MAX_TOOLS: "-1" }, `MAX_TOOLS must be an integer from 1 to 1000000 (got "-1")`],
    [{ MAX_JSON_DEPTH: "5" }, `MAX_JSON_DEPTH must be an integer from 8 to 1000 (got "5")`],
    [{ MAX_JSON_DEPTH: "10000" }, `MAX_JSON_DEPTH must be an integer from 8 to 1000 (got "10000")`],
    [{ MAX_STRING_LENGTH: "ten" }, `MAX_STRING_LENGTH must be an integer from 1 to 536870888 (got "ten")`],
    [{ MAX_STRING_LENGTH: "1.5" }, `MAX_STRING_LENGTH must be an integer from 1 to 536870888 (got "1.5")`]
  ])("rejects %o, naming the variable", (raw, message) => {
    expect(problem(raw)).toBe(message)
  })
})
