/**
 * `ccproxy status` as text: GET /health and GET /v1/metrics of a running proxy, summed up in a few lines for a
 * terminal. Pure, so every line's format is a unit test. The shapes are decoded loosely: fields this version does
 * not know are ignored, so an older CLI still reads a newer proxy.
 */
import * as Schema from "effect/Schema"
import type { Health } from "./proxy-client.ts"

const Percentiles = Schema.Struct({ p50: Schema.NullOr(Schema.Number), p95: Schema.NullOr(Schema.Number), p99: Schema.NullOr(Schema.Number) })

/** The part of GET /v1/metrics that the summary shows. */
export const Metrics = Schema.Struct({
  uptime_seconds: Schema.Number,
  requests: Schema.Struct({ total: Schema.Number, errors: Schema.Number }),
  latency_ms: Percentiles,
  ttft_ms: Percentiles,
  by_model: Schema.Array(Schema.Struct({
    client_model: Schema.String,
    upstream_model: Schema.NullOr(Schema.String),
    requests: Schema.Number,
    input_tokens: Schema.Number,
    output_tokens: Schema.Number,
    cache_read_tokens: Schema.Number,
    reasoning_tokens: Schema.Number,
    cost_usd: Schema.NullOr(Schema.Number)
  })),
  cost_usd: Schema.Struct({ total: Schema.Number, unknown_requests: Schema.Number }),
  cache: Schema.Struct({
    enabled: Schema.Boolean,
    hits: Schema.Number,
    misses: Schema.Number,
    hit_rate: Schema.NullOr(Schema.Number),
    entries: Schema.Number
  })
})
export type Metrics = typeof Metrics.Type

const count = (n: number) => n.toLocaleString("en-US")
const plural = (n: number, word: string) => `${count(n)} ${word}${n === 1 ? "" : "s"}`

export const formatDuration = (seconds: number): string => {
  const s = Math.floor(seconds)
  if (s < 60) return `${s}s`
  const parts = [[Math.floor(s / 86_400), "d"], [Math.floor(s / 3_600) % 24, "h"], [Math.floor(s / 60) % 60, "m"]] as const
  const first = parts.findIndex(([n]) => n > 0)
  return parts.slice(first, first + 2).filter(([n]) => n > 0).map(([n, unit]) => `${n}${unit}`).join(" ")
}

const ms = (value: number | null) => value === null ? "—" : value < 1_000 ? `${value} ms` : `${(value / 1_000).toFixed(1)} s`

/** Dollars with enough digits that a few cheap requests do not read as $0.00. */
export const formatUsd = (usd: number): string => usd === 0 ? "$0" : usd >= 1 ? `$${usd.toFixed(2)}` : `$${usd.toPrecision(2)}`

/** Unknown prices are never counted as $0: a total of only unpriced requests is "unknown", a mixed one says so. */
const formatCost = (cost: Metrics["cost_usd"]): string => {
  const unpriced = `${plural(cost.unknown_requests, "request")} without a known price`
  if (cost.unknown_requests === 0) return formatUsd(cost.total)
  return cost.total === 0 ? `unknown (${unpriced})` : `${formatUsd(cost.total)} + ${unpriced}`
}

const formatCache = (cache: Metrics["cache"]): string => {
  if (!cache.enabled) return "off"
  const rate = cache.hit_rate === null ? "" : ` (${Math.round(cache.hit_rate * 100)}%)`
  return `${count(cache.hits)} hits, ${count(cache.misses)} misses${rate}, ${count(cache.entries)} ${cache.entries === 1 ? "entry" : "entries"}`
}

const budget = (name: string, b: { configured: number; effective: number } | null) =>
  b === null ? undefined : b.effective === b.configured ? `${name} ${count(b.configured)}` : `${name} ${count(b.effective)} of ${count(b.configured)}`

const table = (rows: ReadonlyArray<ReadonlyArray<string>>): Array<string> => {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((row) => row[i]!.length))) ?? []
  return rows.map((row) => `  ${row.map((cell, i) => i === row.length - 1 ? cell : cell.padEnd(widths[i]!)).join("  ")}`.trimEnd())
}

export const formatStatus = (url: string, health: Health, metrics: Metrics): string => {
  const models = metrics.by_model
  const sum = (pick: (m: Metrics["by_model"][number]) => number) => models.reduce((total, m) => total + pick(m), 0)
  const { requests, cost_usd: cost, cache } = metrics
  const lines = [
    `ccproxy at ${url}: ${health.status}, up ${formatDuration(metrics.uptime_seconds)}`,
    "",
    "Upstreams",
    ...table(health.upstreams.map((u) => [
      u.name,
      `circuit ${u.circuit.replace("_", "-")}`,
      `in flight ${u.in_flight}/${u.max_concurrent}`,
      `queued ${u.queued}`,
      [budget("rpm", u.rate_limits?.rpm ?? null), budget("tpm", u.rate_limits?.tpm ?? null),
        u.rate_limits !== undefined && u.rate_limits.cool_down_ms > 0 ? `cooling down ${ms(u.rate_limits.cool_down_ms)}` : undefined]
        .filter((part) => part !== undefined).join(", ")
    ])),
    "",
    `Requests  ${count(requests.total)}${requests.errors > 0 ? ` (${plural(requests.errors, "error")})` : ""}` +
    (requests.total > 0
      ? `; latency p50 ${ms(metrics.latency_ms.p50)}, p95 ${ms(metrics.latency_ms.p95)}; first token p50 ${ms(metrics.ttft_ms.p50)}`
      : ""),
    `Tokens    ${count(sum((m) => m.input_tokens))} in, ${count(sum((m) => m.output_tokens))} out` +
    `, ${count(sum((m) => m.cache_read_tokens))} cache read, ${count(sum((m) => m.reasoning_tokens))} reasoning`,
    `Cost      ${formatCost(cost)}`,
    `Cache     ${formatCache(cache)}`
  ]
  if (models.length > 0) {
    lines.push("", "Models", ...table(models.map((m) => [
      m.upstream_model === null || m.upstream_model === m.client_model ? m.client_model : `${m.client_model} → ${m.upstream_model}`,
      plural(m.requests, "request"),
      `${count(m.input_tokens)} in`,
      `${count(m.output_tokens)} out`,
      m.cost_usd === null ? "cost unknown" : formatUsd(m.cost_usd)
    ])))
  }
  return lines.join("\n") + "\n"
}
