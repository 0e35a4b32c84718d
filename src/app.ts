/**
 * The proxy as layers. `proxyLayer` is everything but the socket and the config, so the CLI, tests and library
 * users each bring their own server (a port, port 0, a test server) and their own upstream (live or replayed).
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServer from "effect/http/HttpServer"
import * as Cache from "./cache/cache.ts"
import { type ConfigInvalid, ProxyConfig, type ProxyConfigShape } from "./config.ts"
import { loggableUrl } from "./config/providers.ts"
import { anchorProblem, loadStages } from "./config/stages.ts"
import { layerNodeServer, makeApp } from "./http/server.ts"
import { Log } from "./log.ts"
import { Metrics, rateLimitRejected } from "./observability/metrics.ts"
import { Prices } from "./observability/prices.ts"
import { tracingLayer, tracingSink } from "./observability/tracing.ts"
import { RequestSinks } from "./observability/record.ts"
import { Pipeline, type StagePlacement } from "./pipeline/pipeline.ts"
import * as Protection from "./protection/protection.ts"
import * as SharedState from "./redis/redis.ts"
import { makeGenerations, Reloader } from "./reload.ts"
import { describeRoutes } from "./routing/routes.ts"
import { Tokenizer } from "./tokens.ts"
import { upstreamFromConfig } from "./upstream/transport-layer.ts"
import { RateLimitGate, type Upstream } from "./upstream/Upstream.ts"

export interface ProxyOptions<R = never> {
  /** Extra stages, each placed before/after a named stage (default: just before the core). */
  readonly stages?: ReadonlyArray<StagePlacement<R>>
  /** Extra routes (`HttpRouter.add(…)` layers), served behind the same edge: request ids, Anthropic errors. */
  readonly routes?: Layer.Layer<never, never, HttpRouter.HttpRouter>
  /** The upstream; default: the live HTTP/2-capable client, recorded or replaced by RECORD_DIR / REPLAY_DIR. */
  readonly upstream?: Layer.Layer<Upstream, never, ProxyConfig>
  /** The loggers; default: JSON lines on stdout at LOG_LEVEL (`Log.layer`). Tests use `Log.capture`. */
  readonly log?: Layer.Layer<never>
}

const logLayer = (options: ProxyOptions<any>) =>
  options.log ?? Layer.unwrap(Effect.map(Effect.service(ProxyConfig), (config) => Log.layer(config.logLevel, config.logFile)))

/** Every upstream 429, retried or not, reaches the adaptive rate limits, and every retry passes through them. */
const rateLimitGate = Layer.effect(
  RateLimitGate,
  Effect.map(Effect.service(Protection.UpstreamRateLimits), (limits): RateLimitGate => ({
    rateLimited: (upstream, retryAfter) => limits.feedback(upstream, { _tag: "RateLimited", retryAfter }),
    beforeRetry: (upstream) => Effect.asVoid(Effect.tapError(limits.acquire(upstream, 0), () => rateLimitRejected(upstream)))
  }))
)

/**
 * What follows the config, rebuilt on each reload (see `reload.ts`): the providers' upstream clients over their
 * Transport, their protections and prices, and the pipeline with the library user's stages, then the config file's
 * (loaded by `loadStages` for each generation). It needs the process-wide services below.
 */
const generationLayer = <R>(options: ProxyOptions<R>, fileStages: ReadonlyArray<StagePlacement>) =>
  Pipeline.layer<R>([...(options.stages ?? []), ...fileStages]).pipe(
    Layer.provideMerge((options.upstream ?? upstreamFromConfig).pipe(Layer.provide(rateLimitGate))),
    Layer.provideMerge(Layer.unwrap(Effect.map(Effect.service(ProxyConfig), (config) =>
      Prices.layer({ upstreams: config.providers.map(({ name, baseUrl }) => ({ name, baseUrl })), settings: config.prices })))),
    // One instance for the stages and for /health.
    Layer.provideMerge(Layer.unwrap(Effect.map(Effect.service(ProxyConfig), (config) =>
      Protection.layer(config.protection, new Map(config.providers.map((provider) => [provider.name, provider.protection]))))))
  )

/**
 * The cache, and with REDIS_URL the Redis client and the stores it shares: process-wide, so reloads keep one
 * connection and one state (REDIS_* are read at start only). The protections of each generation find the shared
 * stores in context.
 */
const stateLayer = (config: ProxyConfigShape) =>
  config.redis === undefined ? Cache.layer(config.cache) : Cache.layerOver(SharedState.layer(config.redis, config.cache))

/** What belongs to the process and outlives reloads: the cache and shared state, the metrics, the tokenizer, the log, tracing. */
const processLayer = (options: ProxyOptions<any>) =>
  // One store for the cache stage and for the admin routes (/v1/cache/*); the protections' pool over the shared
  // stores when there are some, so every reload finds the same instances.
  Layer.unwrap(Effect.map(Effect.service(ProxyConfig), (config) =>
    Layer.provideMerge(Cache.layerAdmin(config.cache), Layer.provideMerge(Protection.Pool.layer, stateLayer(config))))).pipe(
      Layer.provideMerge(Layer.effect(
        RequestSinks,
        Effect.map(Effect.all([Effect.service(Metrics), Effect.service(ProxyConfig)]), ([metrics, config]) =>
          config.tracing === undefined ? [metrics] : [metrics, tracingSink])
      )),
      Layer.provideMerge(Metrics.layer),
      Layer.provideMerge(Tokenizer.layer),
      Layer.provideMerge(logLayer(options)),
      // Without OTEL_EXPORTER_OTLP_ENDPOINT no spans at all: the request log line carries what we report.
      Layer.provideMerge(Layer.unwrap(Effect.map(Effect.service(ProxyConfig), (config) => tracingLayer(config.tracing))))
    )

/**
 * The whole proxy, waiting for an HttpServer, a ProxyConfig and what the user's stages need; it gives the
 * `Reloader` that switches it to another config.
 */
export const proxyLayer = <R = never>(
  options: ProxyOptions<R> = {}
): Layer.Layer<Reloader, ConfigInvalid, HttpServer.HttpServer | ProxyConfig | R> =>
  Layer.effect(
    Reloader,
    Effect.gen(function*() {
      const first = yield* ProxyConfig
      const { app, reloader } = yield* makeGenerations(first, (reloaded) =>
        Effect.gen(function*() {
          // The cache belongs to the process (its store was built from the start's settings): whether the stage is
          // there follows them too, not a reloaded CACHE.
          const config = { ...reloaded, cache: first.cache }
          const fileStages = yield* loadStages(config)
          const context = yield* Layer.build(Layer.provideMerge(generationLayer(options, fileStages), ProxyConfig.make(config))).pipe(
            Effect.catchTag("UnknownAnchor", anchorProblem(config, options.stages?.length ?? 0))
          )
          return yield* Effect.provide(makeApp(options.routes ?? Layer.empty), context)
        }))
      yield* HttpServer.serve(app).pipe(Layer.build)
      return reloader
    })
  ).pipe(Layer.provide(processLayer(options)))

/** The proxy listening on config.host:config.port, with its address logged once it listens. */
export const serverLayer = <R = never>(config: ProxyConfigShape, options: ProxyOptions<R> = {}) =>
  Layer.mergeAll(
    proxyLayer(options),
    Layer.effectDiscard(
      Effect.flatMap(Effect.service(HttpServer.HttpServer), (server) =>
        Effect.logInfo("listening", {
          address: HttpServer.formatAddress(server.address),
          // Whom to send SIGHUP (reload) or SIGTERM; in a cluster, this worker (the primary logs its own).
          pid: process.pid,
          ...(config.configFile === undefined ? {} : { config: config.configFile }),
          providers: config.providers.map((provider) => `${provider.name} (${provider.profile}) ${loggableUrl(provider.baseUrl)}`),
          routes: describeRoutes(config.routes)
        }))
    ).pipe(Layer.provide(logLayer(options)))
  ).pipe(
    Layer.provideMerge(layerNodeServer({ host: config.host, port: config.port })),
    Layer.provide(ProxyConfig.make(config))
  )
