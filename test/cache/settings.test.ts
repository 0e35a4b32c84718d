/** The cache variables: defaults, accepted spellings, and refusals that name the variable. */
import { describe, expect, it } from "@effect/vitest"
import { Duration } from "effect"
import { ConfigInvalid } from "../../src/config.ts"
import { CACHE_VARIABLES, parseCacheSettings } from "../../src/cache/settings.ts"

const refusal = (raw: Record<string, string>) => {
  try {
    parseCacheSettings(raw)
  } catch (error) {
    return error
  }
  throw new Error("accepted")
}

describe("parseCacheSettings", () => {
  it("defaults: off, 1 hour, 256 MiB, no de-duplication", () => {
    expect(parseCacheSettings({})).toEqual({ enabled: false, ttl: Duration.hours(1), maxBytes: 256 * 1024 * 1024, dedupe: false })
  })

  it("DEDUPE follows CACHE unless set", () => {
    expect(parseCacheSettings({ CACHE: "on" }).dedupe).toBe(true)
    expect(parseCacheSettings({ CACHE: "on", DEDUPE: "off" }).dedupe).toBe(false)
    expect(parseCacheSettings({ DEDUPE: "on" })).toMatchObject({ enabled: false, dedupe: true })
  })

  it("reads every variable: on/off spellings, bare seconds or durations, sizes with units", () => {
    expect(parseCacheSettings({ CACHE: "true", CACHE_TTL: "90", CACHE_MAX_BYTES: "1048576", DEDUPE: "0" })).toEqual({
      enabled: true,
      ttl: Duration.seconds(90),
      maxBytes: 1048576,
      dedupe: false
    })
    expect(parseCacheSettings({ CACHE: " ON ", CACHE_TTL: "10 minutes", CACHE_MAX_BYTES: "64MB" })).toMatchObject({
      enabled: true,
      ttl: Duration.minutes(10),
      maxBytes: 64_000_000
    })
    expect(parseCacheSettings({ CACHE_MAX_BYTES: "512 MiB" }).maxBytes).toBe(512 * 1024 * 1024)
    expect(parseCacheSettings({ CACHE_MAX_BYTES: "1gb" }).maxBytes).toBe(1e9)
  })

  it("refuses what nobody meant, naming the variable", () => {
    for (const [name, value] of [
      ["CACHE", "maybe"],
      ["CACHE", "enabled"],
      ["DEDUPE", "sometimes"],
      ["CACHE_TTL", "0"],
      ["CACHE_TTL", "soon"],
      ["CACHE_MAX_BYTES", "0"],
      ["CACHE_MAX_BYTES", "-5"],
      ["CACHE_MAX_BYTES", "12 parsecs"]
    ] as const) {
      const error = refusal({ [name]: value })
      expect(error).toBeInstanceOf(ConfigInvalid)
      expect((error as ConfigInvalid).variable).toBe(name)
      expect((error as ConfigInvalid).message).toContain(value)
    }
  })

  it("lists its variables for the config module", () => {
    expect(CACHE_VARIABLES).toEqual(["CACHE", "CACHE_TTL", "CACHE_MAX_BYTES", "DEDUPE"])
  })
})
