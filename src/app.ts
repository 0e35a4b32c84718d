/**
 * The proxy as layers. `proxyLayer` is everything but the socket and the config, so the CLI, tests and library
 * users each bring their own server (a port, port 0, a test server) and their own upstream (live or replayed).
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as References from "effect/References"
import * as HttpServer from "effect/http/HttpServer"
import { ProxyConfig, type ProxyConfigShape } from "./config.ts"
import { layerApp, layerNodeServer } from "./http/server.ts"
import { Log } from "./log.ts"
import { Pipeline, type StagePlacement } from "./pipeline/pipeline.ts"
import { Tokenizer } from "./tokens.ts"
import { Upstream } from "./upstream/Upstream.ts"

export interface ProxyOptions {
  /** Extra stages, each placed before/after a named stage (default: just before the core). */
  readonly stages?: ReadonlyArray<StagePlacement>
  /** The upstream; default: the live HTTP/2-capable client. */
  readonly upstream?: Layer.Layer<Upstream, never, ProxyConfig>
  /** The logger; default: JSON lines on stdout at LOG_LEVEL. */
  readonly log?: Layer.Layer<Log, never, ProxyConfig>
}

/** The whole proxy, waiting for an HttpServer and a ProxyConfig. */
export const proxyLayer = (options: ProxyOptions = {}): Layer.Layer<never, never, HttpServer.HttpServer | ProxyConfig> =>
  layerApp.pipe(
    Layer.provide(Pipeline.layer(options.stages)),
    Layer.provide(options.upstream ?? Upstream.layerLive),
    Layer.provide(Tokenizer.layer),
    Layer.provide(options.log ?? Log.layer),
    // No tracer spans per request and per upstream call: the request log line carries what we report.
    Layer.provide(Layer.succeed(References.TracerEnabled, false))
  )

/** The proxy listening on config.host:config.port, with its address logged once it listens. */
export const serverLayer = (config: ProxyConfigShape, options: ProxyOptions = {}) =>
  Layer.mergeAll(
    proxyLayer(options),
    Layer.effectDiscard(
      Effect.gen(function*() {
        const log = yield* Log
        const server = yield* HttpServer.HttpServer
        log.write("info", "listening", {
          address: HttpServer.formatAddress(server.address),
          upstream: config.baseUrl,
          big_model: config.bigModel,
          small_model: config.smallModel
        })
      })
    ).pipe(Layer.provide(options.log ?? Log.layer))
  ).pipe(
    Layer.provideMerge(layerNodeServer(config)),
    Layer.provide(ProxyConfig.make(config))
  )
