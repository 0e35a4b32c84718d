/**
 * Talking to a running proxy from the command line: where it is (HOST and PORT as configured), the key to send
 * (the first of PROXY_API_KEYS, since every route but /health may need one), and what answers there.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type { ProxyConfigShape } from "../config.ts"

export interface ProxyTarget {
  /** e.g. `http://127.0.0.1:11434`, no trailing slash. */
  readonly url: string
  /** A key of PROXY_API_KEYS, when set. */
  readonly key: Redacted.Redacted<string> | undefined
}

/** A wildcard listen address is reached over loopback; an IPv6 literal needs brackets in a URL. */
const connectHost = (host: string): string => {
  const bare = host.replace(/^\[(.*)\]$/, "$1")
  if (bare === "" || bare === "0.0.0.0") return "127.0.0.1"
  if (bare === "::") return "[::1]"
  return bare.includes(":") ? `[${bare}]` : bare
}

export const proxyTarget = (config: ProxyConfigShape, port = config.port): ProxyTarget => ({
  url: `http://${connectHost(config.host)}:${port}`,
  key: config.inbound.apiKeys[0]
})

/** GET /health as `status` reads it: open structs, so a newer proxy's extra fields do no harm. */
export const Health = Schema.Struct({
  status: Schema.String,
  upstreams: Schema.Array(Schema.Struct({
    name: Schema.String,
    circuit: Schema.String,
    in_flight: Schema.Number,
    queued: Schema.Number,
    max_concurrent: Schema.Number,
    rate_limits: Schema.optionalKey(Schema.Struct({
      rpm: Schema.NullOr(Schema.Struct({ configured: Schema.Number, effective: Schema.Number })),
      tpm: Schema.NullOr(Schema.Struct({ configured: Schema.Number, effective: Schema.Number })),
      cool_down_ms: Schema.Number
    }))
  }))
})
export type Health = typeof Health.Type

const decodeHealth = Schema.decodeUnknownOption(Health)

export interface Reply {
  readonly status: number
  readonly body: unknown
}

/** One GET with a deadline; fails with a reason when nothing answers (refused, unreachable, too slow). */
export const getJson = (target: ProxyTarget, path: string, timeoutMs: number): Effect.Effect<Reply, string> =>
  Effect.tryPromise({
    try: async (signal) => {
      const headers: Record<string, string> = { accept: "application/json" }
      if (target.key !== undefined) headers["x-api-key"] = Redacted.value(target.key)
      const response = await fetch(`${target.url}${path}`, {
        headers,
        signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)])
      })
      const text = await response.text()
      let body: unknown = text
      try {
        body = JSON.parse(text)
      } catch {
        // not JSON: kept as text, so the caller can tell a foreign server apart
      }
      return { status: response.status, body }
    },
    catch: (error) => describeFetchError(error)
  })

const describeFetchError = (error: unknown): string => {
  const cause = (error as { cause?: { code?: string } })?.cause
  if (cause?.code === "ECONNREFUSED") return "connection refused"
  if ((error as { name?: string })?.name === "TimeoutError") return "no answer in time"
  return cause?.code ?? (error instanceof Error ? error.message : String(error))
}

export type Probe =
  | { readonly _tag: "Proxy"; readonly health: Health; readonly raw: unknown }
  /** Nothing listens (or answers in time). */
  | { readonly _tag: "None"; readonly reason: string }
  /** Something answers, but not as a ccproxy: starting one on that port would fail. */
  | { readonly _tag: "Other"; readonly reason: string }

/** Whether a ccproxy answers at the target: its GET /health needs no key and says which upstreams it has. */
export const probe = (target: ProxyTarget, timeoutMs = 2_000): Effect.Effect<Probe> =>
  getJson(target, "/health", timeoutMs).pipe(
    Effect.map((reply): Probe => {
      const health = reply.status === 200 ? decodeHealth(reply.body) : Option.none()
      return Option.isSome(health)
        ? { _tag: "Proxy", health: health.value, raw: reply.body }
        : { _tag: "Other", reason: `something else answers at ${target.url} (GET /health: HTTP ${reply.status})` }
    }),
    Effect.catch((reason) => Effect.succeed<Probe>({ _tag: "None", reason }))
  )
