/** The shared readers: one grammar per kind, a table of accepted and refused spellings for each. */
import { describe, expect, it } from "@effect/vitest"
import { Duration } from "effect"
import { ConfigInvalid as FromConfig } from "../../src/config.ts"
import { boolean, byteSize, ConfigInvalid, duration, integer, text } from "../../src/config/env.ts"

const refusal = (read: () => unknown): ConfigInvalid => {
  try {
    read()
  } catch (error) {
    if (error instanceof ConfigInvalid) return error
    throw error
  }
  throw new Error("accepted")
}

describe("ConfigInvalid", () => {
  it("is the class config.ts exports, and its message names the variable", () => {
    expect(FromConfig).toBe(ConfigInvalid)
    expect(new ConfigInvalid({ variable: "X", problem: "is bad" }).message).toBe("X is bad")
  })
})

describe("text", () => {
  it.each([
    [undefined, undefined],
    ["", undefined],
    ["   ", undefined],
    [" a b ", "a b"],
    ["x", "x"]
  ])("%j → %j", (value, expected) => {
    expect(text({ X: value }, "X")).toBe(expected)
  })
})

describe("integer", () => {
  const read = (value: string | undefined) => integer({ N: value }, "N", { fallback: 7, min: 1, max: 1_000_000 })

  it.each([
    [undefined, 7],
    [" ", 7],
    ["1", 1],
    [" 42 ", 42],
    ["007", 7],
    ["100_000", 100_000],
    ["1_000_000", 1_000_000]
  ])("accepts %j as %j", (value, expected) => {
    expect(read(value)).toBe(expected)
  })

  it.each(["0", "1000001", "-1", "+1", "1.5", "1.0", "1e3", "0x10", "ten", "1__0", "_1", "1_", "1 000"])(
    "refuses %j",
    (value) => {
      const error = refusal(() => read(value))
      expect(error.variable).toBe("N")
      expect(error.message).toBe(`N must be an integer from 1 to 1000000 (got "${value}")`)
    }
  )

  it("without a maximum: any safe integer from the minimum", () => {
    expect(integer({ N: "9_007_199_254_740_991" }, "N", { fallback: 0, min: 0 })).toBe(Number.MAX_SAFE_INTEGER)
    expect(refusal(() => integer({ N: "9007199254740992" }, "N", { fallback: 0, min: 0 })).message).toBe(
      `N must be an integer of at least 0 (got "9007199254740992")`
    )
  })
})

describe("duration", () => {
  const read = (value: string | undefined, allowZero = false) =>
    duration({ D: value }, "D", { fallback: "5 seconds", allowZero })

  it.each([
    [undefined, 5_000],
    ["", 5_000],
    ["30", 30_000],
    ["2.5", 2_500],
    ["30 seconds", 30_000],
    ["1 second", 1_000],
    ["2 minutes", 120_000],
    ["500 millis", 500],
    ["1 hour", 3_600_000],
    [" 1.5 hours ", 5_400_000]
  ])("accepts %j as %j ms", (value, millis) => {
    expect(Duration.toMillis(read(value))).toBe(millis)
  })

  it.each(["0", "0 seconds", "-3", "-3 seconds", "soon", "30s", "30seconds", "Infinity", "1e3", "2 fortnights"])(
    "refuses %j",
    (value) => {
      expect(refusal(() => read(value)).message).toBe(`D must be a positive duration such as "30 seconds" (got "${value}")`)
    }
  )

  it("allowZero takes zero, still not a negative", () => {
    expect(Duration.toMillis(read("0", true))).toBe(0)
    expect(refusal(() => read("-1 seconds", true)).message).toBe(`D must be a duration such as "30 seconds" (got "-1 seconds")`)
  })

  it("takes a Duration as fallback", () => {
    expect(duration({}, "D", { fallback: Duration.minutes(2) })).toEqual(Duration.minutes(2))
  })
})

describe("boolean", () => {
  it.each([
    ["true", true],
    ["TRUE", true],
    ["on", true],
    [" On ", true],
    ["yes", true],
    ["1", true],
    ["false", false],
    ["False", false],
    ["off", false],
    ["no", false],
    ["0", false]
  ])("accepts %j as %j", (value, expected) => {
    expect(boolean({ B: value }, "B", !expected)).toBe(expected)
  })

  it("unset or blank is the fallback", () => {
    expect(boolean({}, "B", true)).toBe(true)
    expect(boolean({ B: " " }, "B", false)).toBe(false)
  })

  it.each(["maybe", "enabled", "disabled", "y", "2", "t"])("refuses %j", (value) => {
    expect(refusal(() => boolean({ B: value }, "B", false)).message).toBe(
      `B must be true/false, on/off, yes/no or 1/0 (got "${value}")`
    )
  })
})

describe("byteSize", () => {
  const read = (value: string | undefined, min?: number) => byteSize({ S: value }, "S", { fallback: 99, min })

  it.each([
    [undefined, 99],
    ["1", 1],
    ["1048576", 1_048_576],
    ["10b", 10],
    ["64MB", 64_000_000],
    ["64 mb", 64_000_000],
    ["2kb", 2_000],
    ["2KiB", 2_048],
    ["512 MiB", 512 * 1024 ** 2],
    ["1gb", 1e9],
    ["1.5 GiB", 1.5 * 1024 ** 3],
    ["1.5", 1]
  ])("accepts %j as %j", (value, expected) => {
    expect(read(value)).toBe(expected)
  })

  it.each(["0", "0.5", "-5", "12 parsecs", "MB", "1e3", "lots"])("refuses %j", (value) => {
    expect(refusal(() => read(value)).message).toBe(
      `S must be a positive size, in bytes or with a unit such as "256MB" or "512MiB" (got "${value}")`
    )
  })

  it("a minimum", () => {
    expect(read("1KiB", 1024)).toBe(1024)
    expect(refusal(() => read("1000", 1024)).message).toMatch(/^S must be a size of at least 1024 bytes/)
  })
})
