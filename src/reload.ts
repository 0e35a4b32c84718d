/**
 * Reloading the config while serving (SIGHUP, `ccproxy reload`): the parts of the proxy that follow the config are
 * built as a *generation* (providers and their upstream clients, routes, protections, prices, the pipeline and the
 * routes' handlers), each in a scope of its own. The server sends every new request to the current generation; a
 * reload builds the next one beside it, switches new requests to it, and closes the old one once its last request
 * (a stream keeps its request open to the last byte) has ended. A config that fails to build is rejected and the
 * current generation goes on serving.
 *
 * What does not follow a reload, because it belongs to the process: the listening address (HOST, PORT), the log
 * and its level, tracing, the metrics and the response cache (its keys name the upstream and model, so an entry
 * stays right whatever the routes say).
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import type { ProxyConfigShape } from "./config.ts"
import { ConfigInvalid } from "./config/env.ts"
import { exposureProblem } from "./http/auth.ts"

export interface ReloaderShape {
  /** Builds a generation from `config` and sends new requests to it; fails (and changes nothing) if it cannot. */
  readonly reload: (config: ProxyConfigShape) => Effect.Effect<void, ConfigInvalid>
  /** The config new requests are served with. */
  readonly current: Effect.Effect<ProxyConfigShape>
}

export class Reloader extends Context.Service<Reloader, ReloaderShape>()("ccproxy/Reloader") {}

/**
 * The address stays the one the process listens on; a reload that would leave it open to anyone (keys removed on a
 * non-loopback HOST) is refused as the start would have refused it.
 */
const exposed = (first: ProxyConfigShape, next: ProxyConfigShape): Effect.Effect<void, ConfigInvalid> => {
  const problem = exposureProblem(first.host, next.inbound.apiKeys.length > 0, next.inbound.allowUnauthenticated)
  return problem === undefined ? Effect.void : Effect.fail(new ConfigInvalid({ variable: "PROXY_API_KEYS", problem: `cannot be dropped while listening on ${first.host}: ${problem}` }))
}

interface Generation<App> {
  readonly config: ProxyConfigShape
  readonly app: App
  readonly scope: Scope.Closeable
  /** Requests it is serving. */
  active: number
  /** A newer generation took over: close once `active` is 0. */
  retired: boolean
}

/**
 * The current generation's app for each request, and the reloader. `build` makes a generation's app in the scope
 * it is given; the first is built at once, and a failure there fails the start.
 */
export const makeGenerations = <App extends Effect.Effect<any, any, any>, R>(
  first: ProxyConfigShape,
  build: (config: ProxyConfigShape) => Effect.Effect<App, ConfigInvalid, Scope.Scope | R>
) =>
  Effect.gen(function*() {
    const outer = yield* Effect.scope
    // A reload builds with the services the first build had.
    const services = yield* Effect.context<R>()

    const start = (config: ProxyConfigShape) =>
      Effect.flatMap(Scope.fork(outer), (scope) =>
        Scope.provide(Effect.provide(build(config), services), scope).pipe(
          Effect.map((app): Generation<App> => ({ config, app, scope, active: 0, retired: false })),
          // However the build ends short (a failure, a defect, an interruption), what it opened is closed.
          Effect.onError(() => Scope.close(scope, Exit.void))
        ))

    let current = yield* start(first)

    const closeIfDone = (generation: Generation<App>) =>
      generation.retired && generation.active === 0 ? Scope.close(generation.scope, Exit.void) : Effect.void

    /** Ties the request to the generation it started on, until its scope (and a stream's last byte) ends. */
    const app = Effect.flatMap(Effect.scope, (requestScope) => {
      const generation = current
      generation.active++
      return Effect.andThen(
        Scope.addFinalizer(requestScope, Effect.suspend(() => {
          generation.active--
          return closeIfDone(generation)
        })),
        generation.app
      )
    }) as App

    const reload = (config: ProxyConfigShape) =>
      Effect.flatMap(exposed(first, config), () => start(config)).pipe(Effect.flatMap((next) => {
        const old = current
        current = next
        old.retired = true
        return closeIfDone(old)
      }))

    return { app, reloader: Reloader.of({ reload, current: Effect.sync(() => current.config) }) }
  })
