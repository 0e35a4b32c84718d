/**
 * Every knob of the proxy, read once from the environment (and an optional `.env`; the real environment wins).
 * Names and defaults match the Python CCProxy so existing setups keep working.
 */
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Fs from "node:fs"
import { type CacheSettings, parseCacheSettings } from "./cache/settings.ts"
import { CACHE_VARIABLES } from "./cache/variables.ts"
import { parseWorkers } from "./cluster/settings.ts"
import { CLUSTER_VARIABLES } from "./cluster/variables.ts"
import { ConfigInvalid, duration, integer } from "./config/env.ts"
import { type ConfigFileContents, findConfigFile, readConfigFile, referencedVariables, type StageEntry } from "./config/file.ts"
import { implicitProvider, normaliseBaseUrl, providersFromFile, type ProviderSettings } from "./config/providers.ts"
import { type LogFileSettings, parseLogFile } from "./log-file.ts"
import { LOG_FILE_VARIABLES } from "./log-variables.ts"
import { parseTracing, type TracingSettings } from "./observability/tracing.ts"
import { TRACING_VARIABLES } from "./observability/tracing-variables.ts"
import { GUARDRAIL_VARIABLES } from "./guardrails/variables.ts"
import { type InboundSettings, parseInboundSettings } from "./http/inbound-limit.ts"
import { INBOUND_VARIABLES } from "./http/variables.ts"
import { parsePricesSettings, type PricesSettings } from "./observability/prices-settings.ts"
import { PRICES_VARIABLES } from "./observability/prices-variables.ts"
import { type GuardrailSettings, parseGuardrails } from "./guardrails/settings.ts"
import { parseProtection, type ProtectionSettings } from "./protection/settings.ts"
import { implicitRoutes, type Routes, routesFromFile } from "./routing/routes.ts"
import { PROTECTION_VARIABLES } from "./protection/variables.ts"
import { parseRecording, type RecordingSettings } from "./upstream/recording-settings.ts"
import { RECORDING_VARIABLES } from "./upstream/recording-variables.ts"
import { parseRedisSettings, type RedisSettings } from "./redis/settings.ts"
import { REDIS_VARIABLES } from "./redis/variables.ts"

export type LogLevel = "debug" | "info" | "warn" | "error" | "none"

export interface ProxyConfigShape {
  /** The upstreams: the config file's, or the one the environment describes. */
  readonly providers: ReadonlyArray<ProviderSettings>
  /** Which provider and model answer each request, with fallbacks. */
  readonly routes: Routes
  /** User stages from the config file, loaded at start (see `config/stages.ts`). */
  readonly stages: ReadonlyArray<StageEntry>
  /** The config file read, if any: reloaded on SIGHUP; stage modules resolve from its folder. */
  readonly configFile?: string | undefined
  /** Epoch millis when `loadConfig` read it: /health shows it, so `ccproxy reload` can tell a reload took. */
  readonly loadedAt?: number | undefined
  readonly host: string
  readonly port: number
  readonly logLevel: LogLevel
  /** Establishing the TCP/TLS connection. */
  readonly connectTimeout: Duration.Duration
  /** From sending the request to the response headers (for non-streaming requests: the whole answer). */
  readonly firstByteTimeout: Duration.Duration
  /** Longest silence allowed between two stream chunks. */
  readonly idleTimeout: Duration.Duration
  /** A `ping` event goes to the client after this much upstream silence. */
  readonly pingInterval: Duration.Duration
  /** Retries of the upstream call before any byte reached the client (connection errors, 429, 5xx). */
  readonly maxRetries: number
  /** Largest accepted request body. */
  readonly maxBodyBytes: number
  /** Sent to OpenRouter for app attribution. */
  readonly referer: string
  readonly appName: string
  /** Extra CA certificates (PEM, read from SSL_CERT_FILE) to trust for the upstream, e.g. a private vLLM. */
  readonly caCertificates: string | undefined
  /** Structural limits on request bodies and the secret guard. */
  readonly guardrails: GuardrailSettings
  /** The upstream's protections: in-flight limit, rate limits, circuit breaker. */
  readonly protection: ProtectionSettings
  /** Client keys (PROXY_API_KEYS) and the per-client rate limit. */
  readonly inbound: InboundSettings
  /** Price overrides (PRICES_FILE) on top of the bundled price dataset. */
  readonly prices: PricesSettings
  /** The response cache (CACHE, CACHE_TTL, CACHE_MAX_BYTES) and in-flight de-duplication (DEDUPE). */
  readonly cache: CacheSettings
  /** OpenTelemetry traces over OTLP/HTTP; undefined: tracing off (no spans at all). */
  readonly tracing?: TracingSettings | undefined
  /** The log lines also go to this file, rotated by size. */
  readonly logFile?: LogFileSettings | undefined
  /** RECORD_DIR / REPLAY_DIR: upstream exchanges written as cassettes, or answered from them; absent: off. */
  readonly recording?: RecordingSettings | undefined
  /** REDIS_URL: limits, cool-downs, breakers and cache shared by every process through Redis; absent: per process. */
  readonly redis?: RedisSettings | undefined
  /**
   * WORKERS: processes serving the one port (`cluster/`), `auto` already turned into the number of cores; absent
   * or 1: the single process. Read at start only: a reload does not change it.
   */
  readonly workers?: number | undefined
}

const OPENAI_URL = "https://api.openai.com/v1"
const OPENROUTER_URL = "https://openrouter.ai/api/v1"

const LOG_LEVELS: Record<string, LogLevel> = {
  debug: "debug",
  info: "info",
  warn: "warn",
  warning: "warn",
  error: "error",
  critical: "error",
  none: "none",
  off: "none"
}

export { ConfigInvalid } from "./config/env.ts"

/** Every environment setting; the config file takes each as a lower-case top-level field too. */
export const VARIABLES = [
  "OPENAI_API_KEY",
  "OPENROUTER_API_KEY",
  "OPENAI_BASE_URL",
  "BIG_MODEL_NAME",
  "SMALL_MODEL_NAME",
  "HOST",
  "PORT",
  "LOG_LEVEL",
  "UPSTREAM_CONNECT_TIMEOUT",
  "UPSTREAM_FIRST_BYTE_TIMEOUT",
  "UPSTREAM_IDLE_TIMEOUT",
  "PING_INTERVAL",
  "UPSTREAM_MAX_RETRIES",
  "REFERER_URL",
  "APP_NAME",
  "SSL_CERT_FILE",
  ...GUARDRAIL_VARIABLES,
  ...PROTECTION_VARIABLES,
  ...INBOUND_VARIABLES,
  ...PRICES_VARIABLES,
  ...CACHE_VARIABLES,
  ...TRACING_VARIABLES,
  ...LOG_FILE_VARIABLES,
  ...RECORDING_VARIABLES,
  ...REDIS_VARIABLES,
  ...CLUSTER_VARIABLES
] as const
type Variable = (typeof VARIABLES)[number]
type RawEnv = Partial<Record<Variable, string>>

/** Variables read as optional strings; all parsing happens in `parseConfig`, so errors can name the variable. */
const readVariables = <const Names extends ReadonlyArray<string>>(names: Names): Config.Config<Partial<Record<Names[number], string>>> =>
  Config.all(
    Object.fromEntries(names.map((name) => [name, Config.option(Config.String(name))]))
  ).pipe(
  Config.map((options) => {
    const raw: Partial<Record<Names[number], string>> = {}
    for (const [name, value] of Object.entries(options)) {
      const text = Option.getOrUndefined(value as Option.Option<string>)?.trim()
      if (text) raw[name as Names[number]] = text
    }
    return raw
  })
)

const parseBaseUrl = (raw: RawEnv, usingOpenRouterKey: boolean): string => {
  const text = raw.OPENAI_BASE_URL ?? (usingOpenRouterKey ? OPENROUTER_URL : OPENAI_URL)
  const url = normaliseBaseUrl(text)
  if (url === undefined) throw new ConfigInvalid({ variable: "OPENAI_BASE_URL", problem: `must be an http(s) URL (got "${text}")` })
  return url
}

/** The upstreams and routes: the file's when it has providers, else the environment's one provider. */
const parseUpstreams = (raw: RawEnv, protection: ProtectionSettings, file: ConfigFileContents | undefined) => {
  if (file?.providers !== undefined) {
    const providers = providersFromFile(file.providers, protection, file.path)
    if (file.routes === undefined) {
      throw new ConfigInvalid({ file: file.path, variable: "routes", problem: "is missing: with providers, routes.default says which one answers" })
    }
    return { providers, routes: routesFromFile(file.routes, providers, file.path) }
  }
  if (file?.routes !== undefined) {
    throw new ConfigInvalid({ file: file.path, variable: "routes", problem: "needs providers: list the providers the routes name" })
  }
  const usingOpenRouterKey = raw.OPENAI_API_KEY === undefined && raw.OPENROUTER_API_KEY !== undefined
  const bigModel = raw.BIG_MODEL_NAME ?? "gpt-5-2025-08-07"
  const smallModel = raw.SMALL_MODEL_NAME ?? "gpt-5-mini-2025-08-07"
  const provider = implicitProvider(
    parseBaseUrl(raw, usingOpenRouterKey),
    raw.OPENAI_API_KEY ?? raw.OPENROUTER_API_KEY,
    [...new Set([bigModel, smallModel])],
    protection
  )
  return { providers: [provider], routes: implicitRoutes(provider.name, bigModel, smallModel) }
}

const readCaFile = (raw: RawEnv): string | undefined => {
  const file = raw.SSL_CERT_FILE
  if (file === undefined) return undefined
  let pem: string
  try {
    pem = Fs.readFileSync(file, "utf8")
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === "ENOENT" ? "names a file that does not exist" : "cannot be read"
    throw new ConfigInvalid({ variable: "SSL_CERT_FILE", problem: `${reason}: ${file}` })
  }
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) {
    throw new ConfigInvalid({ variable: "SSL_CERT_FILE", problem: `holds no PEM certificate: ${file}` })
  }
  return pem
}

/**
 * Pure: raw variables (and the config file, already decoded) → typed config, or the first problem found. The
 * environment wins over the file's top-level settings; a bad value that came from the file is reported as the
 * file's field.
 */
export const parseConfig = (env: RawEnv, file?: ConfigFileContents): ProxyConfigShape => {
  if (file === undefined) return parseSettings(env, undefined)
  const raw: RawEnv = { ...file.settings, ...env }
  try {
    return parseSettings(raw, file)
  } catch (error) {
    if (error instanceof ConfigInvalid && error.file === undefined && env[error.variable as Variable] === undefined && error.variable in file.settings) {
      throw new ConfigInvalid({ file: file.path, variable: error.variable.toLowerCase(), problem: error.problem })
    }
    throw error
  }
}

const parseSettings = (raw: RawEnv, file: ConfigFileContents | undefined): ProxyConfigShape => {
  const protection = parseProtection(raw)
  const logLevel = LOG_LEVELS[(raw.LOG_LEVEL ?? "info").toLowerCase()]
  if (logLevel === undefined) {
    throw new ConfigInvalid({
      variable: "LOG_LEVEL",
      problem: `must be one of debug, info, warn, error, none (got "${raw.LOG_LEVEL}")`
    })
  }
  return {
    ...parseUpstreams(raw, protection, file),
    stages: file?.stages ?? [],
    configFile: file?.path,
    host: raw.HOST ?? "127.0.0.1",
    port: integer(raw, "PORT", { fallback: 11434, min: 0, max: 65535 }),
    logLevel,
    connectTimeout: duration(raw, "UPSTREAM_CONNECT_TIMEOUT", { fallback: "10 seconds" }),
    firstByteTimeout: duration(raw, "UPSTREAM_FIRST_BYTE_TIMEOUT", { fallback: "10 minutes" }),
    idleTimeout: duration(raw, "UPSTREAM_IDLE_TIMEOUT", { fallback: "5 minutes" }),
    pingInterval: duration(raw, "PING_INTERVAL", { fallback: "5 seconds" }),
    maxRetries: integer(raw, "UPSTREAM_MAX_RETRIES", { fallback: 2, min: 0, max: 10 }),
    maxBodyBytes: 32 * 1024 * 1024,
    referer: raw.REFERER_URL ?? "http://localhost:11434/claude_proxy",
    appName: raw.APP_NAME ?? "CCProxy",
    caCertificates: readCaFile(raw),
    guardrails: parseGuardrails(raw),
    protection,
    inbound: parseInboundSettings(raw),
    prices: parsePricesSettings(raw),
    cache: parseCacheSettings(raw),
    tracing: parseTracing(raw),
    logFile: parseLogFile(raw),
    recording: parseRecording(raw),
    redis: parseRedisSettings(raw),
    workers: parseWorkers(raw)
  }
}

const unreadable = (error: Config.ConfigError) => new ConfigInvalid({ variable: "environment", problem: `could not be read: ${error.message}` })

const attempt = <A>(f: () => A): Effect.Effect<A, ConfigInvalid> =>
  Effect.try({
    try: f,
    catch: (error) => error instanceof ConfigInvalid ? error : new ConfigInvalid({ variable: "configuration", problem: String(error) })
  })

/** The names a config file refers to with `${VAR}`: read through the same provider as the settings (`.env` too). */
const referencedNames = (file: string): ReadonlyArray<string> => {
  let text: string
  try {
    text = Fs.readFileSync(file, "utf8")
  } catch {
    return [] // reported when the file itself is read
  }
  return referencedVariables(text)
}

/**
 * The config from the current ConfigProvider and the config file (CCPROXY_CONFIG, else ./ccproxy.json or
 * ./ccproxy.yaml in `cwd`); fails with `ConfigInvalid` naming the variable, or the file and field.
 */
export const loadConfig = (cwd: string = process.cwd()): Effect.Effect<ProxyConfigShape, ConfigInvalid> =>
  Effect.gen(function*() {
    const raw = yield* Effect.mapError(readVariables(VARIABLES), unreadable)
    const { CCPROXY_CONFIG: named } = yield* Effect.mapError(readVariables(["CCPROXY_CONFIG"]), unreadable)
    const file = yield* attempt(() => findConfigFile(named, cwd))
    const loadedAt = yield* Clock.currentTimeMillis
    if (file === undefined) return { ...yield* attempt(() => parseConfig(raw)), loadedAt }
    const env = yield* Effect.mapError(readVariables(referencedNames(file)), unreadable)
    const contents = yield* attempt(() => readConfigFile(file, env, VARIABLES))
    return { ...yield* attempt(() => parseConfig(raw, contents)), loadedAt }
  })

export class ProxyConfig extends Context.Service<ProxyConfig, ProxyConfigShape>()("ccproxy/ProxyConfig") {
  static readonly layer = Layer.effect(this, loadConfig())
  static readonly make = (config: ProxyConfigShape) => Layer.succeed(this, config)
}

/**
 * The process environment over an optional `.env` file: a variable set in the real environment always wins.
 * A missing `.env` is fine; an unreadable one is reported as a config problem by the caller.
 */
export const envProvider = (dotEnvPath = ".env"): ConfigProvider.ConfigProvider => {
  const env = ConfigProvider.fromEnv()
  if (!Fs.existsSync(dotEnvPath)) return env
  return ConfigProvider.orElse(env, ConfigProvider.fromDotEnvContents(Fs.readFileSync(dotEnvPath, "utf8")))
}
