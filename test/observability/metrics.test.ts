/**
 * Metrics: records in, Prometheus text and the dashboard's JSON out. Every test gets its own `MetricRegistry`, so
 * counts never leak between tests.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer, Metric, Scope } from "effect"
import type * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import { TestClock } from "effect/testing"
import { parseConfig, ProxyConfig } from "../../src/config.ts"
import { UpstreamFailure, type ProxyError } from "../../src/errors.ts"
import { makeMetricsHandlers, type MetricsJson, metricsRoutes } from "../../src/http/metrics-routes.ts"
import type { RequestInfo } from "../../src/http/server.ts"
import { type CacheAdmin, CurrentCacheAdmin } from "../../src/observability/cache-admin.ts"
import {
  attemptFinished,
  MAX_LABEL_VALUES,
  Metrics,
  rateLimitRejected,
  streamClosed,
  streamOpened
} from "../../src/observability/metrics.ts"
import { LatencySketch } from "../../src/observability/percentiles.ts"
import type { RequestRecord } from "../../src/observability/record.ts"
import { UpstreamBreaker } from "../../src/protection/breaker.ts"
import { ConcurrencyLimiter } from "../../src/protection/concurrency.ts"
import { UpstreamRateLimits } from "../../src/protection/rate-limits.ts"

const config = parseConfig({ OPENAI_API_KEY: "sk-test", OPENAI_BASE_URL: "https://api.openai.com/v1" })

const services = Layer.mergeAll(
  Metrics.layer,
  ConcurrencyLimiter.layer(config.protection),
  UpstreamBreaker.layerMemory({ ...config.protection, failureThreshold: 1 }),
  UpstreamRateLimits.layerMemory(config.protection),
  ProxyConfig.make(config)
)

/** The services, fresh, over a registry of this test's own. */
const isolated = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  effect.pipe(Effect.provide(Layer.fresh(services)), Effect.provideService(Metric.MetricRegistry, new Map()))

const T0 = Date.parse("2026-11-30T23:10:30.000Z")

const rec = (overrides: Partial<RequestRecord> = {}): RequestRecord => ({
  startedAt: T0,
  id: "req_1",
  route: "messages",
  clientModel: "claude-sonnet-4-6",
  upstream: "openai",
  upstreamModel: "gpt-4.1",
  routedBy: "default",
  failedOver: [],
  stream: true,
  status: 200,
  durationMs: 120,
  ttftMs: 80,
  inputTokens: 1000,
  outputTokens: 200,
  cacheReadTokens: 0,
  cacheCreationTokens: null,
  reasoningTokens: 0,
  costUsd: 0.01,
  cache: null,
  retries: 0,
  stopReason: "end_turn",
  clientKey: null,
  error: null,
  ...overrides
})

const feed = (...records: ReadonlyArray<RequestRecord>) =>
  Effect.flatMap(Effect.service(Metrics), (metrics) => Effect.forEach(records, metrics.record, { discard: true }))

const bodyText = (response: HttpServerResponse.HttpServerResponse) =>
  Effect.promise(() => HttpServerResponse.toWeb(response).text())

const handlers = makeMetricsHandlers

const scrape = Effect.flatMap(handlers, (h) => h.prometheus).pipe(Effect.flatMap(bodyText))

const summary = Effect.flatMap(handlers, (h) => h.summary).pipe(
  Effect.flatMap(bodyText),
  Effect.map((text) => JSON.parse(text) as MetricsJson)
)

interface Sample {
  readonly name: string
  readonly labels: Record<string, string>
  readonly value: number
}

/** The Prometheus text format's sample lines (comments aside). */
const parse = (text: string): Array<Sample> =>
  text.split("\n").filter((line) => line !== "" && !line.startsWith("#")).map((line) => {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (match === null) throw new Error(`not a sample line: ${line}`)
    const labels: Record<string, string> = {}
    for (const [, key, value] of (match[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[key!] = value!.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c))
    }
    return { name: match[1]!, labels, value: match[3] === "+Inf" ? Infinity : Number(match[3]) }
  })

/** The one sample with exactly these labels. */
const value = (samples: ReadonlyArray<Sample>, name: string, labels: Record<string, string> = {}): number | undefined => {
  const found = samples.filter((s) =>
    s.name === name &&
    Object.keys(s.labels).length === Object.keys(labels).length &&
    Object.entries(labels).every(([k, v]) => s.labels[k] === v)
  )
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} ${JSON.stringify(labels)}`)
  return found[0]?.value
}

const sonnet = { route: "messages", client_model: "claude-sonnet-4-6", upstream_model: "gpt-4.1", stream: "true" }

describe("GET /metrics", () => {
  it.effect("counts requests, errors, tokens, cost, cache outcomes and retries by their labels", () =>
    isolated(Effect.gen(function*() {
      yield* feed(
        rec({ cache: "miss", cacheReadTokens: 100 }),
        rec({ durationMs: 900, ttftMs: 300, cache: "hit" }),
        rec({ error: "api_error: stream broke", costUsd: null }),
        rec({
          clientModel: "claude-haiku-4-5",
          upstreamModel: "gpt-4.1-mini",
          stream: false,
          status: 529,
          ttftMs: null,
          inputTokens: null,
          outputTokens: null,
          costUsd: null,
          retries: 2,
          cache: "bypass"
        }),
        rec({ clientModel: "claude-opus-4-1", upstreamModel: "o3", costUsd: null, reasoningTokens: 50 }),
        rec({ status: 400, upstream: null, upstreamModel: null, inputTokens: null, outputTokens: null, costUsd: null })
      )
      const text = yield* scrape
      const samples = parse(text)

      expect(text).toContain("# TYPE ccproxy_requests_total counter")
      expect(text).toContain("# TYPE ccproxy_request_duration_ms histogram")
      expect(value(samples, "ccproxy_requests_total", { ...sonnet, status: "200" })).toBe(3)
      expect(value(samples, "ccproxy_request_errors_total", { ...sonnet, status: "200" })).toBe(1)
      const haiku = { route: "messages", client_model: "claude-haiku-4-5", upstream_model: "gpt-4.1-mini", stream: "false" }
      expect(value(samples, "ccproxy_requests_total", { ...haiku, status: "529" })).toBe(1)
      expect(value(samples, "ccproxy_request_errors_total", { ...haiku, status: "529" })).toBe(1)
      // Refused before routing: no upstream model.
      expect(value(samples, "ccproxy_requests_total", { ...sonnet, upstream_model: "none", status: "400" })).toBe(1)

      expect(value(samples, "ccproxy_tokens_total", { kind: "input", model: "gpt-4.1" })).toBe(3000)
      expect(value(samples, "ccproxy_tokens_total", { kind: "output", model: "gpt-4.1" })).toBe(600)
      expect(value(samples, "ccproxy_tokens_total", { kind: "cache_read", model: "gpt-4.1" })).toBe(100)
      expect(value(samples, "ccproxy_tokens_total", { kind: "reasoning", model: "o3" })).toBe(50)
      expect(value(samples, "ccproxy_cost_usd_total", { model: "gpt-4.1" })).toBeCloseTo(0.02, 10)
      // Usage without a price is unknown; a request without usage (the 529, the 400) cost nothing.
      expect(value(samples, "ccproxy_cost_unknown_requests_total", { model: "gpt-4.1" })).toBe(1)
      expect(value(samples, "ccproxy_cost_unknown_requests_total", { model: "o3" })).toBe(1)
      expect(value(samples, "ccproxy_cost_unknown_requests_total", { model: "gpt-4.1-mini" })).toBeUndefined()

      expect(value(samples, "ccproxy_cache_requests_total", { outcome: "hit" })).toBe(1)
      expect(value(samples, "ccproxy_cache_requests_total", { outcome: "miss" })).toBe(1)
      expect(value(samples, "ccproxy_cache_requests_total", { outcome: "bypass" })).toBe(1)
      expect(value(samples, "ccproxy_upstream_retries_total", { upstream: "openai" })).toBe(2)
    })))

  it.effect("duration and time-to-first-token are histograms with cumulative buckets from 50 ms to 10 min", () =>
    isolated(Effect.gen(function*() {
      yield* feed(
        rec({ durationMs: 120, ttftMs: 40 }),
        rec({ durationMs: 900, ttftMs: 300 }),
        rec({ durationMs: 700_000, ttftMs: null })
      )
      const samples = parse(yield* scrape)
      const labels = { route: "messages", upstream_model: "gpt-4.1", stream: "true" }
      const buckets = samples
        .filter((s) => s.name === "ccproxy_request_duration_ms_bucket")
        .map((s) => [s.labels.le, s.value])
      expect(buckets).toEqual([
        ["50", 0], ["100", 0], ["250", 1], ["500", 1], ["1000", 2], ["2500", 2], ["5000", 2], ["10000", 2],
        ["20000", 2], ["30000", 2], ["60000", 2], ["120000", 2], ["300000", 2], ["600000", 2], ["+Inf", 3]
      ])
      expect(value(samples, "ccproxy_request_duration_ms_sum", labels)).toBe(701_020)
      expect(value(samples, "ccproxy_request_duration_ms_count", labels)).toBe(3)
      expect(value(samples, "ccproxy_time_to_first_token_ms_bucket", { ...labels, le: "50" })).toBe(1)
      expect(value(samples, "ccproxy_time_to_first_token_ms_count", labels)).toBe(2)
    })))

  it.effect("limiter and breaker gauges are read at scrape time; streams, rate-limit refusals and attempts are fed directly", () =>
    isolated(Effect.gen(function*() {
      const limiter = yield* ConcurrencyLimiter
      const breaker = yield* UpstreamBreaker
      const scope = yield* Scope.make()
      yield* Scope.provide(limiter.acquire("openai"), scope)

      let samples = parse(yield* scrape)
      expect(value(samples, "ccproxy_limiter_in_use", { upstream: "openai" })).toBe(1)
      expect(value(samples, "ccproxy_limiter_waiting", { upstream: "openai" })).toBe(0)
      expect(value(samples, "ccproxy_limiter_limit", { upstream: "openai" })).toBe(64)
      expect(value(samples, "ccproxy_circuit_state", { upstream: "openai" })).toBe(0)

      yield* Scope.close(scope, Exit.void)
      yield* Effect.exit(breaker.protect("openai", Effect.fail(new UpstreamFailure({ upstreamStatus: 503, message: "down", promptTooLong: false }))))
      yield* streamOpened
      yield* streamOpened
      yield* streamClosed
      yield* rateLimitRejected("openai")
      yield* attemptFinished("openai", 300, "success")
      yield* attemptFinished("openai", 30_000, "timeout")

      samples = parse(yield* scrape)
      expect(value(samples, "ccproxy_limiter_in_use", { upstream: "openai" })).toBe(0)
      expect(value(samples, "ccproxy_circuit_state", { upstream: "openai" })).toBe(2)
      expect(value(samples, "ccproxy_open_streams")).toBe(1)
      expect(value(samples, "ccproxy_rate_limit_rejections_total", { upstream: "openai" })).toBe(1)
      expect(value(samples, "ccproxy_upstream_attempt_duration_ms_count", { upstream: "openai", outcome: "success" })).toBe(1)
      expect(value(samples, "ccproxy_upstream_attempt_duration_ms_bucket", { upstream: "openai", outcome: "timeout", le: "20000" }))
        .toBe(0)
    })))

  it.effect("model labels are escaped, and capped: a client inventing names cannot grow the series without bound", () =>
    isolated(Effect.gen(function*() {
      yield* feed(rec({ clientModel: "a\"b\\c", upstreamModel: "a\"b\\c" }))
      yield* feed(...Array.from({ length: MAX_LABEL_VALUES + 50 }, (_, i) => rec({ clientModel: `m${i}`, upstreamModel: `m${i}` })))
      const samples = parse(yield* scrape)
      expect(value(samples, "ccproxy_requests_total", { ...sonnet, client_model: "a\"b\\c", upstream_model: "a\"b\\c", status: "200" }))
        .toBe(1)
      const requests = samples.filter((s) => s.name === "ccproxy_requests_total")
      expect(requests.length).toBe(MAX_LABEL_VALUES + 1)
      expect(value(samples, "ccproxy_requests_total", { ...sonnet, client_model: "other", upstream_model: "other", status: "200" }))
        .toBe(51)
    })))
})

describe("GET /v1/metrics", () => {
  it.effect("has exactly the dashboard's shape", () =>
    isolated(Effect.gen(function*() {
      yield* TestClock.setTime(T0)
      yield* feed(rec({ cache: "hit" }))
      const body = yield* summary
      expect(Object.keys(body)).toEqual([
        "uptime_seconds", "requests", "latency_ms", "ttft_ms", "by_model", "cost_usd", "cache", "upstreams", "timeline", "recent"
      ])
      expect(Object.keys(body.requests)).toEqual(["total", "errors", "by_status"])
      expect(Object.keys(body.latency_ms)).toEqual(["p50", "p95", "p99"])
      expect(Object.keys(body.ttft_ms)).toEqual(["p50", "p95", "p99"])
      expect(Object.keys(body.by_model[0]!)).toEqual([
        "client_model", "upstream_model", "requests", "input_tokens", "output_tokens", "cache_read_tokens",
        "reasoning_tokens", "cost_usd", "unknown_cost_requests"
      ])
      expect(Object.keys(body.cost_usd)).toEqual(["total", "unknown_requests"])
      expect(Object.keys(body.cache)).toEqual(["enabled", "hits", "misses", "bypass", "hit_rate", "entries", "bytes", "max_bytes"])
      expect(body.upstreams).toEqual([{ name: "openai", circuit: "closed", in_flight: 0, queued: 0, max_concurrent: 64 }])
      expect(Object.keys(body.timeline[0]!)).toEqual(["minute", "requests", "errors"])
      expect(body.recent[0]).toEqual({
        time: "2026-11-30T23:10:30.120Z",
        id: "req_1",
        client_model: "claude-sonnet-4-6",
        upstream_model: "gpt-4.1",
        status: 200,
        stream: true,
        input_tokens: 1000,
        output_tokens: 200,
        cost_usd: 0.01,
        ttft_ms: 80,
        duration_ms: 120,
        cache: "hit",
        error: null
      })
    })))

  it.effect("an empty proxy: zeros, nulls where nothing is known, 60 empty minutes", () =>
    isolated(Effect.gen(function*() {
      yield* TestClock.adjust("12300 millis")
      const body = yield* summary
      expect(body.uptime_seconds).toBe(12.3)
      expect(body.requests).toEqual({ total: 0, errors: 0, by_status: {} })
      expect(body.latency_ms).toEqual({ p50: null, p95: null, p99: null })
      expect(body.ttft_ms).toEqual({ p50: null, p95: null, p99: null })
      expect(body.by_model).toEqual([])
      expect(body.cost_usd).toEqual({ total: 0, unknown_requests: 0 })
      expect(body.cache).toEqual({ enabled: false, hits: 0, misses: 0, bypass: 0, hit_rate: null, entries: 0, bytes: 0, max_bytes: 0 })
      expect(body.timeline).toHaveLength(60)
      expect(body.timeline.every((m) => m.requests === 0 && m.errors === 0)).toBe(true)
      expect(body.recent).toEqual([])
    })))

  it.effect("totals, errors (a failed stream too), statuses, per-model usage and cost", () =>
    isolated(Effect.gen(function*() {
      yield* feed(
        rec({ cacheReadTokens: 10, cache: "miss" }),
        rec({ costUsd: 0.0023, cache: "hit" }),
        rec({ error: "api_error: stream broke", costUsd: null, cache: "hit" }),
        rec({ status: 529, ttftMs: null, inputTokens: null, outputTokens: null, costUsd: null, cache: "bypass" }),
        rec({ clientModel: "claude-opus-4-1", upstreamModel: "o3", costUsd: null, reasoningTokens: 7 })
      )
      const body = yield* summary
      expect(body.requests).toEqual({ total: 5, errors: 2, by_status: { "200": 4, "529": 1 } })
      expect(body.by_model).toEqual([
        {
          client_model: "claude-sonnet-4-6",
          upstream_model: "gpt-4.1",
          requests: 4,
          input_tokens: 3000,
          output_tokens: 600,
          cache_read_tokens: 10,
          reasoning_tokens: 0,
          cost_usd: 0.0123,
          unknown_cost_requests: 1
        },
        {
          client_model: "claude-opus-4-1",
          upstream_model: "o3",
          requests: 1,
          input_tokens: 1000,
          output_tokens: 200,
          cache_read_tokens: 0,
          reasoning_tokens: 7,
          cost_usd: null, // its price is unknown: no known cost to show
          unknown_cost_requests: 1
        }
      ])
      expect(body.cost_usd).toEqual({ total: 0.0123, unknown_requests: 2 })
      expect(body.cache).toMatchObject({ hits: 2, misses: 1, bypass: 1, hit_rate: 2 / 3 })
    })))

  it.effect("percentiles: nearest rank, within 1 % (log-scale buckets), exact for small whole milliseconds", () =>
    isolated(Effect.gen(function*() {
      // 1..1000 ms shuffled deterministically; ttft only for the first 40 (1..40 in some order).
      const durations = Array.from({ length: 1000 }, (_, i) => ((i * 389) % 1000) + 1)
      yield* feed(...durations.map((d, i) => rec({ durationMs: d, ttftMs: i < 40 ? (i * 7) % 40 + 1 : null })))
      const body = yield* summary
      const within = (got: number | null, want: number) => expect(Math.abs(got! - want)).toBeLessThanOrEqual(want * 0.01 + 0.5)
      within(body.latency_ms.p50, 500)
      within(body.latency_ms.p95, 950)
      within(body.latency_ms.p99, 990)
      expect(body.ttft_ms).toEqual({ p50: 20, p95: 38, p99: 40 })
    })))

  it.effect("timeline: the last 60 minutes by the Clock, oldest first, zeros included", () =>
    isolated(Effect.gen(function*() {
      yield* TestClock.setTime(T0)
      const minute = 60_000
      yield* feed(
        rec({ startedAt: T0 - 90 * minute }), // older than the hour shown
        rec({ startedAt: T0 - 59 * minute }),
        rec({ startedAt: T0 - 2 * minute, status: 500 }),
        rec({ startedAt: T0 - 2 * minute }),
        rec({ startedAt: T0 }),
        rec({ startedAt: T0, error: "api_error: broke" })
      )
      let timeline = (yield* summary).timeline
      expect(timeline).toHaveLength(60)
      expect(timeline[0]).toEqual({ minute: "2026-11-30T22:11:00.000Z", requests: 1, errors: 0 })
      expect(timeline[57]).toEqual({ minute: "2026-11-30T23:08:00.000Z", requests: 2, errors: 1 })
      expect(timeline[59]).toEqual({ minute: "2026-11-30T23:10:00.000Z", requests: 2, errors: 1 })
      expect(timeline.reduce((n, m) => n + m.requests, 0)).toBe(5)

      // Ten minutes on, the window has moved: the oldest minutes fell out, the newest are empty.
      yield* TestClock.adjust("10 minutes")
      yield* feed(rec({ startedAt: T0 + 10 * minute }))
      timeline = (yield* summary).timeline
      expect(timeline[0]!.minute).toBe("2026-11-30T22:21:00.000Z")
      expect(timeline[59]).toEqual({ minute: "2026-11-30T23:20:00.000Z", requests: 1, errors: 0 })
      expect(timeline.reduce((n, m) => n + m.requests, 0)).toBe(5)

      // A record from 70 minutes ago must not land in a slot that now holds a recent minute.
      yield* feed(rec({ startedAt: T0 - 60 * minute }))
      expect((yield* summary).timeline.reduce((n, m) => n + m.requests, 0)).toBe(5)
    })))

  it.effect("recent: the last 50, newest first", () =>
    isolated(Effect.gen(function*() {
      yield* feed(...Array.from({ length: 55 }, (_, i) => rec({ id: `req_${i}`, startedAt: T0 + i })))
      const recent = (yield* summary).recent
      expect(recent).toHaveLength(50)
      expect(recent[0]!.id).toBe("req_54")
      expect(recent[49]!.id).toBe("req_5")
    })))

  it.effect("reset clears the summary and the recent list; Prometheus counters stay monotonic", () =>
    isolated(Effect.gen(function*() {
      yield* TestClock.setTime(T0)
      yield* feed(rec(), rec({ status: 500 }))
      const reset = yield* Effect.flatMap(handlers, (h) => h.reset)
      expect(JSON.parse(yield* bodyText(reset))).toEqual({ status: "metrics_reset" })
      const body = yield* summary
      expect(body.requests).toEqual({ total: 0, errors: 0, by_status: {} })
      expect(body.recent).toEqual([])
      expect(body.by_model).toEqual([])
      expect(body.latency_ms.p50).toBeNull()
      expect(body.timeline.every((m) => m.requests === 0)).toBe(true)
      expect(body.uptime_seconds).toBe(T0 / 1000) // uptime is the service's, not since the reset
      expect(value(parse(yield* scrape), "ccproxy_requests_total", { ...sonnet, status: "200" })).toBe(1)

      yield* feed(rec())
      expect((yield* summary).requests.total).toBe(1)
    })))
})

describe("cache routes", () => {
  it.effect("with no cache: disabled and empty, and clearing is a no-op", () =>
    isolated(Effect.gen(function*() {
      const h = yield* handlers
      expect(JSON.parse(yield* bodyText(yield* h.cacheStats))).toEqual({
        enabled: false, hits: 0, misses: 0, bypass: 0, hit_rate: null, entries: 0, bytes: 0, max_bytes: 0
      })
      expect(JSON.parse(yield* bodyText(yield* h.cacheClear))).toEqual({ status: "caches_cleared" })
    })))

  it.effect("with a cache: its size and its clear, with the outcomes counted from records", () => {
    let cleared = 0
    const admin: CacheAdmin = {
      stats: Effect.succeed({ enabled: true, entries: 3, bytes: 1200, maxBytes: 1 << 20 }),
      clear: Effect.sync(() => void cleared++)
    }
    return isolated(Effect.gen(function*() {
      yield* feed(rec({ cache: "hit" }), rec({ cache: "miss" }), rec({ cache: "miss" }), rec({ cache: "hit" }))
      const h = yield* handlers
      expect(JSON.parse(yield* bodyText(yield* h.cacheStats))).toEqual({
        enabled: true, hits: 2, misses: 2, bypass: 0, hit_rate: 0.5, entries: 3, bytes: 1200, max_bytes: 1 << 20
      })
      yield* h.cacheClear
      expect(cleared).toBe(1)
      expect((yield* summary).cache).toMatchObject({ enabled: true, entries: 3 })
    }).pipe(Effect.provideService(CurrentCacheAdmin, admin)))
  })
})

describe("metricsRoutes", () => {
  it.effect("lists the five routes, each a handler the server's RouteSpec accepts", () =>
    isolated(Effect.gen(function*() {
      const routes = yield* metricsRoutes
      expect(routes.map((r) => `${r.method} ${r.path}`)).toEqual([
        "GET /metrics", "GET /v1/metrics", "POST /v1/metrics/reset", "GET /v1/cache/stats", "POST /v1/cache/clear"
      ])
      // Compile-time: the shape `http/server.ts` serves.
      const accepted: ReadonlyArray<
        Effect.Effect<HttpServerResponse.HttpServerResponse, ProxyError, HttpRouter.Provided | RequestInfo>
      > = routes.map((r) => r.handler)
      expect(accepted).toHaveLength(5)
      const prometheus = yield* routes[0]!.handler
      expect(HttpServerResponse.toWeb(prometheus).headers.get("content-type")).toContain("text/plain; version=0.0.4")
    })))
})

describe("LatencySketch", () => {
  it("is within 1 % over six decades, and reads values past an hour as the largest seen", () => {
    const sketch = new LatencySketch()
    const values: Array<number> = []
    for (let i = 0; i < 5000; i++) values.push(Math.round(Math.exp(((i * 7919) % 5000) / 5000 * Math.log(3_000_000))))
    for (const v of values) sketch.add(v)
    const sorted = [...values].sort((a, b) => a - b)
    const rank = (q: number) => sorted[Math.ceil(q * sorted.length) - 1]!
    const got = sketch.percentiles()
    for (const [q, p] of [[0.5, got.p50], [0.95, got.p95], [0.99, got.p99]] as const) {
      expect(Math.abs(p! - rank(q))).toBeLessThanOrEqual(rank(q) * 0.01 + 0.5)
    }
    const huge = new LatencySketch()
    huge.add(5)
    huge.add(7_200_000)
    expect(huge.percentiles()).toEqual({ p50: 5, p95: 7_200_000, p99: 7_200_000 })
  })
})
