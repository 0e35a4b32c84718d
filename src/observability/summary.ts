/**
 * The dashboard's figures since start or the last reset (GET /v1/metrics): totals, percentiles, per-model usage and
 * cost, cache outcomes, a per-minute timeline of the last hour and the last requests. Plain mutable state fed one
 * record at a time: the record path does arithmetic only, and the JSON is built when someone asks.
 *
 * Memory is bounded whatever the traffic: two percentile sketches, 60 minute slots, 50 records, and at most
 * `MAX_MODELS` model pairs (a client may name any model; the rest are counted under "other").
 */
import type { CacheOutcome, RequestRecord } from "./record.ts"
import { LatencySketch, type Percentiles } from "./percentiles.ts"

/** Distinct (client model, upstream model) pairs kept apart; later ones are summed under `OTHER`. */
export const MAX_MODELS = 100
export const OTHER = "other"
const MINUTES = 60
const RECENT = 50
const MINUTE_MS = 60_000
/** The key of the "other" entry: no real model name is a lone control character. */
const OTHER_KEY = "\u0001"

/** A failed request: an error status, or a stream that started (200) and then failed. */
export const isError = (record: RequestRecord): boolean => record.status >= 400 || record.error !== null

/**
 * Whether the request had usage to price. Only then is a missing cost "unknown": a request refused before any
 * upstream answer cost nothing, and counting it as unpriced would hide the requests whose price we lack.
 */
export const hasUsage = (record: RequestRecord): boolean => record.inputTokens !== null || record.outputTokens !== null

export interface ModelJson {
  readonly client_model: string
  readonly upstream_model: string | null
  readonly requests: number
  readonly input_tokens: number
  readonly output_tokens: number
  readonly cache_read_tokens: number
  readonly reasoning_tokens: number
  /** Sum of the known costs; null when the model had unknown costs and no known one (its price is missing). */
  readonly cost_usd: number | null
  /** Requests with usage but no price. */
  readonly unknown_cost_requests: number
}

export interface MinuteJson {
  /** Start of the minute, ISO. */
  readonly minute: string
  readonly requests: number
  readonly errors: number
}

export interface RecentJson {
  /** When the request finished (the list is newest first by that time), ISO. */
  readonly time: string
  readonly id: string
  readonly client_model: string
  readonly upstream_model: string | null
  readonly status: number
  readonly stream: boolean
  readonly input_tokens: number | null
  readonly output_tokens: number | null
  readonly cost_usd: number | null
  readonly ttft_ms: number | null
  readonly duration_ms: number
  readonly cache: CacheOutcome | null
  readonly error: string | null
}

/** Everything in GET /v1/metrics that comes from request records. */
export interface SummaryView {
  readonly requests: { readonly total: number; readonly errors: number; readonly by_status: Record<string, number> }
  readonly latency_ms: Percentiles
  readonly ttft_ms: Percentiles
  readonly by_model: ReadonlyArray<ModelJson>
  readonly cost_usd: { readonly total: number; readonly unknown_requests: number }
  readonly cache: { readonly hits: number; readonly misses: number; readonly bypass: number; readonly hit_rate: number | null }
  readonly timeline: ReadonlyArray<MinuteJson>
  readonly recent: ReadonlyArray<RecentJson>
}

interface ModelTotals {
  readonly clientModel: string
  readonly upstreamModel: string | null
  requests: number
  inputTokens: number
  outputTokens: number
  cacheReadTokens: number
  reasoningTokens: number
  costUsd: number
  knownCost: number
  unknownCost: number
}

/**
 * Requests and errors per minute, in a ring of the last hour's slots indexed by minute number. A request counts in
 * the minute it finished: its record's start plus duration, both read from the `Clock` by the logging stage.
 */
class Timeline {
  private readonly minutes = new Float64Array(MINUTES).fill(-1)
  private readonly requests = new Uint32Array(MINUTES)
  private readonly errors = new Uint32Array(MINUTES)

  add(atMs: number, error: boolean): void {
    const minute = Math.floor(atMs / MINUTE_MS)
    const slot = minute % MINUTES
    const held = this.minutes[slot]!
    if (minute < held) return // older than the hour the ring holds
    if (minute > held) {
      this.minutes[slot] = minute
      this.requests[slot] = 0
      this.errors[slot] = 0
    }
    this.requests[slot]!++
    if (error) this.errors[slot]!++
  }

  /** The 60 minutes up to and including now's, oldest first, zeros where nothing finished. */
  view(nowMs: number): Array<MinuteJson> {
    const current = Math.floor(nowMs / MINUTE_MS)
    const out: Array<MinuteJson> = []
    for (let minute = current - MINUTES + 1; minute <= current; minute++) {
      const slot = ((minute % MINUTES) + MINUTES) % MINUTES
      const here = this.minutes[slot] === minute
      out.push({
        minute: new Date(minute * MINUTE_MS).toISOString(),
        requests: here ? this.requests[slot]! : 0,
        errors: here ? this.errors[slot]! : 0
      })
    }
    return out
  }
}

const recentJson = (record: RequestRecord): RecentJson => ({
  time: new Date(record.startedAt + record.durationMs).toISOString(),
  id: record.id,
  client_model: record.clientModel,
  upstream_model: record.upstreamModel,
  status: record.status,
  stream: record.stream,
  input_tokens: record.inputTokens,
  output_tokens: record.outputTokens,
  cost_usd: record.costUsd,
  ttft_ms: record.ttftMs,
  duration_ms: record.durationMs,
  cache: record.cache,
  error: record.error
})

const modelJson = (m: ModelTotals): ModelJson => ({
  client_model: m.clientModel,
  upstream_model: m.upstreamModel,
  requests: m.requests,
  input_tokens: m.inputTokens,
  output_tokens: m.outputTokens,
  cache_read_tokens: m.cacheReadTokens,
  reasoning_tokens: m.reasoningTokens,
  cost_usd: m.knownCost === 0 && m.unknownCost > 0 ? null : m.costUsd,
  unknown_cost_requests: m.unknownCost
})

export class Summary {
  private total = 0
  private errors = 0
  private readonly byStatus = new Map<number, number>()
  private readonly latency = new LatencySketch()
  private readonly ttft = new LatencySketch()
  private readonly models = new Map<string, ModelTotals>()
  private costUsd = 0
  private unknownCost = 0
  private hits = 0
  private misses = 0
  private bypass = 0
  private readonly timeline = new Timeline()
  /** A ring; `next` is where the next record goes, so the newest is just before it. */
  private readonly recent: Array<RequestRecord | undefined> = new Array(RECENT)
  private next = 0

  add(record: RequestRecord): void {
    const error = isError(record)
    this.total++
    if (error) this.errors++
    this.byStatus.set(record.status, (this.byStatus.get(record.status) ?? 0) + 1)
    this.latency.add(record.durationMs)
    if (record.ttftMs !== null) this.ttft.add(record.ttftMs)

    const model = this.modelOf(record)
    model.requests++
    model.inputTokens += record.inputTokens ?? 0
    model.outputTokens += record.outputTokens ?? 0
    model.cacheReadTokens += record.cacheReadTokens ?? 0
    model.reasoningTokens += record.reasoningTokens ?? 0
    if (record.costUsd !== null) {
      model.costUsd += record.costUsd
      model.knownCost++
      this.costUsd += record.costUsd
    } else if (hasUsage(record)) {
      model.unknownCost++
      this.unknownCost++
    }

    if (record.cache === "hit") this.hits++
    else if (record.cache === "miss") this.misses++
    else if (record.cache === "bypass") this.bypass++

    this.timeline.add(record.startedAt + record.durationMs, error)
    this.recent[this.next] = record
    this.next = (this.next + 1) % RECENT
  }

  private modelOf(record: RequestRecord): ModelTotals {
    const key = record.upstreamModel === null ? record.clientModel : `${record.clientModel}\u0000${record.upstreamModel}`
    let model = this.models.get(key)
    if (model === undefined) {
      const full = this.models.size >= MAX_MODELS
      model = this.models.get(full ? OTHER_KEY : key)
      if (model === undefined) {
        model = {
          clientModel: full ? OTHER : record.clientModel,
          upstreamModel: full ? OTHER : record.upstreamModel,
          requests: 0,
          inputTokens: 0,
          outputTokens: 0,
          cacheReadTokens: 0,
          reasoningTokens: 0,
          costUsd: 0,
          knownCost: 0,
          unknownCost: 0
        }
        this.models.set(full ? OTHER_KEY : key, model)
      }
    }
    return model
  }

  view(nowMs: number): SummaryView {
    const byStatus: Record<string, number> = {}
    for (const [status, count] of [...this.byStatus].sort((a, b) => a[0] - b[0])) byStatus[String(status)] = count
    const recent: Array<RecentJson> = []
    for (let i = 1; i <= RECENT; i++) {
      const record = this.recent[(this.next - i + RECENT) % RECENT]
      if (record === undefined) break
      recent.push(recentJson(record))
    }
    const cacheable = this.hits + this.misses
    return {
      requests: { total: this.total, errors: this.errors, by_status: byStatus },
      latency_ms: this.latency.percentiles(),
      ttft_ms: this.ttft.percentiles(),
      by_model: [...this.models.values()].sort((a, b) => b.requests - a.requests).map(modelJson),
      cost_usd: { total: this.costUsd, unknown_requests: this.unknownCost },
      // A bypass is a request the cache never looked up, so it is neither a hit nor a miss.
      cache: { hits: this.hits, misses: this.misses, bypass: this.bypass, hit_rate: cacheable === 0 ? null : this.hits / cacheable },
      timeline: this.timeline.view(nowMs),
      recent
    }
  }
}
