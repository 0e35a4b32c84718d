/**
 * OpenTelemetry traces over OTLP/HTTP, through Effect's own exporter (`effect/observability/OtlpTracer`).
 *
 * When `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set:
 * - a server span per request, made by Effect's HTTP server (it reads an incoming W3C `traceparent`, or B3, as the
 *   span's parent, and ends the span when the response, a stream included, has been written);
 * - a span per pipeline stage and one for the core (`compose(…, traced)` in `pipeline/stage.ts`);
 * - a client span per upstream attempt, whose `traceparent` goes upstream (`upstream/Upstream.ts`);
 * - the request's outcome (models, status, tokens, cache) on the server span, from its `RequestRecord`
 *   (`annotateRequestSpan`).
 * Spans are batched and posted every `OTEL_BSP_SCHEDULE_DELAY` ms, and flushed when the layer's scope closes.
 *
 * Unset, `tracingLayer` is exactly what the proxy always had, `References.TracerEnabled` false: no span is made, the
 * HTTP server takes its untraced single-frame path, and stages and upstream calls are composed without wrappers.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as References from "effect/References"
import * as Tracer from "effect/Tracer"
import * as Context from "effect/Context"
import * as FetchHttpClient from "effect/http/FetchHttpClient"
import * as HttpMiddleware from "effect/http/HttpMiddleware"
import type * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as OtlpSerialization from "effect/observability/OtlpSerialization"
import * as OtlpTracer from "effect/observability/OtlpTracer"
import { ConfigInvalid } from "../config/env.ts"
import type { RequestRecord, RequestSinkShape } from "./record.ts"
import type { TracingVariable } from "./tracing-variables.ts"
export { TRACING_VARIABLES, type TracingVariable } from "./tracing-variables.ts"

export type OtlpProtocol = "http/protobuf" | "http/json"

export interface TracingSettings {
  /** Where spans are posted: `<OTEL_EXPORTER_OTLP_ENDPOINT>/v1/traces`, or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as is. */
  readonly url: string
  /** `service.name` (OTEL_SERVICE_NAME, default "ccproxy"). */
  readonly serviceName: string
  /** Sent with every export; often an API key, so redacted. */
  readonly headers: Redacted.Redacted<Readonly<Record<string, string>>> | undefined
  readonly protocol: OtlpProtocol
  /** Milliseconds between exports (OTEL_BSP_SCHEDULE_DELAY). */
  readonly exportIntervalMs: number
}

type Raw = Readonly<Record<string, string | undefined>>

const text = (raw: Raw, name: TracingVariable): string | undefined => {
  const value = raw[name]?.trim()
  return value === undefined || value === "" ? undefined : value
}

const httpUrl = (name: TracingVariable, value: string): URL => {
  try {
    const url = new URL(value)
    if ((url.protocol === "http:" || url.protocol === "https:") && url.username === "" && url.password === "") return url
    if (url.username !== "" || url.password !== "") {
      // Not echoed: it holds a password. fetch refuses such URLs anyway.
      throw new ConfigInvalid({ variable: name, problem: "must not carry credentials; send them with OTEL_EXPORTER_OTLP_HEADERS" })
    }
  } catch (error) {
    if (error instanceof ConfigInvalid) throw error
  }
  throw new ConfigInvalid({ variable: name, problem: `must be an http(s) URL such as "http://localhost:4318" (got "${value}")` })
}

/** The spec's rule: the signal's URL is used as given; the base URL gets `v1/traces` appended to its path. */
const tracesUrl = (raw: Raw): string | undefined => {
  const signal = text(raw, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
  if (signal !== undefined) return httpUrl("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", signal).href
  const base = text(raw, "OTEL_EXPORTER_OTLP_ENDPOINT")
  if (base === undefined) return undefined
  const url = httpUrl("OTEL_EXPORTER_OTLP_ENDPOINT", base)
  url.pathname = `${url.pathname.endsWith("/") ? url.pathname : `${url.pathname}/`}v1/traces`
  return url.href
}

/** `key=value,key=value`, values percent-encoded (W3C baggage style). Values are never echoed: they are secrets. */
const headers = (raw: Raw, name: TracingVariable): Record<string, string> | undefined => {
  const value = text(raw, name)
  if (value === undefined) return undefined
  const out: Record<string, string> = {}
  const entries = value.split(",")
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!.trim()
    if (entry === "") continue
    const eq = entry.indexOf("=")
    const key = eq < 0 ? "" : entry.slice(0, eq).trim().toLowerCase()
    let decoded: string | undefined
    try {
      decoded = eq < 0 ? undefined : decodeURIComponent(entry.slice(eq + 1).trim())
    } catch {
      decoded = undefined
    }
    if (!/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(key) || decoded === undefined) {
      throw new ConfigInvalid({
        variable: name,
        problem: `must be a comma-separated list of name=value pairs, values URL-encoded (entry ${i + 1} is not)`
      })
    }
    out[key] = decoded
  }
  return out
}

const protocol = (raw: Raw): OtlpProtocol => {
  const name: TracingVariable = text(raw, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") !== undefined
    ? "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
    : "OTEL_EXPORTER_OTLP_PROTOCOL"
  const value = text(raw, name)?.toLowerCase()
  if (value === undefined || value === "http/protobuf") return "http/protobuf"
  if (value === "http/json") return "http/json"
  throw new ConfigInvalid({
    variable: name,
    problem: `must be "http/protobuf" or "http/json" (got "${raw[name]}"; gRPC is not supported, use the collector's HTTP port)`
  })
}

const DEFAULT_EXPORT_INTERVAL_MS = 5_000

const exportInterval = (raw: Raw): number => {
  const value = text(raw, "OTEL_BSP_SCHEDULE_DELAY")
  if (value === undefined) return DEFAULT_EXPORT_INTERVAL_MS
  const n = Number(value)
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) {
    throw new ConfigInvalid({ variable: "OTEL_BSP_SCHEDULE_DELAY", problem: `must be a whole number of milliseconds, at least 1 (got "${value}")` })
  }
  return n
}

const disabled = (raw: Raw): boolean => {
  const sdk = text(raw, "OTEL_SDK_DISABLED")?.toLowerCase()
  if (sdk !== undefined && sdk !== "true" && sdk !== "false") {
    throw new ConfigInvalid({ variable: "OTEL_SDK_DISABLED", problem: `must be "true" or "false" (got "${sdk}")` })
  }
  const exporters = (text(raw, "OTEL_TRACES_EXPORTER") ?? "otlp").toLowerCase().split(",").map((s) => s.trim())
  if (exporters.some((e) => e !== "otlp" && e !== "none" && e !== "")) {
    throw new ConfigInvalid({
      variable: "OTEL_TRACES_EXPORTER",
      problem: `must be "otlp" or "none" (got "${raw.OTEL_TRACES_EXPORTER}")`
    })
  }
  return sdk === "true" || !exporters.includes("otlp")
}

/**
 * Checks the tracing variables; `undefined` when tracing is off (no endpoint, or turned off). Throws `ConfigInvalid`
 * naming the first bad variable.
 */
export const parseTracing = (raw: Raw): TracingSettings | undefined => {
  const url = tracesUrl(raw)
  if (url === undefined || disabled(raw)) return undefined
  const extra = headers(raw, "OTEL_EXPORTER_OTLP_TRACES_HEADERS") ?? headers(raw, "OTEL_EXPORTER_OTLP_HEADERS")
  return {
    url,
    serviceName: text(raw, "OTEL_SERVICE_NAME") ?? "ccproxy",
    headers: extra === undefined ? undefined : Redacted.make(extra),
    protocol: protocol(raw),
    exportIntervalMs: exportInterval(raw)
  }
}

/** Our routes, for span names; anything else is named by its method alone (OpenTelemetry's rule: no raw paths). */
const KNOWN_ROUTES = new Set(["/", "/health", "/v1/messages", "/v1/messages/count_tokens", "/v1/models", "/metrics", "/v1/metrics", "/dashboard"])

const routeOf = (url: string): string | undefined => {
  const q = url.indexOf("?")
  let path = q < 0 ? url : url.slice(0, q)
  if (path.length > 1) path = path.replace(/\/+$/, "")
  if (KNOWN_ROUTES.has(path)) return path
  return path.startsWith("/v1/models/") && path.indexOf("/", 11) < 0 ? "/v1/models/:id" : undefined
}

/** `POST /v1/messages`: the server span's name. */
export const serverSpanName = (request: HttpServerRequest.HttpServerRequest): string => {
  const route = routeOf(request.url)
  return route === undefined ? request.method : `${request.method} ${route}`
}

/** Health checks and metric scrapes come every few seconds and say nothing: they get no span. */
const isProbe = (request: HttpServerRequest.HttpServerRequest): boolean => {
  if (request.method !== "GET" && request.method !== "HEAD") return false
  const route = routeOf(request.url)
  return route === "/" || route === "/health" || route === "/metrics" || route === "/v1/metrics"
}

/**
 * The tracer: an OTLP exporter when configured; else `References.TracerEnabled` false, as the proxy had before, so
 * nothing at all is traced. Provide it under the whole proxy (the HTTP server, the pipeline and the upstream read it).
 * The exporter has its own fetch-based HTTP client (never the upstream's Agent) and flushes when the scope closes.
 */
export const tracingLayer = (settings: TracingSettings | undefined): Layer.Layer<never> => {
  if (settings === undefined) return Layer.succeed(References.TracerEnabled, false)
  const exporter = OtlpTracer.layer({
    url: settings.url,
    resource: { serviceName: settings.serviceName },
    headers: settings.headers === undefined ? undefined : Redacted.value(settings.headers),
    exportInterval: settings.exportIntervalMs,
    shutdownTimeout: "3 seconds"
  }).pipe(
    Layer.provide(settings.protocol === "http/json" ? OtlpSerialization.layerJson : OtlpSerialization.layerProtobuf),
    Layer.provide(FetchHttpClient.layer)
  )
  return Layer.mergeAll(
    exporter,
    Layer.succeed(References.TracerEnabled, true),
    Layer.succeed(HttpMiddleware.SpanNameGenerator, serverSpanName),
    Layer.succeed(HttpMiddleware.TracerDisabledWhen, isProbe)
  )
}

/**
 * Whether spans are being recorded: the tracer is on and is a real one (the native tracer has no backend). Read once,
 * when the pipeline and the upstream are built, to choose between their traced and their plain composition.
 */
export const tracingActive: Effect.Effect<boolean> = Effect.map(
  Effect.all([References.TracerEnabled, Tracer.Tracer]),
  ([enabled, tracer]) => enabled && tracer !== Tracer.nativeTracer
)

/** W3C `traceparent` for a call made inside `span`: the callee's parent is that span. */
export const traceparent = (span: Tracer.Span): string =>
  `00-${span.traceId.padStart(32, "0")}-${span.spanId}-${span.sampled ? "01" : "00"}`

/**
 * Runs one upstream attempt in a client span; `run` gets the span (for the response status) and the `traceparent`
 * to send. Only called when tracing is active: the plain path never comes here.
 */
export const attemptSpan = <A, E, R>(
  attributes: Record<string, unknown>,
  run: (span: Tracer.Span, traceparent: string) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> => {
  let attempts = 0
  return Effect.useSpan("upstream.attempt", { kind: "client", attributes }, (span) => {
    if (attempts > 0) span.attribute("http.request.resend_count", attempts)
    attempts++
    return run(span, traceparent(span))
  })
}

/** The request's server span: the innermost `server` span around the current one (stage spans sit in between). */
export const requestSpanOf = (span: Tracer.AnySpan | undefined): Tracer.Span | undefined => {
  let current = span
  while (current !== undefined && current._tag === "Span") {
    if (current.kind === "server") return current
    current = Option.getOrUndefined(current.parent)
  }
  return undefined
}

const set = (span: Tracer.Span, key: string, value: unknown) => {
  if (value !== null && value !== undefined) span.attribute(key, value)
}

/** Puts the request's outcome on `span` (OpenTelemetry's gen_ai names where there is one, `ccproxy.*` otherwise). */
export const annotateSpan = (span: Tracer.Span, record: RequestRecord): void => {
  if (!span.sampled) return
  set(span, "ccproxy.request_id", record.id)
  set(span, "gen_ai.operation.name", "chat")
  set(span, "gen_ai.request.model", record.clientModel)
  set(span, "gen_ai.response.model", record.upstreamModel)
  set(span, "ccproxy.upstream", record.upstream)
  set(span, "ccproxy.stream", record.stream)
  set(span, "ccproxy.status", record.status)
  set(span, "gen_ai.usage.input_tokens", record.inputTokens)
  set(span, "gen_ai.usage.output_tokens", record.outputTokens)
  set(span, "gen_ai.usage.cache_read.input_tokens", record.cacheReadTokens)
  set(span, "gen_ai.usage.cache_creation.input_tokens", record.cacheCreationTokens)
  set(span, "ccproxy.usage.reasoning_tokens", record.reasoningTokens)
  set(span, "ccproxy.cache", record.cache)
  set(span, "ccproxy.retries", record.retries)
  set(span, "ccproxy.ttft_ms", record.ttftMs)
  set(span, "ccproxy.cost_usd", record.costUsd)
  if (record.stopReason !== null) span.attribute("gen_ai.response.finish_reasons", [record.stopReason])
  if (record.error !== null) {
    const colon = record.error.indexOf(":")
    span.attribute("error.type", colon < 0 ? record.error : record.error.slice(0, colon))
    span.attribute("ccproxy.error", record.error)
  }
}

/**
 * Puts the request's outcome on its server span, if there is one (tracing on, inside the request). Call it where the
 * record is made, in the request's fiber: a stream's record is made before the stream's last byte is written, so its
 * span is still open. Without tracing there is no span and this does nothing.
 */
export const annotateRequestSpan = (record: RequestRecord): Effect.Effect<void> =>
  Effect.withFiber((fiber) => {
    const span = requestSpanOf(Context.getOrUndefined(fiber.context, Tracer.ParentSpan))
    if (span !== undefined) annotateSpan(span, record)
    return Effect.void
  })

/** `annotateRequestSpan` as a request sink: add it to the sinks only when tracing is on, and it costs nothing off. */
export const tracingSink: RequestSinkShape = { record: annotateRequestSpan }
