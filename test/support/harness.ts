/**
 * The proxy under test: a real server on a loopback port (port 0) in front of a scripted upstream, with its log
 * lines captured. Use with `layer(harness())` from @effect/vitest (`excludeTestServices: true`, real clock).
 */
import { Context, Effect, Layer } from "effect"
import { HttpServer } from "effect/http"
import { serverLayer, type ProxyOptions } from "../../src/app.ts"
import { parseConfig } from "../../src/config.ts"
import { type Fields, Log } from "../../src/log.ts"
import { type ScriptedUpstream, startScriptedUpstream } from "./scripted-upstream.ts"

export const TEST_API_KEY = "sk-test-SECRET-0123456789abcdef"

export interface HarnessShape {
  /** The proxy's base URL, e.g. `http://127.0.0.1:41234`. */
  readonly url: string
  readonly upstream: ScriptedUpstream
  /** Every log line the proxy wrote, parsed. */
  readonly logs: Array<Fields>
}

export class Harness extends Context.Service<Harness, HarnessShape>()("test/Harness") {}

export const harness = (env: Record<string, string> = {}, options: ProxyOptions = {}): Layer.Layer<Harness> =>
  Layer.effect(
    Harness,
    Effect.gen(function*() {
      const upstream = yield* Effect.acquireRelease(
        Effect.promise(startScriptedUpstream),
        (u) => Effect.promise(u.close)
      )
      const config = parseConfig({
        OPENAI_API_KEY: TEST_API_KEY,
        OPENAI_BASE_URL: upstream.url,
        BIG_MODEL_NAME: "gpt-4.1",
        SMALL_MODEL_NAME: "gpt-4.1-mini",
        PORT: "0",
        PING_INTERVAL: "200 millis",
        UPSTREAM_MAX_RETRIES: "1",
        ...env
      })
      const logs: Array<Fields> = []
      const context = yield* Layer.build(serverLayer(config, { log: Log.capture(logs), ...options }))
      const address = Context.get(context, HttpServer.HttpServer).address
      const port = address._tag === "UnixPathAddress" ? 0 : address.port
      return { url: `http://127.0.0.1:${port}`, upstream, logs }
    }).pipe(Effect.orDie)
  )
