/**
 * One structured log line per request: id, client and upstream model, status, duration, tokens. For streams the
 * line is written when the stream ends (or the client goes away), with the usage the stream reported.
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { type ProxyError, toAnthropicError } from "../errors.ts"
import type { StreamEvent, Usage } from "../protocol/anthropic.ts"
import type { ProxyReply, ProxyRequest, Stage } from "./stage.ts"

interface Outcome {
  readonly status: number
  readonly upstreamModel?: string | undefined
  readonly usage?: Partial<Usage> | undefined
  readonly error?: string | undefined
  /** A bug of ours: the whole cause, for the log only (the client gets a plain internal error). */
  readonly defect?: string | undefined
  readonly stopReason?: string | null | undefined
}

/** Folds the usage a stream reports: message_start has the estimate, message_delta the final counts. */
const observeUsage = (events: ReadonlyArray<StreamEvent>, into: { usage?: Partial<Usage>; stop?: string | null; error?: string }) => {
  for (const event of events) {
    if (event.type === "message_start") into.usage = { ...event.message.usage }
    else if (event.type === "message_delta") {
      into.usage = { ...into.usage, ...event.usage }
      into.stop = event.delta.stop_reason
    } else if (event.type === "error") into.error = `${event.error.type}: ${event.error.message}`
  }
}

/** What the log line needs from the request: kept instead of the request, so an open stream does not hold its body. */
interface Subject {
  readonly id: string
  readonly model: string
  readonly stream: boolean
  readonly key: string | undefined
}

const subjectOf = (request: ProxyRequest): Subject => ({
  id: request.id,
  model: request.body.model,
  stream: request.body.stream === true,
  key: request.client.keyFingerprint
})

type Write = (subject: Subject, started: number, outcome: Outcome) => Effect.Effect<void>

/**
 * The stream, logged when it ends with the usage it reported. A module-level function so the closures that live as
 * long as the stream capture only these arguments, never the request around them.
 */
const observed = (
  events: Stream.Stream<StreamEvent, ProxyError>,
  subject: Subject,
  started: number,
  upstreamModel: string | undefined,
  write: Write
): Stream.Stream<StreamEvent, ProxyError> =>
  // One stage (not mapArray + onExit): each stage costs every chunk a step and every open stream its closures.
  Stream.transformPullBracket(events, (pull, _scope, streamScope) => {
    const seen: { usage?: Partial<Usage>; stop?: string | null; error?: string } = {}
    const logWhenDone = Scope.addFinalizerExit(streamScope, (exit) =>
      Effect.suspend(() =>
        write(subject, started, {
          status: Exit.isSuccess(exit) ? 200 : streamFailureStatus(exit),
          upstreamModel,
          usage: seen.usage,
          stopReason: seen.stop,
          error: Exit.isSuccess(exit) ? undefined : describeFailure(exit.cause, "stream interrupted"),
          defect: Exit.isSuccess(exit) ? undefined : defectOf(exit.cause)
        })))
    return Effect.as(
      logWhenDone,
      Effect.map(pull, (chunk) => {
        observeUsage(chunk, seen)
        return chunk
      })
    )
  })

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

const settle = (exit: Exit.Exit<ProxyReply, ProxyError>, subject: Subject, started: number, write: Write) => {
  if (Exit.isFailure(exit)) {
    const failure = Cause.findErrorOption(exit.cause)
    const status = Option.isSome(failure) ? toAnthropicError(failure.value).status : Cause.hasDies(exit.cause) ? 500 : 499
    return Effect.andThen(
      write(subject, started, { status, error: describeFailure(exit.cause, "interrupted"), defect: defectOf(exit.cause) }),
      exit
    )
  }
  const reply = exit.value
  if (reply._tag === "Stream") {
    return Effect.succeed<ProxyReply>({ ...reply, events: observed(reply.events, subject, started, reply.upstreamModel, write) })
  }
  return Effect.as(
    write(subject, started, {
      status: 200,
      upstreamModel: reply.upstreamModel,
      usage: reply.message.usage,
      stopReason: reply.message.stop_reason
    }),
    reply
  )
}

/** Runs the rest of the pipeline and logs its outcome (a stream's when it ends); the request itself is not kept. */
const timed = <R>(handled: Effect.Effect<ProxyReply, ProxyError, R>, subject: Subject, started: number, write: Write) =>
  Effect.flatMap(Effect.exit(handled), (exit) => settle(exit, subject, started, write))

const write: Write = (subject, started, outcome) =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => {
    const fields = {
      request_id: subject.id,
      client_model: subject.model,
      upstream_model: outcome.upstreamModel ?? null,
      stream: subject.stream,
      status: outcome.status,
      duration_ms: now - started,
      input_tokens: outcome.usage?.input_tokens ?? null,
      output_tokens: outcome.usage?.output_tokens ?? null,
      cache_read_input_tokens: outcome.usage?.cache_read_input_tokens ?? null,
      stop_reason: outcome.stopReason ?? null,
      ...(subject.key ? { client_key: subject.key } : {}),
      ...(outcome.error ? { error: outcome.error } : {}),
      ...(outcome.defect ? { cause: outcome.defect } : {})
    }
    return outcome.status >= 500 || outcome.error ? Effect.logWarning("request", fields) : Effect.logInfo("request", fields)
  })

export const logging: Stage = {
  name: "logging",
  // The clock starts before the stages inside run: the core converts and serialises when it is called.
  wrap: (next) => (request) =>
    Effect.flatMap(Clock.currentTimeMillis, (started) => timed(next(request), subjectOf(request), started, write))
}
