/**
 * The observability routes: GET /metrics (Prometheus text), GET /v1/metrics (the dashboard's JSON),
 * POST /v1/metrics/reset, GET /v1/cache/stats and POST /v1/cache/clear. The shape of GET /v1/metrics is a contract
 * with the dashboard: `MetricsJson` below, keys and order included.
 *
 * With WORKERS > 1, GET /metrics is every worker's series (`cluster/metrics.ts`); the JSON routes are the answering
 * worker's own, and say which (`worker`): percentiles, timelines and recent requests cannot be added up.
 */
import * as Effect from "effect/Effect"
import type * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import { PrometheusMetrics } from "effect/observability"
import type * as Scope from "effect/Scope"
import { currentWorker } from "../cluster/identity.ts"
import { ClusterScrape } from "../cluster/metrics.ts"
import type { ProxyConfig } from "../config.ts"
import { type CacheAdminStats, CurrentCacheAdmin } from "../observability/cache-admin.ts"
import { Metrics, observeProtection } from "../observability/metrics.ts"
import type { SummaryView } from "../observability/summary.ts"
import type { UpstreamBreaker } from "../protection/breaker.ts"
import type { ConcurrencyLimiter } from "../protection/concurrency.ts"
import type { UpstreamRateLimits } from "../protection/rate-limits.ts"
import { makeUpstreamStatus } from "./upstream-status.ts"

export interface CacheJson {
  readonly enabled: boolean
  readonly hits: number
  readonly misses: number
  readonly bypass: number
  /** hits / (hits + misses); null before the first lookup. */
  readonly hit_rate: number | null
  readonly entries: number
  readonly bytes: number
  readonly max_bytes: number
}

export interface UpstreamJson {
  readonly name: string
  readonly circuit: "closed" | "open" | "half_open"
  readonly in_flight: number
  readonly queued: number
  readonly max_concurrent: number
}

/** GET /v1/metrics. Everything but `uptime_seconds`, `upstreams` and the cache's size is since start or reset. */
export interface MetricsJson {
  readonly uptime_seconds: number
  readonly requests: SummaryView["requests"]
  readonly latency_ms: SummaryView["latency_ms"]
  readonly ttft_ms: SummaryView["ttft_ms"]
  readonly by_model: SummaryView["by_model"]
  readonly cost_usd: SummaryView["cost_usd"]
  readonly cache: CacheJson
  readonly upstreams: ReadonlyArray<UpstreamJson>
  readonly timeline: SummaryView["timeline"]
  readonly recent: SummaryView["recent"]
  /** With WORKERS > 1 only: the worker whose figures these are (`id` 1..`of`); /metrics has them all. */
  readonly worker?: { readonly id: number; readonly of: number }
}

export interface MetricsRoute {
  readonly method: "GET" | "POST"
  readonly path: HttpRouter.PathInput
  readonly handler: Effect.Effect<HttpServerResponse.HttpServerResponse>
}

const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

const json = (body: unknown) => HttpServerResponse.jsonUnsafe(body)

const cacheJson = (counts: SummaryView["cache"], stats: CacheAdminStats): CacheJson => ({
  enabled: stats.enabled,
  hits: counts.hits,
  misses: counts.misses,
  bypass: counts.bypass,
  hit_rate: counts.hit_rate,
  entries: stats.entries,
  bytes: stats.bytes,
  max_bytes: stats.maxBytes
})

/** The handlers, built once from the services; `CurrentCacheAdmin` is read here, when the routes are built. */
export const makeMetricsHandlers = Effect.gen(function*() {
  const metrics = yield* Metrics
  const cache = yield* CurrentCacheAdmin
  const { protection, upstreams: statuses } = yield* makeUpstreamStatus

  const upstreams = Effect.map(statuses, (all) =>
    all.map((u): UpstreamJson => ({
      name: u.name,
      circuit: u.circuit,
      in_flight: u.inFlight,
      queued: u.queued,
      max_concurrent: u.maxConcurrent
    })))

  const local = protection.pipe(
    Effect.flatMap(([permits, circuits]) => observeProtection(permits, circuits)),
    // Names already carry `ccproxy_`; a prefix here would double it.
    Effect.andThen(PrometheusMetrics.format())
  )
  // In a cluster, the other workers collect this one's series through `local`; alone, `gather` is `local` itself.
  const scrape = yield* ClusterScrape
  yield* scrape.serveLocal(local)
  const prometheus = Effect.map(
    scrape.gather(local),
    (body) => HttpServerResponse.text(body, { contentType: PROMETHEUS_CONTENT_TYPE })
  )
  const worker = currentWorker()

  const summary = Effect.map(
    Effect.all([metrics.summary, cache.stats, upstreams]),
    ([{ uptimeSeconds, view }, stats, upstreams]): HttpServerResponse.HttpServerResponse =>
      json({
        uptime_seconds: uptimeSeconds,
        requests: view.requests,
        latency_ms: view.latency_ms,
        ttft_ms: view.ttft_ms,
        by_model: view.by_model,
        cost_usd: view.cost_usd,
        cache: cacheJson(view.cache, stats),
        upstreams,
        timeline: view.timeline,
        recent: view.recent,
        ...(worker === undefined ? {} : { worker: { id: worker.slot, of: worker.workers } })
      } satisfies MetricsJson)
  )

  const cacheStats = Effect.map(
    Effect.all([metrics.summary, cache.stats]),
    ([{ view }, stats]) => json(cacheJson(view.cache, stats))
  )

  return {
    prometheus,
    summary,
    reset: Effect.as(metrics.reset, json({ status: "metrics_reset" })),
    cacheStats,
    cacheClear: Effect.as(cache.clear, json({ status: "caches_cleared" }))
  }
})

/** The routes, for the server's route list. */
export const metricsRoutes: Effect.Effect<
  ReadonlyArray<MetricsRoute>,
  never,
  Metrics | ConcurrencyLimiter | UpstreamBreaker | UpstreamRateLimits | ProxyConfig | Scope.Scope
> = Effect.map(makeMetricsHandlers, (h) => [
  { method: "GET", path: "/metrics", handler: h.prometheus },
  { method: "GET", path: "/v1/metrics", handler: h.summary },
  { method: "POST", path: "/v1/metrics/reset", handler: h.reset },
  { method: "GET", path: "/v1/cache/stats", handler: h.cacheStats },
  { method: "POST", path: "/v1/cache/clear", handler: h.cacheClear }
])
