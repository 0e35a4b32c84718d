/**
 * The HTTP edge: routes (an `HttpRouter`, so library users can mount their own), request ids, body decoding, and
 * the one place where replies and errors become HTTP. Routes match on the path alone (a query string such as Claude
 * Code's `?beta=true` never affects it) and ignore a trailing slash.
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServer from "effect/http/HttpServer"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import { currentWorker } from "../cluster/identity.ts"
import { ProxyConfig } from "../config.ts"
import { InvalidRequest, isProxyError, MethodNotAllowed, type ProxyError, RouteNotFound } from "../errors.ts"
import { CountTokensRequest, MessagesRequest, type StreamEvent } from "../protocol/anthropic.ts"
import { dashboard } from "../observability/dashboard.ts"
import { Metrics } from "../observability/metrics.ts"
import { Pipeline } from "../pipeline/pipeline.ts"
import { UpstreamBreaker } from "../protection/breaker.ts"
import { ConcurrencyLimiter } from "../protection/concurrency.ts"
import { UpstreamRateLimits } from "../protection/rate-limits.ts"
import { encodeEvents } from "../sse/encode.ts"
import { Tokenizer } from "../tokens.ts"
import { randomId } from "../util/ids.ts"
import { checkStructure } from "../guardrails/structure.ts"
import type { ClientIdentity, ProxyReply } from "../pipeline/stage.ts"
import { isPublicRoute, makeAuthenticator } from "./auth.ts"
import { jsonBodyReader } from "./body.ts"
import { metricsRoutes } from "./metrics-routes.ts"
import { makeUpstreamStatus } from "./upstream-status.ts"
import { makeInboundLimit } from "./inbound-limit.ts"
import { renderDefect, renderError, streamErrorEvent } from "./errors.ts"
import { listModels, modelInfos } from "./models.ts"

/** The request being handled: its id (`req_…`) and who sent it. Set by the edge before any route runs. */
export class RequestInfo extends Context.Service<RequestInfo, { readonly id: string; readonly client: ClientIdentity }>()(
  "ccproxy/RequestInfo"
) {}

type Method = "GET" | "POST"

/** One of our routes: what `HttpRouter` serves, and what the edge needs to answer 405 with `Allow`. */
interface RouteSpec {
  readonly method: Method
  readonly path: HttpRouter.PathInput
  readonly handler: Effect.Effect<HttpServerResponse.HttpServerResponse, ProxyError, HttpRouter.Provided | RequestInfo>
}

const json = (body: unknown, status = 200) => HttpServerResponse.jsonUnsafe(body, { status })

/** Bytes per token of request JSON: a fair first guess for limits and message_start; the real usage replaces it. */
const BYTES_PER_TOKEN = 4

/** Our routes, as specs built once from the services, for as long as the scope (a generation's) lasts. */
export const makeRoutes: Effect.Effect<
  ReadonlyArray<RouteSpec>,
  never,
  ProxyConfig | Pipeline | Tokenizer | UpstreamBreaker | ConcurrencyLimiter | UpstreamRateLimits | Metrics | Scope.Scope
> = Effect.gen(function*() {
  const config = yield* ProxyConfig
  const pipeline = yield* Pipeline
  const tokenizer = yield* Tokenizer
  const status = yield* makeUpstreamStatus
  const models = modelInfos(config)
  // Structural limits run on the parsed JSON before anything recursive (schema decode, conversion, tokenizer) sees it.
  const check = (json: unknown, bytes: number) => checkStructure(json, config.guardrails.limits, bytes)
  const readMessages = jsonBodyReader(MessagesRequest, config.maxBodyBytes, check)
  const readCountTokens = jsonBodyReader(CountTokensRequest, config.maxBodyBytes, check)

  /** A stream reply as SSE; from here on headers are out, so a failure becomes the stream's last event. */
  const streamResponse = (events: Stream.Stream<StreamEvent, ProxyError>) =>
    HttpServerResponse.stream(
      encodeEvents(events, streamErrorEvent),
      { contentType: "text/event-stream", headers: { "cache-control": "no-cache", "x-accel-buffering": "no" } }
    )

  const toResponse = (reply: ProxyReply) => {
    const response = reply._tag === "Message" ? json(reply.message) : streamResponse(reply.events)
    return reply.headers === undefined ? response : HttpServerResponse.setHeaders(response, reply.headers)
  }

  // Not a generator: nothing here may hold the body while the upstream answers, or while the stream runs.
  const messages = (request: HttpServerRequest.HttpServerRequest, info: RequestInfo["Service"]) =>
    Effect.map(
      Effect.flatMap(readMessages(request), (body) =>
        pipeline.handle({
          id: info.id,
          body: body.value,
          headers: request.headers,
          client: info.client,
          // Until the routing stage chooses: the default route's first provider.
          upstream: config.routes.default[0].provider,
          upstreamModel: body.value.model,
          receivedBytes: body.bytes,
          estimatedTokens: Math.round(body.bytes / BYTES_PER_TOKEN)
        })),
      toResponse
    )

  const withRequest = <A, E, R>(
    f: (request: HttpServerRequest.HttpServerRequest, info: RequestInfo["Service"]) => Effect.Effect<A, E, R>
  ) =>
    Effect.flatMap(Effect.service(HttpServerRequest.HttpServerRequest), (request) =>
      Effect.flatMap(Effect.service(RequestInfo), (info) => f(request, info)))

  const countTokens = withRequest((request) =>
    Effect.map(readCountTokens(request), (body) => json({ input_tokens: tokenizer.countRequest(body.value) })))

  const modelList = Effect.flatMap(Effect.service(HttpServerRequest.ParsedSearchParams), (query) => {
    const first = (name: string) => {
      const value = query[name]
      return Array.isArray(value) ? value[0] : value
    }
    const page = listModels(models, { limit: first("limit"), after_id: first("after_id"), before_id: first("before_id") })
    return typeof page === "string" ? Effect.fail(new InvalidRequest({ message: page })) : Effect.succeed(json(page))
  })

  const modelById = Effect.flatMap(HttpRouter.params, (params) => {
    const model = models.find((m) => m.id === params.id)
    return model
      ? Effect.succeed(json(model))
      : Effect.fail(new RouteNotFound({ method: "GET", path: `/v1/models/${params.id}` }))
  })

  /** Still 200 while the proxy itself serves; "degraded" when an upstream's circuit is not closed. */
  const worker = currentWorker()
  const health = Effect.map(Effect.all([Clock.currentTimeMillis, status.upstreams]), ([now, all]) =>
    json({
      status: all.every((u) => u.circuit === "closed") ? "ok" : "degraded",
      timestamp: new Date(now).toISOString(),
      // For `ccproxy reload` on this machine: whom to signal, and whether the new config took. In a cluster, the
      // primary (it passes SIGHUP on to every worker), and which worker answered.
      pid: worker === undefined ? process.pid : process.ppid,
      ...(worker === undefined ? {} : { worker: { id: worker.slot, of: worker.workers, pid: process.pid } }),
      config: {
        file: config.configFile ?? null,
        loaded_at: config.loadedAt === undefined ? null : new Date(config.loadedAt).toISOString()
      },
      upstreams: all.map((u) => ({
        name: u.name,
        circuit: u.circuit,
        in_flight: u.inFlight,
        queued: u.queued,
        max_concurrent: u.maxConcurrent,
        rate_limits: { rpm: u.rpm, tpm: u.tpm, cool_down_ms: u.coolDownMillis }
      }))
    }))

  return [
    { method: "GET", path: "/", handler: health },
    { method: "GET", path: "/health", handler: health },
    { method: "POST", path: "/v1/messages", handler: withRequest(messages) },
    { method: "POST", path: "/v1/messages/count_tokens", handler: countTokens },
    { method: "GET", path: "/v1/models", handler: modelList },
    { method: "GET", path: "/v1/models/:id", handler: modelById },
    { method: "GET", path: "/dashboard", handler: dashboard },
    ...(yield* metricsRoutes)
  ] satisfies ReadonlyArray<RouteSpec>
})

/** `/v1/models/:id` matches `/v1/models/x`: for the 405 answer, which the router itself does not give. */
const matches = (pattern: string, path: string): boolean => {
  const want = pattern.split("/")
  const got = path.split("/")
  return want.length === got.length && want.every((part, i) => part.startsWith(":") ? got[i] !== "" : part === got[i])
}

const pathOf = (url: string): string => {
  const q = url.indexOf("?")
  const path = q < 0 ? url : url.slice(0, q)
  return path.length > 1 ? path.replace(/\/+$/, "") : path
}

const ROUTER_CONFIG = { ignoreTrailingSlash: true, ignoreDuplicateSlashes: true }

/**
 * The app: our routes and the caller's own (`HttpRouter` layers) behind one edge that gives each request its id and
 * turns every failure into Anthropic's error shape.
 */
export const makeApp = <E, R>(extraRoutes: Layer.Layer<never, E, R>) =>
  Effect.gen(function*() {
    const specs = yield* makeRoutes
    const config = yield* ProxyConfig
    const authenticate = makeAuthenticator(config.inbound.apiKeys)
    const inboundLimit = config.inbound.rateLimit === undefined ? undefined : makeInboundLimit(config.inbound.rateLimit)
    const ours = HttpRouter.addAll(specs.map((spec) => HttpRouter.route(spec.method, spec.path, spec.handler)))
    const routed = yield* HttpRouter.toHttpEffect(Layer.mergeAll(ours, extraRoutes)).pipe(
      Effect.provideService(HttpRouter.RouterConfig, ROUTER_CONFIG)
    )

    const notFound = (request: HttpServerRequest.HttpServerRequest): ProxyError => {
      const path = pathOf(request.url)
      const allowed = specs.filter((spec) => matches(spec.path, path)).map((spec) => spec.method)
      // The method is allowed for a path of this shape, yet nothing matched (an id that does not decode): a 404.
      const method = request.method === "HEAD" ? "GET" : request.method
      return allowed.length > 0 && !allowed.includes(method as Method)
        ? new MethodNotAllowed({ method: request.method, path, allowed })
        : new RouteNotFound({ method: request.method, path })
    }

    /** Every failure becomes an Anthropic error body here, and nowhere else; bugs are logged, not shown. */
    const render = (cause: Cause.Cause<unknown>, request: HttpServerRequest.HttpServerRequest, requestId: string) => {
      const error = Cause.findErrorOption(cause)
      if (Option.isSome(error)) {
        const failure = error.value
        if (isProxyError(failure)) return Effect.succeed(renderError(failure, requestId))
        if (isRouteNotFound(failure)) return Effect.succeed(renderError(notFound(request), requestId))
      } else if (Cause.hasInterruptsOnly(cause)) {
        return Effect.failCause(cause)
      }
      return Effect.as(
        Effect.logError("unexpected failure", { request_id: requestId, path: pathOf(request.url), cause: Cause.pretty(cause) }),
        renderDefect(requestId)
      )
    }

    /**
     * Who is asking, checked before any route runs (so a refused client costs no body read, and library routes are
     * covered too): the key when PROXY_API_KEYS is set, then the per-client rate limit, by key or else by address.
     */
    const admit = (request: HttpServerRequest.HttpServerRequest): Effect.Effect<ClientIdentity, ProxyError> => {
      const address = Option.getOrUndefined(request.remoteAddress)
      if (isPublicRoute(request.method, pathOf(request.url))) return Effect.succeed({ address })
      const checked = authenticate(request.headers)
      if (Result.isFailure(checked)) return Effect.fail(checked.failure)
      const client: ClientIdentity = { keyFingerprint: checked.success?.fingerprint, address }
      return inboundLimit === undefined
        ? Effect.succeed(client)
        : Effect.as(inboundLimit.check(client.keyFingerprint ?? address ?? "unknown"), client)
    }

    return Effect.flatMap(Effect.service(HttpServerRequest.HttpServerRequest), (request) =>
      Effect.flatMap(randomId("req_"), (id) =>
        Effect.catchCause(
          Effect.map(
            Effect.flatMap(admit(request), (client) => Effect.provideService(routed, RequestInfo, { id, client })),
            (response) => HttpServerResponse.setHeader(response, "request-id", id)
          ),
          (cause) => render(cause, request, id)
        )))
  })

const isRouteNotFound = (error: unknown): boolean =>
  typeof error === "object" && error !== null && (error as { reason?: { _tag?: string } }).reason?._tag === "RouteNotFound"

/** Serves the app on the server in context. */
export const layerApp = <E = never, R = never>(
  extraRoutes: Layer.Layer<never, E, R> = Layer.empty as Layer.Layer<never, E, R>
): Layer.Layer<
  never,
  E,
  | HttpServer.HttpServer
  | ProxyConfig
  | Pipeline
  | Tokenizer
  | UpstreamBreaker
  | ConcurrencyLimiter
  | UpstreamRateLimits
  | Metrics
  | Exclude<R, HttpRouter.HttpRouter>
> =>
  Layer.unwrap(Effect.map(makeApp(extraRoutes), (app) => HttpServer.serve(app))) as any

export { layerNodeServer } from "./node-server.ts"
