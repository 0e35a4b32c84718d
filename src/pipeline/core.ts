/**
 * The core handler, innermost in the pipeline: convert the request, call the upstream, convert the answer back.
 * Everything here is wiring; the conversions are pure functions and the upstream is a service.
 */
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import { ProxyConfig } from "../config.ts"
import { toChatRequest } from "../convert/request.ts"
import { toMessage } from "../convert/response.ts"
import { toEvents } from "../convert/stream.ts"
import { Log } from "../log.ts"
import { secretValues, Upstream } from "../upstream/Upstream.ts"
import { randomId } from "../util/ids.ts"
import { type Handler, messageReply, streamReply } from "./stage.ts"

/** Four bytes of request JSON per token is a fair first guess; the final usage overwrites it. */
const BYTES_PER_TOKEN = 4

export const core: Effect.Effect<Handler, never, Upstream | ProxyConfig | Log> = Effect.gen(function*() {
  const upstream = yield* Upstream
  const config = yield* ProxyConfig
  const log = yield* Log
  const secrets = secretValues(config)

  return (request) =>
    Effect.gen(function*() {
      const converted = toChatRequest(request.body, { model: request.upstreamModel, provider: config.provider })
      if (Result.isFailure(converted)) return yield* Effect.fail(converted.failure)
      const { request: chat, toolNames, notes } = converted.success
      if (notes.length > 0 && log.enabled("debug")) {
        log.write("debug", "conversion notes", { request_id: request.id, notes })
      }
      const context = { messageId: yield* randomId("msg_"), clientModel: request.body.model, toolNames, secrets }

      if (chat.stream) {
        const chunks = yield* upstream.stream(chat)
        const events = toEvents({ ...context, inputTokens: Math.round(request.receivedBytes / BYTES_PER_TOKEN) })(chunks)
        return streamReply(events, request.upstreamModel)
      }
      const response = yield* upstream.complete(chat)
      const message = toMessage(response, context)
      if (Result.isFailure(message)) return yield* Effect.fail(message.failure)
      return messageReply(message.success, request.upstreamModel)
    })
})
