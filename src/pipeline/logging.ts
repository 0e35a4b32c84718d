/**
 * One structured log line per request: id, client and upstream model, status, duration, tokens. For streams the
 * line is written when the stream ends (or the client goes away), with the usage the stream reported.
 */
import { Cause, Clock, Effect, Exit, Option, Stream } from "effect"
import { type ProxyError, toAnthropicError } from "../errors.ts"
import { Log } from "../log.ts"
import type { StreamEvent, Usage } from "../protocol/anthropic.ts"
import type { ProxyRequest, Stage } from "./stage.ts"

interface Outcome {
  readonly status: number
  readonly upstreamModel?: string | undefined
  readonly usage?: Partial<Usage> | undefined
  readonly error?: string | undefined
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

export const logging: Effect.Effect<Stage, never, Log> = Effect.map(Log, (log) => {
  const write = (request: ProxyRequest, started: number, now: number, outcome: Outcome) =>
    log.write(outcome.status >= 500 || outcome.error ? "warn" : "info", "request", {
      request_id: request.id,
      client_model: request.body.model,
      upstream_model: outcome.upstreamModel ?? null,
      stream: request.body.stream === true,
      status: outcome.status,
      duration_ms: now - started,
      input_tokens: outcome.usage?.input_tokens ?? null,
      output_tokens: outcome.usage?.output_tokens ?? null,
      cache_read_input_tokens: outcome.usage?.cache_read_input_tokens ?? null,
      stop_reason: outcome.stopReason ?? null,
      ...(outcome.error ? { error: outcome.error } : {})
    })

  return {
    name: "logging",
    wrap: (next) => (request) =>
      Effect.gen(function*() {
        const started = yield* Clock.currentTimeMillis
        const exit = yield* Effect.exit(next(request))
        const now = yield* Clock.currentTimeMillis
        if (Exit.isFailure(exit)) {
          const failure = Cause.findErrorOption(exit.cause)
          const error = Option.isSome(failure) ? toAnthropicError(failure.value as ProxyError) : undefined
          write(request, started, now, {
            status: error?.status ?? 499,
            error: error ? `${error.type}: ${error.message}` : "interrupted"
          })
          return yield* exit
        }
        const reply = exit.value
        if (reply._tag === "Message") {
          write(request, started, now, {
            status: 200,
            upstreamModel: reply.upstreamModel,
            usage: reply.message.usage,
            stopReason: reply.message.stop_reason
          })
          return reply
        }
        const seen: { usage?: Partial<Usage>; stop?: string | null; error?: string } = {}
        const events = reply.events.pipe(
          Stream.mapArray((chunk) => {
            observeUsage(chunk, seen)
            return chunk
          }),
          Stream.onExit((streamExit) =>
            Effect.flatMap(Clock.currentTimeMillis, (end) =>
              Effect.sync(() =>
                write(request, started, end, {
                  status: Exit.isSuccess(streamExit) ? 200 : 499,
                  upstreamModel: reply.upstreamModel,
                  usage: seen.usage,
                  stopReason: seen.stop,
                  error: seen.error ?? (Exit.isSuccess(streamExit) ? undefined : "stream interrupted")
                })
              ))
          )
        )
        return { ...reply, events }
      })
  }
})
