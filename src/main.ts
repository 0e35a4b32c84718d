/**
 * `npm start` / `ccproxy`: read the config, start the server, run until SIGINT/SIGTERM.
 * A bad configuration or a busy port ends the start with one line naming the problem, never a stack trace.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { serverLayer } from "./app.ts"
import { envProvider, loadConfig } from "./config.ts"
import { exposureProblem } from "./http/auth.ts"

const fatal = (message: string) =>
  Effect.sync(() => {
    process.stderr.write(`ccproxy: ${message}\n`)
    process.exitCode = 1
  })

const main = Effect.gen(function*() {
  const config = yield* loadConfig()
  // Anyone who can reach an open port could spend the upstream key: exposed needs keys, or an explicit opt-out.
  const problem = exposureProblem(config.host, config.inbound.apiKeys.length > 0, config.inbound.allowUnauthenticated)
  if (problem !== undefined) return yield* fatal(`refusing to start: ${problem}`)
  return yield* Layer.launch(serverLayer(config))
}).pipe(
  Effect.provideService(ConfigProvider.ConfigProvider, envProvider()),
  Effect.catchTag("ConfigInvalid", (error) => fatal(`invalid configuration: ${error.message}`)),
  Effect.catchTag("ServeError", (error) => fatal(`cannot listen: ${describeServeError(error.cause)}`))
)

function describeServeError(cause: unknown): string {
  const error = cause as { code?: string; address?: string; port?: number; message?: string }
  if (error?.code === "EADDRINUSE") return `port ${error.port} on ${error.address} is already in use (set PORT)`
  if (error?.code === "EACCES") return `permission denied for port ${error.port} (set PORT above 1024)`
  return error?.message ?? String(cause)
}

NodeRuntime.runMain(main, { disableErrorReporting: false })
