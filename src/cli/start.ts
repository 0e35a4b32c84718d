/**
 * `ccproxy` / `ccproxy start` / `npm start`: read the config, start the server, run until SIGINT/SIGTERM.
 * A bad configuration or a busy port ends the start with one line naming the problem, never a stack trace.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { serverLayer } from "../app.ts"
import { exposureProblem } from "../http/auth.ts"
import { reportToParent } from "./background.ts"
import { reloadOnHangUp } from "./hang-up.ts"
import type { CommandMain } from "./command.ts"
import { fail, loadSettings } from "./settings.ts"

const startProxy = Effect.gen(function*() {
  const config = yield* loadSettings
  // Anyone who can reach an open port could spend the upstream key: exposed needs keys, or an explicit opt-out.
  const problem = exposureProblem(config.host, config.inbound.apiKeys.length > 0, config.inbound.allowUnauthenticated)
  if (problem !== undefined) return yield* fail(`refusing to start: ${problem}`)
  return yield* Layer.launch(Layer.provide(Layer.merge(reportToParent, reloadOnHangUp), serverLayer(config)))
}).pipe(
  Effect.catchTag("ServeError", (error) => fail(`cannot listen: ${describeServeError(error.cause)}`)),
  Effect.catchTag("ConfigInvalid", (error) => fail(`invalid configuration: ${error.message}`)),
  Effect.catch((message) => fail(message))
)

function describeServeError(cause: unknown): string {
  const error = cause as { code?: string; address?: string; port?: number; message?: string }
  if (error?.code === "EADDRINUSE") return `port ${error.port} on ${error.address} is already in use (set PORT)`
  if (error?.code === "EACCES") return `permission denied for port ${error.port} (set PORT above 1024)`
  return error?.message ?? String(cause)
}

export const main: CommandMain = () => startProxy
