/**
 * What the proxy knows about one request once it has ended: the single record that the log line, the metrics, the
 * cost report and the dashboard's recent-requests table are all made from. The observing stage builds it (a stream's
 * when the stream ends) and hands it to every `RequestSink`.
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import type { ProxyError } from "../errors.ts"
import type { Usage } from "../protocol/anthropic.ts"

/** `shared`: answered by an identical request's upstream call already in flight (DEDUPE). */
export type CacheOutcome = "hit" | "miss" | "bypass" | "shared"

export interface RequestRecord {
  /** Epoch millis when the request reached the pipeline. */
  readonly startedAt: number
  readonly id: string
  /** The route: "messages" (the pipeline only sees /v1/messages). */
  readonly route: string
  readonly clientModel: string
  /** The upstream (provider) name; null when the request never got that far. */
  readonly upstream: string | null
  readonly upstreamModel: string | null
  /** Which entry of the route table chose the target (`default`, `background`, `rule`…); null before routing. */
  readonly routedBy: string | null
  /** Targets (`provider,model: what went wrong`) that failed and handed the request on, in the order tried. */
  readonly failedOver: ReadonlyArray<string>
  readonly stream: boolean
  /** 200 for a stream that started, even if it later failed (then `error` says how); 499 when the client left. */
  readonly status: number
  readonly durationMs: number
  /** Time to the first content delta (text, thinking or tool input) of a stream, or to the whole message. */
  readonly ttftMs: number | null
  readonly inputTokens: number | null
  readonly outputTokens: number | null
  readonly cacheReadTokens: number | null
  readonly cacheCreationTokens: number | null
  /** Reasoning tokens the upstream reported (already counted in outputTokens). */
  readonly reasoningTokens: number | null
  /** USD; null when the model's price is unknown (never a guess). */
  readonly costUsd: number | null
  readonly cache: CacheOutcome | null
  /** Upstream attempts beyond the first. */
  readonly retries: number
  readonly stopReason: string | null
  /** Fingerprint of the client's proxy key. */
  readonly clientKey: string | null
  /** `type: message` of the failure, as the client saw it. */
  readonly error: string | null
}

/** Receives every finished request's record (metrics, recent requests, …). Must be cheap and never fail. */
export interface RequestSinkShape {
  readonly record: (record: RequestRecord) => Effect.Effect<void>
}

export class RequestSinks extends Context.Service<RequestSinks, ReadonlyArray<RequestSinkShape>>()("ccproxy/RequestSinks") {}

/**
 * What inner parts of the pipeline learn about a request while it runs (the routed upstream, its retries, the
 * cache's verdict), written into one mutable object the logging stage gives each request and reads when it ends.
 * Mutable on purpose: it costs one allocation per request, where a Ref or a FiberRef would cost effects on the hot
 * path.
 */
export interface RequestStatsShape {
  /** The upstream routing chose (for a fallback chain: the one tried last). */
  upstream: string | null
  /** The route table's entry that chose it. */
  routedBy: string | null
  /** Targets that failed before the last one, as `provider,model: problem`; null until one does. */
  failedOver: Array<string> | null
  retries: number
  cache: CacheOutcome | null
  /**
   * What the request's reply stream showed, written by the logging stage's observer (see `stream-watch.ts`);
   * absent where that observer does not see the stream a stage returns (a de-duplicated call's own stream).
   */
  readonly seen?: StreamSeen | undefined
}

/** What a streamed reply has shown so far; `exit` is set when it has ended. */
export interface StreamSeen {
  usage: Partial<Usage> | undefined
  stopReason: string | null | undefined
  firstTokenAt: number | undefined
  error: string | undefined
  exit: Exit.Exit<unknown, ProxyError> | undefined
}

export class RequestStats extends Context.Service<RequestStats, RequestStatsShape>()("ccproxy/RequestStats") {}

/** Every field of the stats but `seen`: what `withoutStream` passes through, reads and writes alike. */
const COUNTERS = ["upstream", "routedBy", "failedOver", "retries", "cache"] as const satisfies ReadonlyArray<Exclude<keyof RequestStatsShape, "seen">>

/**
 * The same counters without the stream observations: for a call whose stream the request's observer does not see
 * (a de-duplicated flight feeds several requests), so the stages inside it watch that stream themselves.
 */
export const withoutStream = (stats: RequestStatsShape): RequestStatsShape => {
  const view = {} as RequestStatsShape
  for (const key of COUNTERS) {
    Object.defineProperty(view, key, {
      enumerable: true,
      get: () => stats[key],
      set: (value) => {
        ;(stats as Record<typeof key, unknown>)[key] = value
      }
    })
  }
  return view
}
