/**
 * The configuration as every command reads it: the environment over an optional `.env`, exactly what the proxy
 * itself reads, so `status` and `code` look for the proxy where `ccproxy` would start it.
 */
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import { envProvider, loadConfig, type ProxyConfigShape } from "../config.ts"

/** Fails with the one line to print. */
export const loadSettings: Effect.Effect<ProxyConfigShape, string> = loadConfig().pipe(
  Effect.provideService(ConfigProvider.ConfigProvider, envProvider()),
  Effect.mapError((error) => `invalid configuration: ${error.message}`)
)

/** Prints `ccproxy: <message>` on stderr and gives the exit code. */
export const fail = (message: string, code = 1) =>
  Effect.sync(() => {
    process.stderr.write(`ccproxy: ${message}\n`)
    return code
  })
