/**
 * The proxy under test with a config file: one scripted upstream per named provider, a `ccproxy.json` written to a
 * scratch folder (with `{{name}}` in a string replaced by that upstream's URL), the config loaded the way `npm start`
 * loads it (`loadConfig` over an environment of the test's choosing), and a real server on port 0.
 */
import { Context, Effect, Layer } from "effect"
import * as ConfigProvider from "effect/ConfigProvider"
import { HttpServer } from "effect/http"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { type ProxyOptions, serverLayer } from "../../src/app.ts"
import { loadConfig, type ProxyConfigShape } from "../../src/config.ts"
import { type Fields, Log } from "../../src/log.ts"
import { type ScriptedUpstream, startScriptedUpstream } from "./scripted-upstream.ts"

export interface ProvidersHarnessShape {
  readonly url: string
  /** The scripted upstream behind each provider name. */
  readonly upstreams: Readonly<Record<string, ScriptedUpstream>>
  readonly logs: Array<Fields>
  readonly config: ProxyConfigShape
  /** The folder holding ccproxy.json. */
  readonly dir: string
}

export class ProvidersHarness extends Context.Service<ProvidersHarness, ProvidersHarnessShape>()("test/ProvidersHarness") {}

const fillUrls = (value: unknown, urls: Readonly<Record<string, string>>): unknown => {
  if (typeof value === "string") return value.replace(/\{\{(\w+)\}\}/g, (_all, name: string) => urls[name] ?? `{{${name}}}`)
  if (Array.isArray(value)) return value.map((item) => fillUrls(item, urls))
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, fillUrls(item, urls)]))
  }
  return value
}

/** Writes `file` (URLs filled in) to a scratch folder; returns the folder. */
export const writeConfigDir = (file: unknown, urls: Readonly<Record<string, string>> = {}, name = "ccproxy.json"): string => {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "ccproxy-config-"))
  const filled = fillUrls(file, urls)
  Fs.writeFileSync(Path.join(dir, name), typeof filled === "string" ? filled : JSON.stringify(filled, null, 2))
  return dir
}

export const providersHarness = (
  names: ReadonlyArray<string>,
  file: unknown,
  env: Record<string, string> = {},
  options: ProxyOptions = {}
): Layer.Layer<ProvidersHarness> =>
  Layer.effect(
    ProvidersHarness,
    Effect.gen(function*() {
      const upstreams: Record<string, ScriptedUpstream> = {}
      for (const name of names) {
        upstreams[name] = yield* Effect.acquireRelease(Effect.promise(startScriptedUpstream), (u) => Effect.promise(u.close))
      }
      const dir = writeConfigDir(file, Object.fromEntries(names.map((name) => [name, upstreams[name]!.url])))
      yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true })))
      const config = yield* loadConfig(dir).pipe(
        Effect.provideService(
          ConfigProvider.ConfigProvider,
          ConfigProvider.fromUnknown({ PORT: "0", PING_INTERVAL: "200 millis", UPSTREAM_MAX_RETRIES: "0", ...env })
        )
      )
      const logs: Array<Fields> = []
      const context = yield* Layer.build(serverLayer(config, { log: Log.capture(logs), ...options }))
      const address = Context.get(context, HttpServer.HttpServer).address
      const port = address._tag === "UnixPathAddress" ? 0 : address.port
      return { url: `http://127.0.0.1:${port}`, upstreams, logs, config, dir }
    }).pipe(Effect.orDie)
  )
