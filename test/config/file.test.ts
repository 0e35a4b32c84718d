/**
 * The config file: the example works as written, in JSON and YAML; `${VAR}` reads the environment; the
 * environment wins over the file's top-level settings; each kind of mistake stops the start with one line naming
 * the file, the field and what was expected; the committed JSON Schema is the one the code generates.
 */
import { describe, expect, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { loadConfig } from "../../src/config.ts"
import { configJsonSchema } from "../../src/config/schema.ts"
import { writeConfigDir } from "../support/providers-harness.ts"

/** The example in the issue and the README, verbatim. */
export const EXAMPLE = {
  providers: [
    { name: "openai", base_url: "https://api.openai.com/v1", api_key: "${OPENAI_API_KEY}" },
    { name: "deepseek", base_url: "https://api.deepseek.com", api_key: "${DEEPSEEK_API_KEY}" },
    { name: "local", base_url: "http://127.0.0.1:8000/v1", profile: "vllm" }
  ],
  routes: {
    default: ["openai,gpt-5", "deepseek,deepseek-chat"],
    background: "local,qwen3-coder",
    think: "deepseek,deepseek-reasoner",
    long_context: { target: "openai,gpt-4.1", threshold_tokens: 60000 },
    rules: [{ match: "claude-opus-*", target: "openai,gpt-5" }]
  }
}

const KEYS = { OPENAI_API_KEY: "sk-openai-example", DEEPSEEK_API_KEY: "sk-deepseek-example" }

const load = (dir: string, env: Record<string, string> = {}) =>
  loadConfig(dir).pipe(Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromUnknown(env)))

/** The one-line problem a file gives (the config must fail to load). */
const problemWith = (file: unknown, env: Record<string, string> = KEYS, name = "ccproxy.json") =>
  Effect.gen(function*() {
    const dir = writeConfigDir(file, {}, name)
    const error = yield* Effect.flip(load(dir, env))
    Fs.rmSync(dir, { recursive: true, force: true })
    expect(error.message).not.toContain("\n")
    return error.message.replace(dir + Path.sep, "")
  })

describe("the config file", () => {
  it.effect("the issue's example works as written", () =>
    Effect.gen(function*() {
      const dir = writeConfigDir(EXAMPLE)
      const config = yield* load(dir, KEYS)
      expect(config.configFile).toBe(Path.join(dir, "ccproxy.json"))
      expect(config.providers.map((p) => [p.name, p.profile, p.baseUrl])).toEqual([
        ["openai", "openai", "https://api.openai.com/v1"],
        ["deepseek", "deepseek", "https://api.deepseek.com"],
        ["local", "vllm", "http://127.0.0.1:8000/v1"]
      ])
      expect(Redacted.value(Option.getOrThrow(config.providers[0]!.apiKey))).toBe("sk-openai-example")
      expect(Option.isNone(config.providers[2]!.apiKey)).toBe(true)
      expect(config.routes.default).toEqual([{ provider: "openai", model: "gpt-5" }, { provider: "deepseek", model: "deepseek-chat" }])
      expect(config.routes.background).toEqual([{ provider: "local", model: "qwen3-coder" }])
      expect(config.routes.longContext).toEqual({ chain: [{ provider: "openai", model: "gpt-4.1" }], thresholdTokens: 60000 })
      expect(config.routes.rules[0]!.test("claude-opus-4-7")).toBe(true)
      expect(config.routes.rules[0]!.test("claude-sonnet-4-6")).toBe(false)
      expect(JSON.stringify(config)).not.toContain("sk-openai-example")
      Fs.rmSync(dir, { recursive: true, force: true })
    }))

  it.effect("the README's example works as written", () =>
    Effect.gen(function*() {
      const readme = Fs.readFileSync(Path.join(import.meta.dirname, "..", "..", "README.md"), "utf8")
      const section = readme.slice(readme.indexOf("## Providers, routes and fallback"))
      const json = /```json\n([\s\S]*?)\n```/.exec(section)![1]!
      const dir = writeConfigDir(json)
      const config = yield* load(dir, KEYS)
      expect(config.providers.map((p) => p.name)).toEqual(["openai", "deepseek", "local"])
      expect(config.providers[1]!.protection.rpm).toBe(500)
      expect(config.port).toBe(8082)
      expect(config.routes.think).toEqual([{ provider: "deepseek", model: "deepseek-reasoner" }])
      Fs.rmSync(dir, { recursive: true, force: true })
    }))

  it.effect("the same in YAML, found as ./ccproxy.yaml", () =>
    Effect.gen(function*() {
      const yaml = [
        "providers:",
        "  - name: openai",
        "    base_url: https://api.openai.com/v1",
        "    api_key: ${OPENAI_API_KEY}",
        "    rpm: 500",
        "    breaker: { failure_threshold: 3, recovery_timeout: 30 }",
        "routes:",
        "  default: openai,gpt-5",
        "port: 8082"
      ].join("\n")
      const dir = writeConfigDir(yaml, {}, "ccproxy.yaml")
      const config = yield* load(dir, KEYS)
      expect(config.port).toBe(8082)
      expect(config.providers[0]!.protection).toMatchObject({ rpm: 500, failureThreshold: 3 })
      expect(Duration.toMillis(config.providers[0]!.protection.recoveryTimeout)).toBe(30_000)
      // Settings the provider does not override are the global ones.
      expect(config.providers[0]!.protection.maxConcurrent).toBe(config.protection.maxConcurrent)
      Fs.rmSync(dir, { recursive: true, force: true })
    }))

  it.effect("a provider opts out of the global budget with 0 or \"off\"; durations read as in the environment", () =>
    Effect.gen(function*() {
      const dir = writeConfigDir({
        upstream_rpm: 500,
        providers: [
          { name: "openai", base_url: "https://api.openai.com/v1", queue_timeout: "5", breaker: { recovery_timeout: "2 minutes" } },
          { name: "local", base_url: "http://127.0.0.1:8000/v1", rpm: "off", tpm: 0 }
        ],
        routes: { default: "openai,gpt-5" }
      })
      const config = yield* load(dir)
      expect(config.providers[0]!.protection.rpm).toBe(500)
      expect(Duration.toMillis(config.providers[0]!.protection.queueTimeout)).toBe(5_000)
      expect(Duration.toMillis(config.providers[0]!.protection.recoveryTimeout)).toBe(120_000)
      expect(config.providers[1]!.protection).toMatchObject({ rpm: undefined, tpm: undefined })
      Fs.rmSync(dir, { recursive: true, force: true })
    }))

  it.effect("CCPROXY_CONFIG names the file; the environment wins over its top-level settings", () =>
    Effect.gen(function*() {
      const dir = writeConfigDir({ port: 9000, log_level: "debug", upstream_max_retries: 4 }, {}, "elsewhere.json")
      const file = Path.join(dir, "elsewhere.json")
      const config = yield* load(dir, { CCPROXY_CONFIG: file, PORT: "8000" })
      expect(config.port).toBe(8000)
      expect(config.logLevel).toBe("debug")
      expect(config.maxRetries).toBe(4)
      // Without providers in the file the environment's one provider serves.
      expect(config.providers.map((p) => p.name)).toEqual(["openai"])
      Fs.rmSync(dir, { recursive: true, force: true })
    }))

  it.effect("${VAR:-fallback} gives a default", () =>
    Effect.gen(function*() {
      const dir = writeConfigDir({ host: "${BIND:-127.0.0.2}" })
      expect((yield* load(dir, {})).host).toBe("127.0.0.2")
      Fs.rmSync(dir, { recursive: true, force: true })
    }))

  it.effect("each mistake is one line naming the file, the field and what was expected", () =>
    Effect.gen(function*() {
      expect(yield* problemWith({ ...EXAMPLE, routes: { ...EXAMPLE.routes, defualt: "openai,gpt-5" } }))
        .toBe("ccproxy.json: routes.defualt expected no excess property")
      expect(yield* problemWith({ providers: [{ ...EXAMPLE.providers[0], max_concurrent: 0 }], routes: { default: "openai,gpt-5" } }))
        .toBe("ccproxy.json: providers[0].max_concurrent expected a value greater than or equal to 1")
      expect(yield* problemWith({ providers: [{ ...EXAMPLE.providers[0], profile: "azure" }], routes: { default: "openai,gpt-5" } }))
        .toMatch(/^ccproxy\.json: providers\[0\]\.profile expected "openai" \| "openrouter"/)
      expect(yield* problemWith({ ...EXAMPLE, routes: { ...EXAMPLE.routes, think: "deepsek,deepseek-reasoner" } }))
        .toBe("ccproxy.json: routes.think names an unknown provider \"deepsek\" (known: openai, deepseek, local)")
      expect(yield* problemWith({
        ...EXAMPLE,
        providers: [...EXAMPLE.providers.slice(0, 2), { ...EXAMPLE.providers[2], models: ["qwen3-coder-30b"] }]
      })).toBe("ccproxy.json: routes.background names model \"qwen3-coder\", which provider \"local\" does not list (its models: qwen3-coder-30b)")
      expect(yield* problemWith({ ...EXAMPLE, routes: { ...EXAMPLE.routes, background: "qwen3-coder" } }))
        .toBe("ccproxy.json: routes.background expected \"provider,model\"")
      expect(yield* problemWith(EXAMPLE, { OPENAI_API_KEY: "k" }))
        .toBe("ccproxy.json: providers[1].api_key refers to ${DEEPSEEK_API_KEY}, which is not set in the environment")
      expect(yield* problemWith({ providers: [{ name: "a", base_url: "api.openai.com" }], routes: { default: "a,m" } }))
        .toBe("ccproxy.json: providers[0].base_url must be an http(s) URL such as https://api.openai.com/v1")
      expect(yield* problemWith({ providers: [{ ...EXAMPLE.providers[0], headers: { "x org": "acme" } }], routes: { default: "openai,m" } }))
        .toBe("ccproxy.json: providers[0].headers.x org is not an HTTP header name")
      expect(yield* problemWith({ providers: [{ ...EXAMPLE.providers[0], breaker: { recovery_timeout: "soon" } }], routes: { default: "openai,m" } }))
        .toBe("ccproxy.json: providers[0].breaker.recovery_timeout must be a positive duration such as \"30 seconds\" (got \"soon\")")
      expect(yield* problemWith({ providers: [EXAMPLE.providers[0], EXAMPLE.providers[0]], routes: { default: "openai,m" } }))
        .toBe("ccproxy.json: providers[1].name repeats the provider name \"openai\"")
      expect(yield* problemWith({ providers: EXAMPLE.providers })).toMatch(/^ccproxy\.json: routes is missing/)
      expect(yield* problemWith({ port: "eighty" })).toBe("ccproxy.json: port must be an integer from 0 to 65535 (got \"eighty\")")
      expect(yield* problemWith("{ \"providers\": [")).toMatch(/^ccproxy\.json: JSON is not valid/)
      expect(yield* problemWith("providers:\n  - name: [", KEYS, "ccproxy.yaml")).toMatch(/^ccproxy\.yaml: line \d+, column \d+ is not valid YAML/)
      expect(yield* problemWith([1, 2])).toBe("ccproxy.json: (the whole file) must be an object of settings")
    }))

  it.effect("two candidate files, or a CCPROXY_CONFIG that names nothing, stop the start", () =>
    Effect.gen(function*() {
      const dir = writeConfigDir({ port: 1 })
      Fs.writeFileSync(Path.join(dir, "ccproxy.yaml"), "port: 2\n")
      expect((yield* Effect.flip(load(dir))).message).toMatch(/^config file is ambiguous: both ccproxy\.json and ccproxy\.yaml/)
      expect((yield* Effect.flip(load(dir, { CCPROXY_CONFIG: "/nope/ccproxy.json" }))).message)
        .toBe("CCPROXY_CONFIG names a file that does not exist: /nope/ccproxy.json")
      Fs.rmSync(dir, { recursive: true, force: true })
    }))

  it("ccproxy.schema.json is the schema the code decodes with (regenerate: npm run config-schema)", () => {
    const committed = Fs.readFileSync(Path.join(import.meta.dirname, "..", "..", "ccproxy.schema.json"), "utf8")
    expect(committed).toBe(configJsonSchema())
    const schema = JSON.parse(committed)
    expect(schema.additionalProperties).toBe(false)
    expect(Object.keys(schema.properties)).toEqual(expect.arrayContaining(["providers", "routes", "stages", "port", "upstream_rpm"]))
  })
})
