/**
 * The markdown table: every case, proxy against the baseline of the same run, with the targets.
 */
import type { LoadResult } from "./load.ts"
import type { ConcurrencyResult, StormResult } from "./protection.ts"
import type { StagesResult } from "./stages.ts"

export interface TtfbCase {
  readonly label: string
  readonly bodyBytes: number
  readonly samples: number
  /** Medians in ms, per endpoint. */
  readonly direct: TtfbMedians
  readonly baseline: TtfbMedians
  readonly proxy: TtfbMedians
}

export interface TtfbMedians {
  readonly headersMs: number
  readonly firstByteMs: number
  readonly firstTextMs: number
  readonly incomplete: number
}

export interface IdleResult {
  readonly target: string
  readonly streams: number
  readonly heapPerStreamBytes: number
  readonly rssPerStreamBytes: number
  readonly externalPerStreamBytes: number
  readonly before: { readonly heapUsed: number; readonly rss: number }
  readonly after: { readonly heapUsed: number; readonly rss: number }
  readonly completedAfterRelease: number
  readonly gc: boolean
}

export interface SoakResult {
  readonly load: LoadResult
  readonly rssStartBytes: number
  readonly rssEndBytes: number
  readonly rssGrowth: number
  readonly heapBeforeBytes: number
  readonly heapAfterBytes: number
  /** [seconds, MB], one per second. */
  readonly rssTimeline: ReadonlyArray<readonly [number, number]>
}

export interface Target {
  readonly name: string
  readonly value: string
  readonly target: string
  readonly pass: boolean
}

export interface Row {
  readonly case: string
  readonly metric: string
  readonly direct?: string
  readonly baseline: string
  readonly proxy: string
  readonly ratio: string
  readonly target?: string
  readonly pass?: boolean
}

export const fmt = (value: number, digits = 2): string => {
  if (!Number.isFinite(value)) return "n/a"
  return value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits })
}
const mb = (bytes: number) => fmt(bytes / 1024 / 1024, 1)
const kb = (bytes: number) => fmt(bytes / 1024, 1)
const ratio = (proxy: number, baseline: number) => (baseline > 0 && Number.isFinite(proxy) ? `${fmt(proxy / baseline)}×` : "n/a")
export const sizeLabel = (bytes: number) => `${Math.round(bytes / 1000)} KB`

export interface ReportInput {
  readonly load: ReadonlyArray<{ readonly baseline: LoadResult; readonly proxy: LoadResult; readonly large: boolean }>
  readonly ttfb: ReadonlyArray<TtfbCase & { readonly large: boolean }>
  readonly idle: { readonly proxy: IdleResult; readonly baseline: IdleResult } | undefined
  readonly soak: { readonly result: SoakResult; readonly baseline64: LoadResult | undefined } | undefined
  readonly concurrency?: ConcurrencyResult | undefined
  readonly storm?: StormResult | undefined
  readonly stages?: StagesResult | undefined
}

export const buildRows = (input: ReportInput): { rows: Array<Row>; targets: Array<Target> } => {
  const rows: Array<Row> = []
  const targets: Array<Target> = []
  const check = (row: Omit<Row, "pass">, pass: boolean, name: string, value: string) => {
    rows.push({ ...row, pass })
    targets.push({ name, value, target: row.target!, pass })
  }

  for (const { baseline: b, proxy: p, large } of input.load) {
    const name = `${sizeLabel(p.bodyBytes)} stream · ${p.connections} conn`
    const rps = p.requestsPerSecond / b.requestsPerSecond
    const rpsTarget = large ? 0.35 : 0.5
    check(
      { case: name, metric: "requests/s", baseline: fmt(b.requestsPerSecond, 0), proxy: fmt(p.requestsPerSecond, 0), ratio: ratio(p.requestsPerSecond, b.requestsPerSecond), target: `≥ ${rpsTarget}×` },
      rps >= rpsTarget,
      `${name}: requests/s`,
      `${fmt(rps)}×`
    )
    rows.push({ case: name, metric: "latency p50 (ms)", baseline: fmt(b.latencyMs.p50), proxy: fmt(p.latencyMs.p50), ratio: ratio(p.latencyMs.p50, b.latencyMs.p50) })
    if (!large) {
      check(
        { case: name, metric: "latency p99 (ms)", baseline: fmt(b.latencyMs.p99), proxy: fmt(p.latencyMs.p99), ratio: ratio(p.latencyMs.p99, b.latencyMs.p99), target: "≤ 3×" },
        p.latencyMs.p99 / b.latencyMs.p99 <= 3,
        `${name}: p99 latency`,
        `${fmt(p.latencyMs.p99 / b.latencyMs.p99)}×`
      )
    } else {
      rows.push({ case: name, metric: "latency p99 (ms)", baseline: fmt(b.latencyMs.p99), proxy: fmt(p.latencyMs.p99), ratio: ratio(p.latencyMs.p99, b.latencyMs.p99) })
    }
    rows.push({
      case: name,
      metric: "errors (non-2xx + conn + timeouts + broken streams)",
      baseline: String(b.errorsTotal),
      proxy: String(p.errorsTotal),
      ratio: "—"
    })
    const cpuTarget = large ? 3 : 1
    check(
      { case: name, metric: "server CPU ms / request", baseline: fmt(b.cpuMsPerRequest, 3), proxy: fmt(p.cpuMsPerRequest, 3), ratio: ratio(p.cpuMsPerRequest, b.cpuMsPerRequest), target: `≤ ${cpuTarget} ms` },
      p.cpuMsPerRequest <= cpuTarget,
      `${name}: proxy CPU per request`,
      `${fmt(p.cpuMsPerRequest, 3)} ms`
    )
    if (p.connections === 64) {
      check(
        { case: name, metric: "peak RSS (MB)", baseline: mb(b.peakRssBytes), proxy: mb(p.peakRssBytes), ratio: ratio(p.peakRssBytes, b.peakRssBytes), target: "≤ 1.5×" },
        p.peakRssBytes / b.peakRssBytes <= 1.5,
        `${name}: peak RSS`,
        `${fmt(p.peakRssBytes / b.peakRssBytes)}×`
      )
    } else {
      rows.push({ case: name, metric: "peak RSS (MB)", baseline: mb(b.peakRssBytes), proxy: mb(p.peakRssBytes), ratio: ratio(p.peakRssBytes, b.peakRssBytes) })
    }
  }

  for (const t of input.ttfb) {
    const name = `${sizeLabel(t.bodyBytes)} first bytes, 20 ms/chunk (median of ${t.samples})`
    rows.push({
      case: name,
      metric: "time to first byte (ms)",
      direct: fmt(t.direct.headersMs),
      baseline: fmt(t.baseline.headersMs),
      proxy: fmt(t.proxy.headersMs),
      ratio: ratio(t.proxy.headersMs, t.baseline.headersMs)
    })
    rows.push({
      case: name,
      metric: "time to first text delta (ms)",
      direct: fmt(t.direct.firstTextMs),
      baseline: fmt(t.baseline.firstTextMs),
      proxy: fmt(t.proxy.firstTextMs),
      ratio: ratio(t.proxy.firstTextMs, t.baseline.firstTextMs)
    })
    const added = t.proxy.firstTextMs - t.direct.firstTextMs
    const limit = t.large ? 3 : 1
    check(
      {
        case: name,
        metric: "first text delta: added over direct (ms)",
        direct: "0",
        baseline: fmt(t.baseline.firstTextMs - t.direct.firstTextMs),
        proxy: fmt(added),
        ratio: "—",
        target: `≤ ${limit} ms`
      },
      added <= limit,
      `${sizeLabel(t.bodyBytes)}: added time to first text delta`,
      `${fmt(added)} ms`
    )
  }

  if (input.idle) {
    const { proxy: p, baseline: b } = input.idle
    const name = `${p.streams} open idle streams`
    check(
      { case: name, metric: "heap per stream (KB)", baseline: kb(b.heapPerStreamBytes), proxy: kb(p.heapPerStreamBytes), ratio: ratio(p.heapPerStreamBytes, b.heapPerStreamBytes), target: "≤ 20 KB" },
      p.heapPerStreamBytes <= 20 * 1024,
      "heap per open idle stream",
      `${kb(p.heapPerStreamBytes)} KB`
    )
    rows.push({ case: name, metric: "RSS per stream (KB)", baseline: kb(b.rssPerStreamBytes), proxy: kb(p.rssPerStreamBytes), ratio: ratio(p.rssPerStreamBytes, b.rssPerStreamBytes) })
  }

  if (input.soak) {
    const { result: s, baseline64 } = input.soak
    const name = `soak ${Math.round(s.load.seconds)} s · 50 KB · 64 conn`
    rows.push({
      case: name,
      metric: "requests/s (baseline: the 64-conn run above)",
      baseline: baseline64 ? fmt(baseline64.requestsPerSecond, 0) : "n/a",
      proxy: fmt(s.load.requestsPerSecond, 0),
      ratio: baseline64 ? ratio(s.load.requestsPerSecond, baseline64.requestsPerSecond) : "n/a"
    })
    check(
      { case: name, metric: "errors", baseline: "—", proxy: String(s.load.errorsTotal), ratio: "—", target: "0" },
      s.load.errorsTotal === 0,
      "soak: errors",
      String(s.load.errorsTotal)
    )
    rows.push({ case: name, metric: "RSS start → end (MB)", baseline: "—", proxy: `${mb(s.rssStartBytes)} → ${mb(s.rssEndBytes)}`, ratio: "—" })
    check(
      { case: name, metric: "RSS growth", baseline: "—", proxy: `${fmt(s.rssGrowth * 100, 1)} %`, ratio: "—", target: "< 10 %" },
      s.rssGrowth < 0.1,
      "soak: RSS growth",
      `${fmt(s.rssGrowth * 100, 1)} %`
    )
  }
  if (input.concurrency) concurrencyRows(input.concurrency, rows, check)
  if (input.storm) stormRows(input.storm, rows, check)
  if (input.stages) stageRows(input.stages, rows)
  return { rows, targets }
}

type Check = (row: Omit<Row, "pass">, pass: boolean, name: string, value: string) => void

/** A row with only the proxy's number (no baseline in these cases). */
const only = (name: string, metric: string, proxy: string): Row => ({ case: name, metric, baseline: "—", proxy, ratio: "—" })

const concurrencyRows = (c: ConcurrencyResult, rows: Array<Row>, check: Check) => {
  const l = c.load
  const name = `${c.connections} streams · 50 KB · ~${fmt(c.singleStreamMs / 1000, 1)} s each · limiter ${c.maxConcurrent}`
  rows.push(only(name, "requests/s", fmt(l.requestsPerSecond, 1)))
  rows.push(only(name, "latency p50 (ms)", fmt(l.latencyMs.p50, 0)))
  rows.push(only(name, "latency p99 (ms)", fmt(l.latencyMs.p99, 0)))
  check(
    { ...only(name, "errors (non-2xx + conn + timeouts + broken streams)", String(l.errorsTotal)), target: "0" },
    l.errorsTotal === 0,
    `${c.connections} streams: errors`,
    String(l.errorsTotal)
  )
  // Only a limiter that was reached proves its bound: the upstream at the limit, or requests queued behind it.
  const reached = c.upstreamMaxInFlight === c.maxConcurrent || (c.health.maxQueued ?? 0) > 0
  const value = `${c.upstreamMaxInFlight}${reached ? "" : " (limit not reached: the load never saturated it)"}`
  check(
    { ...only(name, "max concurrent requests at the upstream", value), target: `≤ ${c.maxConcurrent}` },
    c.upstreamMaxInFlight <= c.maxConcurrent && reached,
    `${c.connections} streams: max upstream concurrency`,
    value
  )
  rows.push(only(name, "/health: max in_flight / max queued", `${c.health.maxInFlight ?? "n/a"} / ${c.health.maxQueued ?? "n/a"}`))
  rows.push(only(name, "peak RSS (MB)", mb(l.peakRssBytes)))
  rows.push(only(name, "RSS start → end (MB)", `${mb(c.rssStartBytes)} → ${mb(c.rssEndBytes)} (${fmt(c.rssGrowth * 100, 1)} %)`))
  rows.push(only(name, "heap after full GC, before → after the run (MB)", `${mb(c.heapBeforeBytes)} → ${mb(c.heapAfterBytes)}`))
}

const stormRows = (s: StormResult, rows: Array<Row>, check: Check) => {
  const c = s.client
  const name = `429 storm · ${s.connections} clients · ${Math.round(s.seconds)} s · UPSTREAM_RPM=${s.rpm}, upstream 429s above ${s.upstreamLimitPerSecond}/s`
  rows.push(only(name, "completed requests (200, whole stream)", String(c.completed)))
  check(
    { ...only(name, "5xx to clients", String(c.serverErrors)), target: "0" },
    c.serverErrors === 0,
    "429 storm: 5xx to clients",
    String(c.serverErrors)
  )
  const other = c.otherStatus + c.brokenStreams + c.connectionErrors
  check(
    { ...only(name, "other client errors (4xx but 429, broken streams, conn errors)", String(other)), target: "0" },
    other === 0,
    "429 storm: other client errors",
    String(other)
  )
  rows.push(only(name, "429s to clients: from the proxy's budget / the upstream's after retries", `${c.rateLimited - c.rateLimitedByUpstream} / ${c.rateLimitedByUpstream}`))
  rows.push(only(name, "429s sent by the upstream / requests it got", `${s.upstream.rateLimited} / ${s.upstream.requests}`))
  const lastShare = s.upstream.lastRequests === 0 ? 0 : s.upstream.lastRateLimited / s.upstream.lastRequests
  check(
    {
      ...only(name, `settled: upstream 429s in the last ${s.lastSeconds} s / its requests then`, `${s.upstream.lastRateLimited} / ${s.upstream.lastRequests}`),
      target: "≤ 5 %"
    },
    lastShare <= 0.05,
    "429 storm: upstream 429s at the end",
    `${fmt(lastShare * 100, 1)} %`
  )
  rows.push(only(name, `upstream requests/s in the last ${s.lastSeconds} s (its limit: ${s.upstreamLimitPerSecond}/s)`, fmt(s.upstream.lastRequests / s.lastSeconds, 2)))
  const rpm = s.effectiveRpm.at(-1)
  rows.push(only(name, "effective RPM at the end (from /health)", rpm === undefined ? "not reported" : fmt(rpm[1], 0)))
  rows.push(only(name, "requests cut when the run ended (queued or streaming)", String(c.cutAtEnd)))
}

const stageRows = (st: StagesResult, rows: Array<Row>) => {
  const name = `per-request CPU cost of each stage (in-process, µs, median of ${st.rounds} × ${st.iterations}): streamed reply (${st.streamChunks} events) / whole message`
  const pair = (index: number, value: (v: StagesResult["stream"][number]) => number, signed: boolean) => {
    const show = (v: StagesResult["stream"][number] | undefined) => {
      if (v === undefined) return "n/a"
      const n = value(v)
      return signed ? `${n < 0 ? "−" : "+"}${fmt(Math.abs(n))}` : fmt(n)
    }
    return `${show(st.stream[index])} / ${show(st.message[index])}`
  }
  if (st.stream[0]) rows.push(only(name, "no stages (compose, request scope, drain)", pair(0, (v) => v.usPerRequest, false)))
  for (let i = 1; i < st.stream.length; i++) {
    rows.push(only(name, `+ ${st.stream[i]!.name}`, pair(i, (v) => v.addedUs, true)))
  }
  for (const t of st.structure) rows.push(only(name, `checkStructure on the parsed ${t.label} (every request)`, fmt(t.usPerCall)))
}

export const markdown = (rows: ReadonlyArray<Row>, targets: ReadonlyArray<Target>): string => {
  const lines = [
    "| case | metric | direct | baseline | proxy | proxy ÷ baseline | target | result |",
    "|---|---|--:|--:|--:|--:|---|---|"
  ]
  let last = ""
  for (const row of rows) {
    const label = row.case === last ? "" : row.case
    last = row.case
    const result = row.pass === undefined ? "" : row.pass ? "pass" : "**FAIL**"
    lines.push(`| ${label} | ${row.metric} | ${row.direct ?? ""} | ${row.baseline} | ${row.proxy} | ${row.ratio} | ${row.target ?? ""} | ${result} |`)
  }
  const passed = targets.filter((t) => t.pass).length
  lines.push("", `Targets met: ${passed} of ${targets.length}.`)
  return lines.join("\n")
}
