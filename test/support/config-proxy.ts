/**
 * The proxy started from a config file already on disk (the providers harness writes its own): the config loaded
 * as `ccproxy start` loads it, over an environment of the test's choosing, and a server on port 0. Gives the
 * reloader too, for tests of what a reload picks up.
 */
import { Context, Effect, Layer } from "effect"
import * as ConfigProvider from "effect/ConfigProvider"
import { HttpServer } from "effect/http"
import type * as Scope from "effect/Scope"
import { serverLayer } from "../../src/app.ts"
import { type ConfigInvalid, loadConfig, type ProxyConfigShape } from "../../src/config.ts"
import { type Fields, Log } from "../../src/log.ts"
import { Reloader } from "../../src/reload.ts"

/** Reads the config in `dir` (or CCPROXY_CONFIG in `env`) with the test's environment. */
export const readConfig = (dir: string, env: Record<string, string> = {}): Effect.Effect<ProxyConfigShape, ConfigInvalid> =>
  loadConfig(dir).pipe(
    Effect.provideService(
      ConfigProvider.ConfigProvider,
      ConfigProvider.fromUnknown({ PORT: "0", UPSTREAM_MAX_RETRIES: "0", ...env })
    )
  )

export interface ConfigProxy {
  readonly url: string
  readonly reload: (config: ProxyConfigShape) => Effect.Effect<void, ConfigInvalid>
}

/** The proxy serving `config` for the rest of the scope; fails with the start's ConfigInvalid. */
export const startProxy = (config: ProxyConfigShape): Effect.Effect<ConfigProxy, ConfigInvalid, Scope.Scope> =>
  Effect.gen(function*() {
    // The log lines are kept from stdout, not read: these tests look at replies.
    const logs: Array<Fields> = []
    // Port 0 always binds: a ServeError here is a broken test machine, not an outcome to test.
    const context = yield* Layer.build(serverLayer(config, { log: Log.capture(logs) })).pipe(Effect.catchTag("ServeError", Effect.die))
    const address = Context.get(context, HttpServer.HttpServer).address
    const port = address._tag === "UnixPathAddress" ? 0 : address.port
    return { url: `http://127.0.0.1:${port}`, reload: Context.get(context, Reloader).reload }
  })
