/**
 * The upstream providers: from the config file's `providers`, or the one implicit provider the environment
 * describes (OPENAI_BASE_URL / OPENAI_API_KEY / OPENROUTER_API_KEY), named after its detected profile as it always
 * was, so a setup without a file keeps its upstream name in logs, metrics and limits.
 */
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { detectProvider, type Provider } from "../convert/models.ts"
import type { ProtectionSettings } from "../protection/settings.ts"
import { ConfigInvalid, duration } from "./env.ts"
import type { ProviderEntry } from "./file.ts"

export interface ProviderSettings {
  /** The upstream's name: in routes (`"name,model"`), logs, metrics and limits. */
  readonly name: string
  /** Chat Completions base URL without the trailing `/chat/completions`. */
  readonly baseUrl: string
  /** Bearer key; absent for local servers (Ollama, vLLM, llama.cpp). */
  readonly apiKey: Option.Option<Redacted.Redacted<string>>
  /** The vendor's request dialect and answer quirks. */
  readonly profile: Provider
  /** The models it serves, as configured (may be empty: any model is sent on). */
  readonly models: ReadonlyArray<string>
  /** Extra request headers; never logged (a gateway key may be among them). */
  readonly headers: Readonly<Record<string, string>>
  /** This provider's in-flight limit, budgets and breaker: the global settings with its own overrides. */
  readonly protection: ProtectionSettings
}

const trimSlash = (url: string) => url.replace(/\/+$/, "")

/** An http(s) URL without a trailing slash, or undefined. */
export const normaliseBaseUrl = (text: string): string | undefined => {
  try {
    const url = new URL(text)
    if (url.protocol === "http:" || url.protocol === "https:") return trimSlash(text)
  } catch {
    // not a URL
  }
  return undefined
}

/** A duration in the environment's grammar (`config/env.ts`), so the file and the variables accept the same. */
const durationField = (
  value: number | string,
  file: string,
  field: string,
  options: { readonly fallback: Duration.Duration; readonly allowZero?: boolean }
): Duration.Duration => {
  try {
    return duration({ [field]: String(value) }, field, options)
  } catch (error) {
    throw error instanceof ConfigInvalid ? new ConfigInvalid({ file, variable: field, problem: error.problem }) : error
  }
}

/** A provider's budget: absent is the global one; 0 or "off" is none. */
const budget = (value: number | "off" | "unlimited" | undefined, global: number | undefined): number | undefined =>
  value === undefined ? global : value === "off" || value === "unlimited" || value === 0 ? undefined : value

/** An HTTP header name: an RFC 9110 token. */
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/

/** The file's providers, checked: URLs, unique names, durations. */
export const providersFromFile = (
  entries: ReadonlyArray<ProviderEntry>,
  global: ProtectionSettings,
  file: string
): ReadonlyArray<ProviderSettings> => {
  const seen = new Set<string>()
  return entries.map((entry, i) => {
    const at = (field: string) => `providers[${i}].${field}`
    if (seen.has(entry.name)) throw new ConfigInvalid({ file, variable: at("name"), problem: `repeats the provider name "${entry.name}"` })
    seen.add(entry.name)
    const baseUrl = normaliseBaseUrl(entry.base_url)
    if (baseUrl === undefined) {
      // Not echoed: after ${VAR} substitution it may hold a key.
      throw new ConfigInvalid({ file, variable: at("base_url"), problem: "must be an http(s) URL such as https://api.openai.com/v1" })
    }
    // A record's key schema only filters keys, so names are checked here: a bad one would fail every request.
    for (const name of Object.keys(entry.headers ?? {})) {
      if (!HEADER_NAME.test(name)) throw new ConfigInvalid({ file, variable: at(`headers.${name}`), problem: "is not an HTTP header name" })
    }
    const breaker = entry.breaker ?? {}
    return {
      name: entry.name,
      baseUrl,
      apiKey: entry.api_key === undefined || entry.api_key === "" ? Option.none() : Option.some(Redacted.make(entry.api_key)),
      profile: entry.profile ?? detectProvider(baseUrl),
      models: entry.models ?? [],
      headers: Object.fromEntries(Object.entries(entry.headers ?? {}).map(([name, value]) => [name.toLowerCase(), value])),
      protection: {
        ...global,
        maxConcurrent: entry.max_concurrent ?? global.maxConcurrent,
        rpm: budget(entry.rpm, global.rpm),
        tpm: budget(entry.tpm, global.tpm),
        queueTimeout: entry.queue_timeout === undefined
          ? global.queueTimeout
          : durationField(entry.queue_timeout, file, at("queue_timeout"), { fallback: global.queueTimeout, allowZero: true }),
        failureThreshold: breaker.failure_threshold ?? global.failureThreshold,
        recoveryTimeout: breaker.recovery_timeout === undefined
          ? global.recoveryTimeout
          : durationField(breaker.recovery_timeout, file, at("breaker.recovery_timeout"), { fallback: global.recoveryTimeout }),
        halfOpenRequests: breaker.half_open_requests ?? global.halfOpenRequests
      }
    }
  })
}

/** The one provider the environment describes. */
export const implicitProvider = (
  baseUrl: string,
  apiKey: string | undefined,
  models: ReadonlyArray<string>,
  protection: ProtectionSettings
): ProviderSettings => ({
  name: detectProvider(baseUrl),
  baseUrl,
  apiKey: apiKey === undefined ? Option.none() : Option.some(Redacted.make(apiKey)),
  profile: detectProvider(baseUrl),
  models,
  headers: {},
  protection
})

/** The base URL as it can be shown: no user info or query string, where some vendors take a key. */
export const loggableUrl = (baseUrl: string): string => {
  const url = new URL(baseUrl)
  return `${url.protocol}//${url.host}${url.pathname}`
}

/** Header names whose values are credentials (a gateway's own key, say). */
const SECRET_HEADER = /key|token|secret|auth|cookie|pass|credential/i

/** Every provider's key and credential headers: none may reach a client, a log or a recording. */
export const providerSecrets = (provider: ProviderSettings): ReadonlyArray<string> => [
  ...(Option.isSome(provider.apiKey) ? [Redacted.value(provider.apiKey.value)] : []),
  ...Object.entries(provider.headers).filter(([name, value]) => SECRET_HEADER.test(name) && value !== "").map(([, value]) => value)
]
