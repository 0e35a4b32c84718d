/**
 * `ccproxy` / `ccproxy start` / `npm start`: read the config, start the server, run until SIGINT/SIGTERM.
 * A bad configuration or a busy port ends the start with one line naming the problem, never a stack trace.
 *
 * With WORKERS > 1 this process becomes the cluster's primary (`cluster/primary.ts`) and forks the workers, which
 * run this same command and take the worker's path (`cluster/worker.ts`).
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import Cluster from "node:cluster"
import { serverLayer } from "../app.ts"
import type { ProxyConfigShape } from "../config.ts"
import { exposureProblem } from "../http/auth.ts"
import { Log } from "../log.ts"
import type { Reloader } from "../reload.ts"
import { reportToParent } from "./background.ts"
import { reloadOnHangUp } from "./hang-up.ts"
import type { CommandMain } from "./command.ts"
import { fail, loadSettings } from "./settings.ts"
import type * as HttpServer from "effect/http/HttpServer"

/** Fails with the line to print when the config would expose the upstream key. */
export const checkExposure = (config: ProxyConfigShape): Effect.Effect<void, string> => {
  // Anyone who can reach an open port could spend the upstream key: exposed needs keys, or an explicit opt-out.
  const problem = exposureProblem(config.host, config.inbound.apiKeys.length > 0, config.inbound.allowUnauthenticated)
  return problem === undefined ? Effect.void : Effect.fail(`refusing to start: ${problem}`)
}

/**
 * Serves `config`, with `extras` beside the server and `services` under it, until interrupted; fails with the one
 * line to print.
 */
export const serve = (
  config: ProxyConfigShape,
  extras: Layer.Layer<never, never, Reloader | HttpServer.HttpServer>,
  services: Layer.Layer<never> = Layer.empty
): Effect.Effect<never, string> =>
  // The log too, so what `extras` log (a reload) is a JSON line like the rest, not Effect's default format.
  Layer.launch(
    Layer.provide(extras, Layer.merge(serverLayer(config), Log.layer(config.logLevel, config.logFile))).pipe(Layer.provide(services))
  ).pipe(
    Effect.catchTag("ServeError", (error) => Effect.fail(`cannot listen: ${describeServeError(error.cause)}`)),
    Effect.catchTag("ConfigInvalid", (error) => Effect.fail(`invalid configuration: ${error.message}`))
  )

function describeServeError(cause: unknown): string {
  const error = cause as { code?: string; address?: string; port?: number; message?: string }
  if (error?.code === "EADDRINUSE") return `port ${error.port} on ${error.address} is already in use (set PORT)`
  if (error?.code === "EACCES") return `permission denied for port ${error.port} (set PORT above 1024)`
  return error?.message ?? String(cause)
}

const startProxy = Effect.gen(function*() {
  const config = yield* loadSettings
  yield* checkExposure(config)
  if ((config.workers ?? 1) > 1) {
    // Loaded only here: WORKERS=1 costs nothing of the cluster's.
    const { runPrimary } = yield* Effect.promise(() => import("../cluster/primary.ts"))
    return yield* runPrimary(config)
  }
  return yield* serve(config, Layer.merge(reportToParent, reloadOnHangUp(loadSettings)))
}).pipe(Effect.catch((message) => fail(message)))

export const main: CommandMain = () =>
  Cluster.isWorker
    ? Effect.flatMap(Effect.promise(() => import("../cluster/worker.ts")), ({ runWorker }) => runWorker)
    : startProxy
