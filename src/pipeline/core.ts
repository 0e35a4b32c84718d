/**
 * The core handler, innermost in the pipeline: call the upstream with the converted request, convert the answer
 * back. Everything here is wiring; the conversions are pure functions and the upstream is a service.
 */
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import { ProxyConfig } from "../config.ts"
import { type ReplyContext, toMessage } from "../convert/response.ts"
import { type StreamContext, toEvents } from "../convert/stream.ts"
import type { ProxyError } from "../errors.ts"
import type { ChatResponse, UpstreamEvent } from "../protocol/openai.ts"
import { secretValues, Upstream } from "../upstream/Upstream.ts"
import { randomId } from "../util/ids.ts"
import { convert, profiles } from "./conversion.ts"
import { currentConversion, type Handler, messageReply, type ProxyReply, streamReply } from "./stage.ts"

/**
 * The call and what comes back, as module-level functions: the closures that wait for the upstream capture only
 * their arguments, never the request or its converted copy, which are garbage once the body is serialised.
 */
const streamed = (
  call: Effect.Effect<Stream.Stream<UpstreamEvent, ProxyError>, ProxyError, Scope.Scope>,
  context: Omit<StreamContext, "messageId">,
  upstreamModel: string
): Effect.Effect<ProxyReply, ProxyError, Scope.Scope> =>
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

export const core: Effect.Effect<Handler, never, Upstream | ProxyConfig> = Effect.gen(function*() {
  const upstreams = yield* Upstream
  const config = yield* ProxyConfig
  const secrets = secretValues(config)
  const profileOf = profiles(config)

  return (request) => {
    // A stage after the conversion stage that changed the body or the model gets the conversion made again here.
    let conversion = currentConversion(request)
    if (conversion === undefined) {
      const converted = convert(request, profileOf(request.upstream))
      if (Result.isFailure(converted)) return Effect.fail(converted.failure)
      conversion = converted.success
    }
    const chat = conversion.request
    const provider = profileOf(request.upstream)
    const context = { clientModel: request.body.model, toolNames: conversion.toolNames, secrets, provider }
    const upstream = upstreams.provider(request.upstream)
    return chat.stream
      ? streamed(upstream.stream(chat), { ...context, inputTokens: request.estimatedTokens }, request.upstreamModel)
      : completed(upstream.complete(chat), context, request.upstreamModel)
  }
})
