/**
 * The HTTP edge: routes, request ids, body decoding, and rendering replies and errors. Routing is a small table
 * matched on the path alone (the query string, such as Claude Code's `?beta=true`, never affects it).
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as HttpServer from "effect/http/HttpServer"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Http from "node:http"
import { ProxyConfig, type ProxyConfigShape } from "../config.ts"
import { MethodNotAllowed, type ProxyError, RouteNotFound, InvalidRequest } from "../errors.ts"
import { Log } from "../log.ts"
import { CountTokensRequest, MessagesRequest, type StreamEvent } from "../protocol/anthropic.ts"
import { Pipeline } from "../pipeline/pipeline.ts"
import { encodeEvents } from "../sse/encode.ts"
import { Tokenizer } from "../tokens.ts"
import { randomId } from "../util/ids.ts"
import { jsonBodyReader } from "./body.ts"
import { errorBody, renderDefect, renderError } from "./errors.ts"
import { listModels, modelInfos } from "./models.ts"

type Route = (
  request: HttpServerRequest.HttpServerRequest,
  requestId: string,
  params: { readonly query: URLSearchParams; readonly tail: string }
) => Effect.Effect<HttpServerResponse.HttpServerResponse, ProxyError>

const json = (body: unknown, requestId: string, status = 200) =>
  HttpServerResponse.jsonUnsafe(body, { status, headers: { "request-id": requestId } })

const safeDecode = (text: string): string => {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}

const INTERNAL_ERROR_EVENT: StreamEvent = {
  type: "error",
  error: { type: "api_error", message: "Internal proxy error; see the proxy log for this request id" }
}

export const makeApp = Effect.gen(function*() {
  const config = yield* ProxyConfig
  const pipeline = yield* Pipeline
  const tokenizer = yield* Tokenizer
  const log = yield* Log
  const models = modelInfos(config)
  const readMessages = jsonBodyReader(MessagesRequest, config.maxBodyBytes)
  const readCountTokens = jsonBodyReader(CountTokensRequest, config.maxBodyBytes)

  /** A stream reply as SSE; from here on headers are out, so a failure (a user stage, say) becomes an error event. */
  const streamResponse = (events: Stream.Stream<StreamEvent, ProxyError>, requestId: string) =>
    HttpServerResponse.stream(
      encodeEvents(events, (cause): StreamEvent => {
        const error = Cause.findErrorOption(cause)
        if (Option.isSome(error)) return { type: "error", error: errorBody(error.value, requestId).error }
        log.write("error", "stream defect", { request_id: requestId, cause: Cause.pretty(cause) })
        return INTERNAL_ERROR_EVENT
      }),
      {
        contentType: "text/event-stream",
        headers: { "request-id": requestId, "cache-control": "no-cache", "x-accel-buffering": "no" }
      }
    )

  // Not a generator: nothing here may hold the body while the upstream answers, or while the stream runs.
  const messages: Route = (request, requestId) =>
    readMessages(request).pipe(
      Effect.flatMap((body) =>
        pipeline.handle({
          id: requestId,
          body: body.value,
          headers: request.headers,
          upstreamModel: body.value.model,
          receivedBytes: body.bytes
        })
      ),
      Effect.map((reply) =>
        reply._tag === "Message" ? json(reply.message, requestId) : streamResponse(reply.events, requestId)
      )
    )

  const countTokens: Route = (request, requestId) =>
    Effect.map(
      readCountTokens(request),
      (body) => json({ input_tokens: tokenizer.countRequest(body.value) }, requestId)
    )

  const modelList: Route = (_request, requestId, { query }) => {
    const page = listModels(models, {
      limit: query.get("limit") ?? undefined,
      after_id: query.get("after_id") ?? undefined,
      before_id: query.get("before_id") ?? undefined
    })
    return typeof page === "string"
      ? Effect.fail(new InvalidRequest({ message: page }))
      : Effect.succeed(json(page, requestId))
  }

  const modelById: Route = (request, requestId, { tail }) => {
    const model = models.find((m) => m.id === safeDecode(tail))
    return model
      ? Effect.succeed(json(model, requestId))
      : Effect.fail(new RouteNotFound({ method: request.method, path: `/v1/models/${tail}` }))
  }

  const health: Route = (_request, requestId) =>
    Effect.map(Clock.currentTimeMillis, (now) =>
      json({ status: "ok", timestamp: new Date(now).toISOString() }, requestId))

  /** path → method → handler; a path ending in `/*` matches one more segment, passed as `tail`. */
  const routes: Record<string, Partial<Record<string, Route>>> = {
    "/": { GET: health },
    "/health": { GET: health },
    "/v1/messages": { POST: messages },
    "/v1/messages/count_tokens": { POST: countTokens },
    "/v1/models": { GET: modelList },
    "/v1/models/*": { GET: modelById }
  }

  const resolve = (method: string, path: string): { route: Route; tail: string } | ProxyError => {
    const normalised = path.length > 1 ? path.replace(/\/+$/, "") : path
    const slash = normalised.lastIndexOf("/")
    const exact = routes[normalised]
    const wildcard = exact ? undefined : routes[`${normalised.slice(0, slash)}/*`]
    const byMethod = exact ?? wildcard
    if (!byMethod) return new RouteNotFound({ method, path })
    const route = byMethod[method] ?? (method === "HEAD" ? byMethod.GET : undefined)
    if (!route) return new MethodNotAllowed({ method, path, allowed: Object.keys(byMethod) })
    return { route, tail: exact ? "" : normalised.slice(slash + 1) }
  }

  return Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const requestId = yield* randomId("req_")
    const url = request.url
    const q = url.indexOf("?")
    const path = q < 0 ? url : url.slice(0, q)
    const query = new URLSearchParams(q < 0 ? "" : url.slice(q + 1))
    const target = resolve(request.method, path)
    const handled = "route" in target
      ? target.route(request, requestId, { query, tail: target.tail })
      : Effect.fail(target)
    return yield* handled.pipe(
      // The server runs handlers uninterruptibly; we opt in so a client that hangs up (or a shutdown) aborts the
      // upstream call at once, even before its first byte.
      Effect.interruptible,
      Effect.catchCause((cause) => {
        const error = Cause.findErrorOption(cause)
        if (Option.isSome(error)) return Effect.succeed(renderError(error.value, requestId))
        if (Cause.hasInterruptsOnly(cause)) return Effect.failCause(cause)
        log.write("error", "unexpected failure", { request_id: requestId, path, cause: Cause.pretty(cause) })
        return Effect.succeed(renderDefect(requestId))
      })
    )
  })
})

/** Serves the app on the server in context. */
export const layerApp: Layer.Layer<never, never, HttpServer.HttpServer | ProxyConfig | Pipeline | Tokenizer | Log> =
  Layer.unwrap(Effect.map(makeApp, (app) => HttpServer.serve(app)))

/** A Node HTTP server on HOST:PORT from config (PORT 0 picks a free port). */
export const layerNodeServer = (config: Pick<ProxyConfigShape, "host" | "port">) =>
  NodeHttpServer.layer(() => Http.createServer({ keepAliveTimeout: 65_000, requestTimeout: 0 }), {
    host: config.host,
    port: config.port
  })
