/**
 * A stand-in for the proxy while `/dashboard` and `/v1/metrics` are not wired into it: a node:http server on a
 * loopback port that serves the real dashboard page (with its real headers) and a fixed `/v1/metrics` body, behind the
 * same key check the proxy does (x-api-key or Bearer; 401 in Anthropic's error shape otherwise).
 * The metrics are plausible numbers for an hour of traffic, so the screenshot script uses them too.
 */
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { dashboardPage } from "../../src/observability/dashboard.ts"

export const FAKE_KEY = "sk-dashboard-test-0123456789"
/** A request id that `fakeMetrics` always lists among the recent requests. */
export const FAKE_REQUEST_ID = "req_01dashboardtest7f3a9c"

export interface FakeTarget {
  readonly url: string
  readonly key: string
  /** A request the target has served, which the dashboard must list. */
  readonly requestId: string
  /** Every `/v1/metrics` request's x-api-key header (undefined when absent), in order. */
  readonly metricsKeys: Array<string | undefined>
  /** Every path the server was asked for (the fragment never reaches it). */
  readonly paths: Array<string>
  readonly close: () => Promise<void>
}

/** A small deterministic generator (mulberry32), so the page and the screenshot look the same on every run. */
const random = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

const MODELS = [
  { client: "claude-sonnet-4-6", upstream: "gpt-4.1", inPrice: 2e-6, outPrice: 8e-6, weight: 0.62 },
  { client: "claude-haiku-4-5", upstream: "gpt-4.1-mini", inPrice: 0.4e-6, outPrice: 1.6e-6, weight: 0.3 },
  { client: "claude-opus-4-1", upstream: "o3", inPrice: 2e-6, outPrice: 8e-6, weight: 0.08 }
] as const

/** The `/v1/metrics` body for an hour of traffic ending at `now`. */
export const fakeMetrics = (now = Date.now()) => {
  const next = random(20261130)
  const minute = Math.floor(now / 60_000) * 60_000
  const timeline = Array.from({ length: 60 }, (_, i) => {
    const t = minute - (59 - i) * 60_000
    // A working hour: a morning ramp, a lunch dip, and a burst of 529s from the upstream around minute 38.
    const base = 14 + 10 * Math.sin(i / 9) + 6 * Math.sin(i / 3.1) + next() * 8
    const requests = Math.max(0, Math.round(base + (i > 30 && i < 36 ? -8 : 0)))
    const errors = i >= 37 && i <= 40 ? 3 + Math.round(next() * 4) : next() < 0.12 ? 1 : 0
    return { minute: new Date(t).toISOString(), requests, errors }
  })
  const total = timeline.reduce((sum, m) => sum + m.requests, 0) + 412
  const errors = timeline.reduce((sum, m) => sum + m.errors, 0) + 3

  const byModel = MODELS.map((m) => {
    const requests = Math.round(total * m.weight)
    const input = Math.round(requests * (38_000 + next() * 9_000))
    const output = Math.round(requests * (900 + next() * 500))
    const cacheRead = Math.round(input * 0.55)
    const reasoning = m.upstream === "o3" ? Math.round(output * 0.6) : 0
    return {
      client_model: m.client,
      upstream_model: m.upstream,
      requests,
      input_tokens: input,
      output_tokens: output,
      cache_read_tokens: cacheRead,
      reasoning_tokens: reasoning,
      cost_usd: Number(((input - cacheRead) * m.inPrice + cacheRead * m.inPrice / 4 + output * m.outPrice).toFixed(6)),
      unknown_cost_requests: m.upstream === "o3" ? 2 : 0
    }
  })

  const recent = Array.from({ length: 50 }, (_, i) => {
    const model = MODELS[next() < 0.6 ? 0 : next() < 0.8 ? 1 : 2]
    const failed = i === 7 || i === 8
    const stream = next() < 0.85
    const input = Math.round(20_000 + next() * 40_000)
    const output = failed ? 0 : Math.round(80 + next() * 1_400)
    const duration = Math.round(failed ? 40 + next() * 60 : 900 + next() * 9_000)
    return {
      time: new Date(now - 2_000 - i * 23_000 - Math.round(next() * 10_000)).toISOString(),
      id: i === 0 ? FAKE_REQUEST_ID : `req_01${Math.floor(next() * 2 ** 52).toString(36).padStart(10, "0")}`,
      client_model: model.client,
      upstream_model: model.upstream,
      status: failed ? 529 : i === 21 ? 400 : 200,
      stream,
      input_tokens: input,
      output_tokens: output,
      cost_usd: failed ? null : Number((input * model.inPrice + output * model.outPrice).toFixed(6)),
      ttft_ms: failed || !stream ? null : Math.round(250 + next() * 900),
      duration_ms: duration,
      cache: i === 12 ? "hit" : null,
      error: failed ? "overloaded_error: upstream returned 529" : i === 21 ? "invalid_request_error: max_tokens too large" : null
    }
  })

  return {
    uptime_seconds: 3 * 3600 + 17 * 60 + 42.5,
    requests: { total, errors, by_status: { "200": total - errors, "400": 2, "429": 3, "529": errors - 5 } },
    latency_ms: { p50: 2_340, p95: 8_120, p99: 14_900 },
    ttft_ms: { p50: 610, p95: 1_480, p99: 2_950 },
    by_model: byModel,
    cost_usd: { total: Number(byModel.reduce((sum, m) => sum + m.cost_usd, 0).toFixed(6)), unknown_requests: 2 },
    cache: { enabled: true, hits: 37, misses: 161, bypass: 12, hit_rate: 37 / 198, entries: 142, bytes: 18_400_000, max_bytes: 67_108_864 },
    upstreams: [
      { name: "openai", circuit: "closed", in_flight: 7, queued: 0, max_concurrent: 64 },
      { name: "openrouter", circuit: "half_open", in_flight: 1, queued: 2, max_concurrent: 16 }
    ],
    timeline,
    recent
  }
}

/** Starts the stand-in on 127.0.0.1, port 0. */
export const startFakeTarget = async (metrics: () => unknown = () => fakeMetrics()): Promise<FakeTarget> => {
  const metricsKeys: Array<string | undefined> = []
  const paths: Array<string> = []
  const server = createServer((request, response) => {
    const path = (request.url ?? "/").split("?")[0] ?? "/"
    paths.push(request.url ?? "")
    if (request.method === "GET" && (path === "/dashboard" || path === "/dashboard/")) {
      response.writeHead(200, dashboardPage.headers).end(dashboardPage.body)
      return
    }
    if (request.method === "GET" && path === "/v1/metrics") {
      const header = request.headers["x-api-key"]
      const key = Array.isArray(header) ? header[0] : header
      metricsKeys.push(key)
      const bearer = request.headers.authorization?.replace(/^Bearer\s+/i, "")
      if (key !== FAKE_KEY && bearer !== FAKE_KEY) {
        response.writeHead(401, { "content-type": "application/json" }).end(JSON.stringify({
          type: "error",
          error: { type: "authentication_error", message: "invalid x-api-key" }
        }))
        return
      }
      response.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" }).end(JSON.stringify(metrics()))
      return
    }
    response.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({
      type: "error",
      error: { type: "not_found_error", message: `${request.method} ${path} not found` }
    }))
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    key: FAKE_KEY,
    requestId: FAKE_REQUEST_ID,
    metricsKeys,
    paths,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections()
        server.close((error) => (error ? reject(error) : resolve()))
      })
  }
}
