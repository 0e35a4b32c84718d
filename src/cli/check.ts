/**
 * `ccproxy check`: is the configuration good, and can every provider be reached with it? The config is loaded as
 * the proxy loads it (a bad one is reported in its one line); then each provider's `GET /models` is asked with the
 * provider's key and headers, and the models the routes send it are looked for in the answer. Where a server has no
 * /models (404/405), a one-token completion of its first routed model stands in. Exit 0 when every provider
 * answered, 1 otherwise; a model missing from a list is a warning, since some vendors list only part of what they
 * serve.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as tls from "node:tls"
import { Agent, request } from "undici"
import type { ProxyConfigShape } from "../config.ts"
import { loggableUrl, providerSecrets, type ProviderSettings } from "../config/providers.ts"
import { upstreamHeaders } from "../upstream/Upstream.ts"
import { describeNetworkError } from "../upstream/network-errors.ts"
import { allTargets, describeRoutes } from "../routing/routes.ts"
import type { CommandMain } from "./command.ts"
import { fail, loadSettings } from "./settings.ts"

const TIMEOUT_MILLIS = 15_000

interface Answer {
  readonly status: number
  readonly text: string
}

export interface ProviderReport {
  readonly provider: string
  readonly ok: boolean
  /** One line: what answered, or what went wrong. */
  readonly detail: string
  readonly warnings: ReadonlyArray<string>
}

const call = (agent: Agent, url: string, init: { method: "GET" | "POST"; headers: Record<string, string>; body?: string }) =>
  Effect.tryPromise({
    try: async (signal): Promise<Answer> => {
      const answer = await request(url, { ...init, dispatcher: agent, signal: AbortSignal.any([signal, AbortSignal.timeout(TIMEOUT_MILLIS)]) })
      return { status: answer.statusCode, text: await answer.body.text() }
    },
    catch: (error) => describeNetworkError(error)
  })

/** The upstream's own error message, short, or its status. */
const whyFailed = (answer: Answer, secrets: ReadonlyArray<string>): string => {
  let message = answer.text.trim().slice(0, 200)
  try {
    const body = JSON.parse(answer.text) as { error?: { message?: unknown } | string; message?: unknown }
    const found = typeof body.error === "string" ? body.error : body.error?.message ?? body.message
    if (typeof found === "string") message = found.slice(0, 200)
  } catch {
    // not JSON: the text as it came
  }
  for (const secret of secrets) message = message.replaceAll(secret, "[REDACTED]")
  return `HTTP ${answer.status}${message === "" ? "" : `: ${message}`}`
}

const listedIds = (text: string): ReadonlyArray<string> | undefined => {
  try {
    const body = JSON.parse(text) as { data?: Array<{ id?: unknown }>; models?: Array<{ id?: unknown; name?: unknown }> }
    const entries = body.data ?? body.models
    return Array.isArray(entries) ? entries.map((entry) => String(entry.id ?? (entry as { name?: unknown }).name ?? "")) : undefined
  } catch {
    return undefined
  }
}

/** One provider: reachable with its key, and serving the models the routes send it? */
export const checkProvider = (
  agent: Agent,
  provider: ProviderSettings,
  models: ReadonlyArray<string>,
  config: Pick<ProxyConfigShape, "referer" | "appName">
): Effect.Effect<ProviderReport> => {
  const secrets = providerSecrets(provider)
  const report = (ok: boolean, detail: string, warnings: ReadonlyArray<string> = []): ProviderReport =>
    ({ provider: provider.name, ok, detail, warnings })
  // Exactly what the proxy sends, so the check probes as the proxy would.
  const headers = upstreamHeaders(provider, config)
  const completion = (model: string) =>
    call(agent, `${provider.baseUrl}/chat/completions`, {
      method: "POST",
      headers: { ...headers, "content-type": "application/json" },
      body: JSON.stringify({ model, max_tokens: 1, messages: [{ role: "user", content: "ping" }] })
    }).pipe(Effect.map((answer) =>
      answer.status === 200
        ? report(true, `POST /chat/completions with ${model} answered (no /models here)`)
        : report(false, `POST /chat/completions with ${model}: ${whyFailed(answer, secrets)}`)))
  return call(agent, `${provider.baseUrl}/models`, { method: "GET", headers }).pipe(
    Effect.flatMap((answer) => {
      if ((answer.status === 404 || answer.status === 405) && models[0] !== undefined) return completion(models[0])
      if (answer.status !== 200) return Effect.succeed(report(false, `GET /models: ${whyFailed(answer, secrets)}`))
      const ids = listedIds(answer.text)
      if (ids === undefined) return Effect.succeed(report(true, "GET /models answered"))
      const missing = models.filter((model) => !ids.includes(model))
      return Effect.succeed(report(
        true,
        `GET /models answered (${ids.length} models)`,
        missing.map((model) => `${model} is not in its list of models`)
      ))
    }),
    Effect.catch((reason) => Effect.succeed(report(false, `unreachable: ${reason}`)))
  )
}

/** Each provider's report, checked side by side. */
export const checkProviders = (config: ProxyConfigShape): Effect.Effect<ReadonlyArray<ProviderReport>> =>
  Effect.acquireUseRelease(
    Effect.sync(() => {
      const ca = config.caCertificates === undefined ? undefined : [...tls.rootCertificates, config.caCertificates]
      return new Agent({ connect: { timeout: Duration.toMillis(config.connectTimeout), ...(ca ? { ca } : {}) } })
    }),
    (agent) => {
      const targets = allTargets(config.routes)
      return Effect.forEach(config.providers, (provider) => {
        const routed = targets.filter((target) => target.provider === provider.name).map((target) => target.model)
        return checkProvider(agent, provider, [...new Set([...routed, ...provider.models])], config)
      }, { concurrency: "unbounded" })
    },
    (agent) => Effect.promise(() => agent.close().catch(() => undefined))
  )

const print = (text: string) => Effect.sync(() => process.stdout.write(text))

const check = Effect.gen(function*() {
  const config = yield* loadSettings
  const routes = Object.entries(describeRoutes(config.routes)).map(([name, chain]) => `  ${name}: ${chain}`)
  yield* print(`config: ${config.configFile ?? "environment variables"}\nroutes:\n${routes.join("\n")}\n`)
  const reports = yield* checkProviders(config)
  const width = Math.max(...reports.map((r) => r.provider.length))
  for (const r of reports) {
    const url = loggableUrl(config.providers.find((p) => p.name === r.provider)!.baseUrl)
    yield* print(`${r.ok ? "ok    " : "FAILED"} ${r.provider.padEnd(width)}  ${url}  ${r.detail}\n`)
    for (const warning of r.warnings) yield* print(`       ${" ".repeat(width)}  warning: ${warning}\n`)
  }
  const failed = reports.filter((r) => !r.ok).length
  if (failed > 0) return yield* fail(`${failed} of ${reports.length} providers failed the check`)
  return 0
}).pipe(Effect.catch((message) => fail(message)))

export const main: CommandMain = () => check
