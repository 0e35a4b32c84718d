import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Option, Redacted } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { ConfigInvalid, envProvider, loadConfig, parseConfig } from "../src/config.ts"

const problem = (raw: Record<string, string>) => {
  try {
    parseConfig(raw)
    return undefined
  } catch (error) {
    return (error as ConfigInvalid).message
  }
}

describe("configuration", () => {
  it("has the Python CCProxy's defaults", () => {
    const config = parseConfig({})
    expect(config.providers).toMatchObject([{ name: "openai", profile: "openai", baseUrl: "https://api.openai.com/v1" }])
    expect(config.routes.default).toEqual([{ provider: "openai", model: "gpt-5-2025-08-07" }])
    expect(config.routes.background).toEqual([{ provider: "openai", model: "gpt-5-mini-2025-08-07" }])
    expect(config).toMatchObject({
      host: "127.0.0.1",
      port: 11434,
      logLevel: "info",
      maxBodyBytes: 32 * 1024 * 1024
    })
    expect(Option.isNone(config.providers[0]!.apiKey)).toBe(true)
    expect(Duration.toMillis(config.connectTimeout)).toBe(10_000)
  })

  it("an OpenRouter key implies OpenRouter's base URL unless one is set", () => {
    const openrouter = parseConfig({ OPENROUTER_API_KEY: "sk-or-1" }).providers[0]!
    expect(openrouter.baseUrl).toBe("https://openrouter.ai/api/v1")
    expect(openrouter.name).toBe("openrouter")
    expect(Redacted.value(Option.getOrThrow(openrouter.apiKey))).toBe("sk-or-1")
    expect(parseConfig({ OPENROUTER_API_KEY: "k", OPENAI_BASE_URL: "http://localhost:8000/v1/" }).providers[0]!.baseUrl)
      .toBe("http://localhost:8000/v1")
    expect(parseConfig({ OPENAI_API_KEY: "a", OPENROUTER_API_KEY: "b" }).providers[0]!.baseUrl).toBe("https://api.openai.com/v1")
  })

  it("keys are Redacted: printing the config never shows them", () => {
    const config = parseConfig({ OPENAI_API_KEY: "sk-very-secret" })
    expect(JSON.stringify(config)).not.toContain("sk-very-secret")
    expect(String(Option.getOrThrow(config.providers[0]!.apiKey))).not.toContain("sk-very-secret")
  })

  it("accepts durations in words or as seconds, and log level aliases", () => {
    const config = parseConfig({ UPSTREAM_IDLE_TIMEOUT: "90", PING_INTERVAL: "500 millis", LOG_LEVEL: "WARNING" })
    expect(Duration.toMillis(config.idleTimeout)).toBe(90_000)
    expect(Duration.toMillis(config.pingInterval)).toBe(500)
    expect(config.logLevel).toBe("warn")
  })

  it("rejects bad values with one line naming the variable", () => {
    expect(problem({ PORT: "eighty" })).toBe("PORT must be an integer from 0 to 65535 (got \"eighty\")")
    expect(problem({ PORT: "70000" })).toMatch(/^PORT /)
    expect(problem({ PORT: "8e3" })).toBe("PORT must be an integer from 0 to 65535 (got \"8e3\")")
    expect(problem({ UPSTREAM_MAX_RETRIES: "0x2" })).toMatch(/^UPSTREAM_MAX_RETRIES must be an integer from 0 to 10/)
    expect(problem({ OPENAI_BASE_URL: "api.openai.com" })).toMatch(/^OPENAI_BASE_URL must be an http\(s\) URL/)
    expect(problem({ LOG_LEVEL: "loud" })).toMatch(/^LOG_LEVEL must be one of/)
    expect(problem({ UPSTREAM_IDLE_TIMEOUT: "soon" })).toMatch(/^UPSTREAM_IDLE_TIMEOUT must be a positive duration/)
    expect(problem({ SSL_CERT_FILE: "/nope.pem" })).toMatch(/^SSL_CERT_FILE names a file that does not exist/)
    expect(problem({ SSL_CERT_FILE: Os.tmpdir() })).toMatch(/^SSL_CERT_FILE cannot be read/)
    expect(problem({ SSL_CERT_FILE: "/etc/hostname" })).toMatch(/^SSL_CERT_FILE holds no PEM certificate/)
    for (const message of [problem({ PORT: "x" }), problem({ LOG_LEVEL: "x" })]) expect(message).not.toContain("\n")
  })

  it.effect("loads through the ConfigProvider; the real environment wins over .env", () =>
    Effect.gen(function*() {
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "ccproxy-env-"))
      const file = Path.join(dir, ".env")
      Fs.writeFileSync(file, "BIG_MODEL_NAME=from-dotenv\nSMALL_MODEL_NAME=small-from-dotenv\nPORT=9999\n")
      process.env.BIG_MODEL_NAME = "from-env"
      try {
        const config = yield* loadConfig(dir).pipe(Effect.provideService(ConfigProvider.ConfigProvider, envProvider(file)))
        expect(config.routes.default[0].model).toBe("from-env")
        expect(config.routes.background?.[0].model).toBe("small-from-dotenv")
        expect(config.port).toBe(9999)
      } finally {
        delete process.env.BIG_MODEL_NAME
        Fs.rmSync(dir, { recursive: true, force: true })
      }
    }))

  it.effect("a bad value from the provider fails with ConfigInvalid", () =>
    Effect.gen(function*() {
      const error = yield* loadConfig(Os.tmpdir()).pipe(
        Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromUnknown({ PORT: "-1" })),
        Effect.flip
      )
      expect(error).toBeInstanceOf(ConfigInvalid)
      expect(error.message).toMatch(/^PORT /)
    }))
})
