import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Redacted from "effect/Redacted"
import { parseConfig, VARIABLES } from "../../src/config.ts"
import { parseRedisSettings, REDIS_VARIABLES } from "../../src/redis/settings.ts"

describe("Redis settings", () => {
  it("unset REDIS_URL: nothing shared", () => {
    expect(parseRedisSettings({})).toBeUndefined()
    expect(parseConfig({}).redis).toBeUndefined()
  })

  it("defaults: prefix ccproxy:, 250 ms per call; the log shows host:port only", () => {
    const settings = parseRedisSettings({ REDIS_URL: "redis://user:s3cret@cache.internal/2" })!
    expect(settings.host).toBe("cache.internal:6379")
    expect(settings.prefix).toBe("ccproxy:")
    expect(Duration.toMillis(settings.timeout)).toBe(250)
    expect(Redacted.value(settings.url)).toBe("redis://user:s3cret@cache.internal/2")
    expect(String(settings.url)).not.toContain("s3cret")
  })

  it("REDIS_PREFIX and REDIS_TIMEOUT are read; rediss:// is accepted", () => {
    const settings = parseRedisSettings({ REDIS_URL: "rediss://10.0.0.5:6380", REDIS_PREFIX: "team-a:", REDIS_TIMEOUT: "100 millis" })!
    expect(settings).toMatchObject({ host: "10.0.0.5:6380", prefix: "team-a:" })
    expect(Duration.toMillis(settings.timeout)).toBe(100)
  })

  it("a bad URL is refused without echoing it (it may hold a password)", () => {
    expect(() => parseRedisSettings({ REDIS_URL: "not a url :s3cret" })).toThrow(/REDIS_URL must be a redis:\/\//)
    expect(() => parseRedisSettings({ REDIS_URL: "not a url :s3cret" })).not.toThrow(/s3cret/)
    expect(() => parseRedisSettings({ REDIS_URL: "http://u:s3cret@host" })).toThrow(/got a http: URL/)
    expect(() => parseRedisSettings({ REDIS_URL: "http://u:s3cret@host" })).not.toThrow(/s3cret/)
    expect(() => parseRedisSettings({ REDIS_URL: "redis://h", REDIS_PREFIX: "a b" })).toThrow(/REDIS_PREFIX/)
    expect(() => parseRedisSettings({ REDIS_URL: "redis://h", REDIS_TIMEOUT: "soon" })).toThrow(/REDIS_TIMEOUT/)
  })

  it("every Redis variable is one of the config's", () => {
    for (const name of REDIS_VARIABLES) expect(VARIABLES).toContain(name)
  })
})
