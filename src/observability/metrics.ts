/**
 * Metrics: every finished request's record feeds Effect `Metric`s (scraped as Prometheus text from GET /metrics)
 * and the dashboard's summary (GET /v1/metrics, see `summary.ts`).
 *
 * **Prometheus series** (names as scraped; durations in ms; `none` where a request never got that far)
 *
 * - `ccproxy_requests_total{route,status,client_model,upstream_model,stream}`, and
 *   `ccproxy_request_errors_total` with the same labels (status ≥ 400, or a stream that failed after its 200)
 * - `ccproxy_request_duration_ms` and `ccproxy_time_to_first_token_ms`: histograms `{route,upstream_model,stream}`
 * - `ccproxy_tokens_total{kind,model}`: kind input | output | cache_read | cache_creation | reasoning; model is the
 *   upstream model
 * - `ccproxy_cost_usd_total{model}` (known prices only) and `ccproxy_cost_unknown_requests_total{model}` (usage
 *   without a price)
 * - `ccproxy_cache_requests_total{outcome}`: hit | miss | bypass
 * - `ccproxy_upstream_retries_total{upstream}`
 * - `ccproxy_rate_limit_rejections_total{upstream}` and `ccproxy_upstream_attempt_duration_ms{upstream,outcome}`,
 *   fed by `rateLimitRejected` and `attemptFinished`
 * - `ccproxy_fallbacks_total{upstream,reason}`: a fallback chain's target that failed (reason: the upstream's status,
 *   or what went wrong: UpstreamUnreachable, UpstreamTimeout, Overloaded…), fed by `fallbackTaken`
 * - `ccproxy_open_streams`, fed by `streamOpened` / `streamClosed`
 * - read at scrape time (`observeProtection`): `ccproxy_limiter_in_use`, `ccproxy_limiter_waiting`,
 *   `ccproxy_limiter_limit` and `ccproxy_circuit_state` (0 closed, 1 half-open, 2 open), each `{upstream}`
 *
 * **Why it is cheap**
 *
 * `Metric.withAttributes` on every update would rebuild a series key (a sorted JSON string) per call. Instead each
 * distinct set of labels gets its own metric objects, made once and kept in a map, and `record` updates them with
 * `updateUnsafe` in one step against the fiber's context (so a test's `MetricRegistry` is honoured).
 *
 * **Cardinality**
 *
 * Clients choose model names, so at most `MAX_LABEL_VALUES` distinct client and upstream models get series of
 * their own; the rest are labelled `other`.
 *
 * **Reset**
 *
 * `reset` clears the dashboard's summary only. Prometheus counters stay monotonic, as `rate()` expects: a scraper
 * sees a reset as the process restarting, and nothing else could tell the two apart.
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import type { CircuitStatus } from "../protection/breaker.ts"
import type { ConcurrencyStats } from "../protection/concurrency.ts"
import type { RequestRecord, RequestSinkShape } from "./record.ts"
import { hasUsage, isError, Summary, type SummaryView } from "./summary.ts"

/** Distinct client (and upstream) model names with series of their own. */
export const MAX_LABEL_VALUES = 100
const NONE = "none"
const OTHER = "other"

/** LLM latencies: a cached reply in tens of ms, a long reasoning stream in minutes. */
export const LATENCY_BOUNDARIES_MS: ReadonlyArray<number> = Metric.boundariesFromIterable([
  50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 20_000, 30_000, 60_000, 120_000, 300_000, 600_000
])

type Labels = Record<string, string>

const counter = (name: string, description: string, attributes?: Labels) =>
  Metric.counter(name, { description, incremental: true, attributes })

const gauge = (name: string, description: string, attributes?: Labels) => Metric.gauge(name, { description, attributes })

const histogram = (name: string, description: string, attributes: Labels) =>
  Metric.histogram(name, { description, attributes, boundaries: LATENCY_BOUNDARIES_MS })

/** Made once per key; the maps stay small because every label in them is bounded. */
const memo = <A>(make: (key: string) => A) => {
  const made = new Map<string, A>()
  return (key: string): A => {
    let found = made.get(key)
    if (found === undefined) {
      found = make(key)
      made.set(key, found)
    }
    return found
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Series fed from outside the request record: open streams, rate-limit refusals, upstream attempts

const openStreams = gauge("ccproxy_open_streams", "Streamed replies in progress")

/** A streamed reply started; pair with `streamClosed` (e.g. in `acquireRelease`). */
export const streamOpened: Effect.Effect<void> = Metric.modify(openStreams, 1)
export const streamClosed: Effect.Effect<void> = Metric.modify(openStreams, -1)

const rateLimitRejections = memo((upstream) =>
  counter("ccproxy_rate_limit_rejections_total", "Requests refused by an upstream's rate limit", { upstream }))

/** A request refused by a rate limit on `upstream`. */
export const rateLimitRejected = (upstream: string): Effect.Effect<void> =>
  Metric.update(rateLimitRejections(upstream), 1)

const fallbacks = memo((key) => {
  const [upstream, reason] = key.split("\u0000") as [string, string]
  return counter("ccproxy_fallbacks_total", "Targets of a fallback chain that failed before anything reached the client", { upstream, reason })
})

/** A target of a fallback chain on `upstream` failed for `reason` (both bounded: configured names, statuses, tags). */
export const fallbackTaken = (upstream: string, reason: string): Effect.Effect<void> =>
  Metric.update(fallbacks(`${upstream}\u0000${reason}`), 1)

/** How one upstream attempt ended; a small fixed set, since each value is a series. */
export type AttemptOutcome = "success" | "client_error" | "rate_limited" | "server_error" | "timeout" | "unreachable" | "interrupted"

const attemptDurations = memo((key) => {
  const [upstream, outcome] = key.split("\u0000") as [string, string]
  return histogram("ccproxy_upstream_attempt_duration_ms", "Duration of one upstream attempt (retries are attempts)", {
    upstream,
    outcome
  })
})

export const attemptFinished = (upstream: string, ms: number, outcome: AttemptOutcome): Effect.Effect<void> =>
  Metric.update(attemptDurations(`${upstream}\u0000${outcome}`), ms)

// ---------------------------------------------------------------------------------------------------------------
// Gauges read at scrape time

const limiterInUse = memo((upstream) => gauge("ccproxy_limiter_in_use", "Concurrency permits held", { upstream }))
const limiterWaiting = memo((upstream) => gauge("ccproxy_limiter_waiting", "Requests queued for a permit", { upstream }))
const limiterLimit = memo((upstream) => gauge("ccproxy_limiter_limit", "Concurrency permits in all", { upstream }))
const circuitState = memo((upstream) =>
  gauge("ccproxy_circuit_state", "Circuit breaker state: 0 closed, 1 half-open, 2 open", { upstream }))

const CIRCUIT_VALUE: Record<CircuitStatus["circuit"], number> = { closed: 0, half_open: 1, open: 2 }

/** Sets the protection gauges from their services' current state; run it just before formatting a scrape. */
export const observeProtection = (
  permits: ReadonlyArray<ConcurrencyStats & { readonly upstream: string }>,
  circuits: ReadonlyArray<CircuitStatus>
): Effect.Effect<void> =>
  Effect.withFiber((fiber) => {
    for (const p of permits) {
      limiterInUse(p.upstream).updateUnsafe(p.inUse, fiber.context)
      limiterWaiting(p.upstream).updateUnsafe(p.waiting, fiber.context)
      limiterLimit(p.upstream).updateUnsafe(p.limit, fiber.context)
    }
    for (const c of circuits) circuitState(c.name).updateUnsafe(CIRCUIT_VALUE[c.circuit], fiber.context)
    return Effect.void
  })

// ---------------------------------------------------------------------------------------------------------------
// Series fed by request records

const cacheOutcomes = {
  hit: counter("ccproxy_cache_requests_total", "Response cache lookups by outcome", { outcome: "hit" }),
  miss: counter("ccproxy_cache_requests_total", "Response cache lookups by outcome", { outcome: "miss" }),
  bypass: counter("ccproxy_cache_requests_total", "Response cache lookups by outcome", { outcome: "bypass" }),
  shared: counter("ccproxy_cache_requests_total", "Response cache lookups by outcome", { outcome: "shared" })
}

type Counter = Metric.Counter<number>

/** The series of one (route, client model, upstream model, upstream, stream) combination. */
interface RequestSeries {
  readonly labels: Labels
  readonly duration: Metric.Histogram<number>
  readonly ttft: Metric.Histogram<number>
  readonly input: Counter
  readonly output: Counter
  readonly cacheRead: Counter
  readonly cacheCreation: Counter
  readonly reasoning: Counter
  readonly cost: Counter
  readonly unknownCost: Counter
  readonly retries: Counter
  readonly byStatus: Map<number, { readonly requests: Counter; readonly errors: Counter }>
}

const tokens = (kind: string, model: string) =>
  counter("ccproxy_tokens_total", "Tokens by kind (reasoning and cache_read are part of output and input)", { kind, model })

const makeSeries = (route: string, clientModel: string, upstreamModel: string, upstream: string, stream: string): RequestSeries => {
  const timing = { route, upstream_model: upstreamModel, stream }
  return {
    labels: { route, client_model: clientModel, upstream_model: upstreamModel, stream },
    duration: histogram("ccproxy_request_duration_ms", "Request duration, to the last byte of a stream", timing),
    ttft: histogram("ccproxy_time_to_first_token_ms", "Time to the first content delta, or to the whole message", timing),
    input: tokens("input", upstreamModel),
    output: tokens("output", upstreamModel),
    cacheRead: tokens("cache_read", upstreamModel),
    cacheCreation: tokens("cache_creation", upstreamModel),
    reasoning: tokens("reasoning", upstreamModel),
    cost: counter("ccproxy_cost_usd_total", "Cost in USD of requests with a known price", { model: upstreamModel }),
    unknownCost: counter("ccproxy_cost_unknown_requests_total", "Requests with usage but no known price", {
      model: upstreamModel
    }),
    retries: counter("ccproxy_upstream_retries_total", "Upstream attempts beyond the first", { upstream }),
    byStatus: new Map()
  }
}

/** Keeps the first `max` distinct values; later ones read as `other`. */
const capped = (max: number) => {
  const seen = new Set<string>()
  return (value: string): string => {
    if (seen.has(value)) return value
    if (seen.size >= max) return OTHER
    seen.add(value)
    return value
  }
}

/** The request-record side of the Prometheus metrics; its caches belong to one `Metrics` service. */
const makeInstruments = () => {
  const clientModels = capped(MAX_LABEL_VALUES)
  const upstreamModels = capped(MAX_LABEL_VALUES)
  const series = new Map<string, RequestSeries>()

  const seriesOf = (record: RequestRecord): RequestSeries => {
    const client = clientModels(record.clientModel)
    const upstreamModel = record.upstreamModel === null ? NONE : upstreamModels(record.upstreamModel)
    const upstream = record.upstream ?? NONE
    const stream = record.stream ? "true" : "false"
    // Keyed by the capped labels, so past the caps new model names find the `other` series instead of new ones.
    const key = `${record.route}\u0000${client}\u0000${upstreamModel}\u0000${upstream}\u0000${stream}`
    let found = series.get(key)
    if (found === undefined) {
      found = makeSeries(record.route, client, upstreamModel, upstream, stream)
      series.set(key, found)
    }
    return found
  }

  const statusOf = (s: RequestSeries, status: number) => {
    let found = s.byStatus.get(status)
    if (found === undefined) {
      const labels = { ...s.labels, status: String(status) }
      found = {
        requests: counter("ccproxy_requests_total", "Requests by route, status, models and stream", labels),
        errors: counter("ccproxy_request_errors_total", "Failed requests: status ≥ 400, or a stream that failed", labels)
      }
      s.byStatus.set(status, found)
    }
    return found
  }

  return (record: RequestRecord, context: Context.Context<never>): void => {
    const s = seriesOf(record)
    const status = statusOf(s, record.status)
    status.requests.updateUnsafe(1, context)
    if (isError(record)) status.errors.updateUnsafe(1, context)
    s.duration.updateUnsafe(record.durationMs, context)
    if (record.ttftMs !== null) s.ttft.updateUnsafe(record.ttftMs, context)
    if (record.inputTokens !== null) s.input.updateUnsafe(record.inputTokens, context)
    if (record.outputTokens !== null) s.output.updateUnsafe(record.outputTokens, context)
    if (record.cacheReadTokens) s.cacheRead.updateUnsafe(record.cacheReadTokens, context)
    if (record.cacheCreationTokens) s.cacheCreation.updateUnsafe(record.cacheCreationTokens, context)
    if (record.reasoningTokens) s.reasoning.updateUnsafe(record.reasoningTokens, context)
    if (record.costUsd !== null) s.cost.updateUnsafe(record.costUsd, context)
    else if (hasUsage(record)) s.unknownCost.updateUnsafe(1, context)
    if (record.retries > 0) s.retries.updateUnsafe(record.retries, context)
    if (record.cache !== null) cacheOutcomes[record.cache].updateUnsafe(1, context)
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The service

export interface MetricsSummary {
  readonly uptimeSeconds: number
  readonly view: SummaryView
}

export interface MetricsShape extends RequestSinkShape {
  /** The dashboard's figures since start or the last reset, as of the `Clock`'s now. */
  readonly summary: Effect.Effect<MetricsSummary>
  /** Clears the summary (not the Prometheus series; see the module comment). */
  readonly reset: Effect.Effect<void>
}

export const make: Effect.Effect<MetricsShape> = Effect.map(Clock.currentTimeMillis, (startedAt) => {
  const observe = makeInstruments()
  let summary = new Summary()
  return {
    record: (record) =>
      Effect.withFiber((fiber) => {
        // A sink must never fail the request it observes: a bug here is logged, not raised.
        try {
          observe(record, fiber.context)
          summary.add(record)
          return Effect.void
        } catch (cause) {
          return Effect.logError("metrics could not record a request", { request_id: record.id, cause: String(cause) })
        }
      }),
    summary: Effect.map(Clock.currentTimeMillis, (now) => ({
      uptimeSeconds: (now - startedAt) / 1000,
      view: summary.view(now)
    })),
    reset: Effect.sync(() => {
      summary = new Summary()
    })
  }
})

/** The metrics sink: add it to `RequestSinks`, and serve its routes (`http/metrics-routes.ts`). */
export class Metrics extends Context.Service<Metrics, MetricsShape>()("ccproxy/Metrics") {
  static readonly layer: Layer.Layer<Metrics> = Layer.effect(Metrics, make)
}

// Callers look for the cache's admin hooks here, beside the routes that use them; they live apart, not being metrics.
export { type CacheAdmin, type CacheAdminStats, CurrentCacheAdmin } from "./cache-admin.ts"
