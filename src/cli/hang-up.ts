/**
 * SIGHUP reloads the config (as `ccproxy reload` asks): read again exactly as at start, then handed to the
 * `Reloader`. A config that does not load or build is logged and rejected; the one in use goes on serving.
 * Reloads run one at a time, in order: a second SIGHUP during a reload waits for it.
 *
 * `load` reads the config as the start did (a cluster worker's takes its share of the limits, `cluster/split.ts`).
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Semaphore from "effect/Semaphore"
import { Reloader } from "../reload.ts"
import type { ProxyConfigShape } from "../config.ts"

export const reloadOnHangUp = (load: Effect.Effect<ProxyConfigShape, string>): Layer.Layer<never, never, Reloader> =>
  Layer.effectDiscard(
  Effect.gen(function*() {
    const reloader = yield* Reloader
    const one = yield* Semaphore.make(1)
    const reload = one.withPermits(1)(
      load.pipe(
        Effect.flatMap((config) => Effect.mapError(reloader.reload(config), (error) => `invalid configuration: ${error.message}`)),
        Effect.matchEffect({
          onFailure: (problem) => Effect.logWarning("config reload rejected; the current config goes on serving", { problem }),
          onSuccess: () =>
            Effect.flatMap(reloader.current, (config) =>
              Effect.logInfo("config reloaded", {
                ...(config.configFile === undefined ? {} : { config: config.configFile }),
                providers: config.providers.map((provider) => provider.name)
              }))
        }),
        // A bug in a build (a user's stage, say) is logged, not lost: `ccproxy reload` points the user at the log.
        Effect.catchCause((cause) => Effect.logError("config reload failed", { cause: Cause.pretty(cause) }))
      )
    )
    const run = Effect.runForkWith(yield* Effect.context<never>())
    const onHangUp = () => {
      run(reload)
    }
    yield* Effect.acquireRelease(
      Effect.sync(() => process.on("SIGHUP", onHangUp)),
      () => Effect.sync(() => process.off("SIGHUP", onHangUp))
    )
  })
)
