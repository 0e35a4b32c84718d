/**
 * Observes each request from the outside of the pipeline and, when it ends (a stream's when its last event is out,
 * or its client goes away), builds its `RequestRecord`: status, duration, time to first token, usage, cost, cache
 * outcome, retries. The record becomes the request's log line and goes to every `RequestSink` (metrics, the
 * dashboard's recent requests).
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { type ProxyError, toAnthropicError } from "../errors.ts"
import { streamClosed, streamOpened } from "../observability/metrics.ts"
import { type RequestRecord, type RequestSinkShape, RequestSinks, RequestStats, type RequestStatsShape, type StreamSeen } from "../observability/record.ts"
import type { StreamEvent, Usage } from "../protocol/anthropic.ts"
import { type Handler, handOff, type ProxyReply, type ProxyRequest, type Stage } from "./stage.ts"
import { emptySeen, watchStream } from "./stream-watch.ts"

/** Prices a reply's usage; null when the model's price is unknown. */
export type CostOf = (upstream: string, model: string, usage: Partial<Usage>) => number | null

/** What the record needs from the request: kept instead of the request, so an open stream does not hold its body. */
interface Subject {
  readonly id: string
  readonly model: string
  readonly stream: boolean
  readonly key: string | undefined
  /** Set when the request enters the stage. */
  startedAt: number
  /** Its `seen` is always there: this stage is the observer. */
  readonly stats: RequestStatsShape & { readonly seen: StreamSeen }
}

interface Outcome {
  readonly status: number
  readonly upstreamModel?: string | undefined
  readonly usage?: Partial<Usage> | undefined
  readonly firstTokenAt?: number | undefined
  readonly error?: string | undefined
  /** A bug of ours: the whole cause, for the log only (the client gets a plain internal error). */
  readonly defect?: string | undefined
  readonly stopReason?: string | null | undefined
}

/** A typed failure as the client saw it (`type: message`); interruptions and defects as `fallback`. */
const describeFailure = (cause: Cause.Cause<ProxyError>, fallback: string): string => {
  const failure = Cause.findErrorOption(cause)
  if (Option.isNone(failure)) return Cause.hasDies(cause) ? "internal error" : fallback
  const error = toAnthropicError(failure.value)
  return `${error.type}: ${error.message}`
}

const defectOf = (cause: Cause.Cause<ProxyError>): string | undefined =>
  Cause.hasDies(cause) ? Cause.pretty(cause) : undefined

/** A stream that failed after its headers were out still answered 200; the client went away if nothing failed. */
const streamFailureStatus = (exit: Exit.Failure<unknown, ProxyError>): number =>
  Option.isSome(Cause.findErrorOption(exit.cause)) || Cause.hasDies(exit.cause) ? 200 : 499

type Finish = (subject: Subject, outcome: Outcome) => Effect.Effect<void>

/** The stream, watched into the request's stats and recorded when it ends with what it reported. */
const observed = (
  events: Stream.Stream<StreamEvent, ProxyError>,
  subject: Subject,
  upstreamModel: string | undefined,
  finish: Finish,
  claim: { started: boolean }
): Stream.Stream<StreamEvent, ProxyError> =>
  watchStream(
    events,
    subject.stats.seen,
    (seen) =>
      Effect.andThen(streamClosed, () => {
        const exit = seen.exit!
        return finish(subject, {
          status: Exit.isSuccess(exit) ? 200 : streamFailureStatus(exit),
          upstreamModel,
          usage: seen.usage,
          firstTokenAt: seen.firstTokenAt,
          stopReason: seen.stopReason,
          error: seen.error ?? (Exit.isSuccess(exit) ? undefined : describeFailure(exit.cause, "stream interrupted")),
          defect: Exit.isSuccess(exit) ? undefined : defectOf(exit.cause)
        })
      }),
    Effect.suspend(() => {
      claim.started = true
      return streamOpened
    })
  )

const settleFailure = (exit: Exit.Failure<ProxyReply, ProxyError>, subject: Subject, finish: Finish) => {
  const failure = Cause.findErrorOption(exit.cause)
  const status = Option.isSome(failure) ? toAnthropicError(failure.value).status : Cause.hasDies(exit.cause) ? 500 : 499
  return finish(subject, { status, error: describeFailure(exit.cause, "interrupted"), defect: defectOf(exit.cause) })
}

const settleReply = (reply: ProxyReply, subject: Subject, finish: Finish): Effect.Effect<ProxyReply, never, Scope.Scope> => {
  if (reply._tag === "Stream") {
    // A stream whose client left before it was first pulled never runs its own finalizer: the request scope's end
    // records it then.
    const claim = { started: false }
    // Scope.addFinalizer: Effect.addFinalizer would copy the fiber's services into the finalizer, per request.
    const unstarted = Effect.flatMap(Effect.scope, (scope) =>
      Scope.addFinalizer(
        scope,
        Effect.suspend(() =>
          claim.started
            ? Effect.void
            : finish(subject, { status: 499, upstreamModel: reply.upstreamModel, error: "client left before the stream started" }))
      ))
    return Effect.as(unstarted, { ...reply, events: observed(reply.events, subject, reply.upstreamModel, finish, claim) })
  }
  return Effect.clockWith((clock) =>
    Effect.as(
      finish(subject, {
        status: 200,
        upstreamModel: reply.upstreamModel,
        usage: reply.message.usage,
        firstTokenAt: clock.currentTimeMillisUnsafe(),
        stopReason: reply.message.stop_reason
      }),
      reply
    ))
}

const nullable = (value: number | undefined): number | null => value ?? null

const toRecord = (subject: Subject, outcome: Outcome, now: number, costOf: CostOf | undefined): RequestRecord => {
  const usage = outcome.usage
  const upstreamModel = outcome.upstreamModel ?? null
  return {
    startedAt: subject.startedAt,
    id: subject.id,
    route: "messages",
    clientModel: subject.model,
    upstream: subject.stats.upstream,
    upstreamModel,
    routedBy: subject.stats.routedBy,
    failedOver: subject.stats.failedOver ?? [],
    stream: subject.stream,
    status: outcome.status,
    durationMs: now - subject.startedAt,
    ttftMs: outcome.firstTokenAt === undefined ? null : outcome.firstTokenAt - subject.startedAt,
    inputTokens: nullable(usage?.input_tokens),
    outputTokens: nullable(usage?.output_tokens),
    cacheReadTokens: nullable(usage?.cache_read_input_tokens),
    cacheCreationTokens: nullable(usage?.cache_creation_input_tokens),
    reasoningTokens: nullable(usage?.output_tokens_details?.thinking_tokens),
    // A cache hit, or an answer shared with an identical request's call, cost the upstream nothing more.
    costUsd: subject.stats.cache === "hit" || subject.stats.cache === "shared"
      ? 0
      : usage === undefined || upstreamModel === null || subject.stats.upstream === null || costOf === undefined
      ? null
      : costOf(subject.stats.upstream, upstreamModel, usage),
    cache: subject.stats.cache,
    retries: subject.stats.retries,
    stopReason: outcome.stopReason ?? null,
    clientKey: subject.key ?? null,
    error: outcome.error ?? null
  }
}

/** The request's log line: the record's facts under the field names the proxy has always logged. */
const logLine = (record: RequestRecord, defect: string | undefined) => {
  const fields = {
    request_id: record.id,
    client_model: record.clientModel,
    upstream: record.upstream,
    upstream_model: record.upstreamModel,
    ...(record.routedBy === null ? {} : { routed_by: record.routedBy }),
    ...(record.failedOver.length === 0 ? {} : { failed_over: record.failedOver }),
    stream: record.stream,
    status: record.status,
    duration_ms: record.durationMs,
    ttft_ms: record.ttftMs,
    input_tokens: record.inputTokens,
    output_tokens: record.outputTokens,
    cache_read_input_tokens: record.cacheReadTokens,
    cost_usd: record.costUsd,
    stop_reason: record.stopReason,
    retries: record.retries,
    ...(record.cache === null ? {} : { cache: record.cache }),
    ...(record.clientKey === null ? {} : { client_key: record.clientKey }),
    ...(record.error === null ? {} : { error: record.error }),
    ...(defect === undefined ? {} : { cause: defect })
  }
  return record.status >= 500 || record.error !== null ? Effect.logWarning("request", fields) : Effect.logInfo("request", fields)
}

/**
 * The request, observed from the outside. Module-level, so the closures that live as long as the request (its
 * `onExit`) cannot reach the request itself and its body (see `handOff`).
 */
const observe = (subject: Subject, handed: () => ReturnType<Handler>, finish: Finish): ReturnType<Handler> =>
  Effect.clockWith((clock) => {
    // The clock starts before the stages inside run: the core converts and serialises when it is called.
    subject.startedAt = clock.currentTimeMillisUnsafe()
    // onExit, not exit + flatMap: a client that hangs up interrupts the request, and that ending is logged too.
    const handled = Effect.onExit(
      Effect.provideService(Effect.suspend(handed), RequestStats, subject.stats),
      (exit) => Exit.isFailure(exit) ? settleFailure(exit, subject, finish) : Effect.void
    )
    return Effect.flatMap(handled, (reply) => settleReply(reply, subject, finish))
  })

/** The logging stage; `costOf` prices usage (absent: costs are unknown). Sinks come from `RequestSinks` if provided. */
export const makeLogging = (costOf?: CostOf): Effect.Effect<Stage> =>
  Effect.map(Effect.serviceOption(RequestSinks), (found) => {
    const sinks: ReadonlyArray<RequestSinkShape> = Option.getOrElse(found, () => [])
    // Composed once: a forEach per request would cost its own steps for what is usually one sink.
    const toSinks = sinks.reduce<((record: RequestRecord) => Effect.Effect<void>) | undefined>(
      (before, sink) => before === undefined ? sink.record : (record) => Effect.andThen(before(record), sink.record(record)),
      undefined
    )
    const finish: Finish = (subject, outcome) =>
      Effect.clockWith((clock) => {
        const record = toRecord(subject, outcome, clock.currentTimeMillisUnsafe(), costOf)
        const logged = logLine(record, outcome.defect)
        return toSinks === undefined ? logged : Effect.andThen(logged, toSinks(record))
      })

    const start = (request: ProxyRequest): Subject => ({
      id: request.id,
      model: request.body.model,
      stream: request.body.stream === true,
      key: request.client.keyFingerprint,
      startedAt: 0,
      stats: { upstream: null, routedBy: null, failedOver: null, retries: 0, cache: null, seen: emptySeen() }
    })

    return {
      name: "logging",
      wrap: (next) => (request) => observe(start(request), handOff(next, request), finish)
    }
  })

/** The logging stage without prices. */
export const logging: Effect.Effect<Stage> = makeLogging()
