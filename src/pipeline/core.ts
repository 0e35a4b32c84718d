/**
 * The core handler, innermost in the pipeline: convert the request, call the upstream, convert the answer back.
 * Everything here is wiring; the conversions are pure functions and the upstream is a service.
 */
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import type * as Stream from "effect/Stream"
import { ProxyConfig } from "../config.ts"
import { toChatRequest } from "../convert/request.ts"
import { type ReplyContext, toMessage } from "../convert/response.ts"
import { type StreamContext, toEvents } from "../convert/stream.ts"
import type { ProxyError } from "../errors.ts"
import { Log } from "../log.ts"
import type { ChatResponse, UpstreamEvent } from "../protocol/openai.ts"
import { secretValues, Upstream } from "../upstream/Upstream.ts"
import { randomId } from "../util/ids.ts"
import { type Handler, messageReply, type ProxyReply, streamReply } from "./stage.ts"

/** Four bytes of request JSON per token is a fair first guess; the final usage overwrites it. */
const BYTES_PER_TOKEN = 4

/**
 * The call and what comes back, as module-level functions: the closures that wait for the upstream capture only
 * their arguments, never the request or its converted copy, which are garbage once the body is serialised.
 */
const streamed = (
  call: Effect.Effect<Stream.Stream<UpstreamEvent, ProxyError>, ProxyError>,
  context: Omit<StreamContext, "messageId">,
  upstreamModel: string
): Effect.Effect<ProxyReply, ProxyError> =>
  Effect.flatMap(randomId("msg_"), (messageId) =>
    Effect.map(call, (chunks) => streamReply(toEvents({ ...context, messageId })(chunks), upstreamModel)))

const completed = (
  call: Effect.Effect<ChatResponse, ProxyError>,
  context: Omit<ReplyContext, "messageId">,
  upstreamModel: string
): Effect.Effect<ProxyReply, ProxyError> =>
  Effect.flatMap(randomId("msg_"), (messageId) =>
    Effect.flatMap(call, (response) => {
      const message = toMessage(response, { ...context, messageId })
      return Result.isFailure(message)
        ? Effect.fail(message.failure)
        : Effect.succeed(messageReply(message.success, upstreamModel))
    }))

export const core: Effect.Effect<Handler, never, Upstream | ProxyConfig | Log> = Effect.gen(function*() {
  const upstream = yield* Upstream
  const config = yield* ProxyConfig
  const log = yield* Log
  const secrets = secretValues(config)

  return (request) => {
    const converted = toChatRequest(request.body, { model: request.upstreamModel, provider: config.provider })
    if (Result.isFailure(converted)) return Effect.fail(converted.failure)
    const { request: chat, toolNames, notes } = converted.success
    if (notes.length > 0 && log.enabled("debug")) {
      log.write("debug", "conversion notes", { request_id: request.id, notes })
    }
    const context = { clientModel: request.body.model, toolNames, secrets }
    return chat.stream
      ? streamed(
        upstream.stream(chat),
        { ...context, inputTokens: Math.round(request.receivedBytes / BYTES_PER_TOKEN) },
        request.upstreamModel
      )
      : completed(upstream.complete(chat), context, request.upstreamModel)
  }
})
