/**
 * `ccproxy reload`: the running proxy at the configured HOST:PORT reads its config again. The file is checked here
 * first (a bad one is reported and nothing is sent); then the proxy's process, named by its GET /health, gets
 * SIGHUP, and the command waits for /health to show the config loaded anew. Signals reach only a process on this
 * machine (and in this container): elsewhere, send SIGHUP to the proxy's process directly.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { CommandMain } from "./command.ts"
import { probe, proxyTarget } from "./proxy-client.ts"
import { fail, loadSettings } from "./settings.ts"

/** What /health says about whom to signal and which config it serves. */
const Identity = Schema.Struct({
  pid: Schema.Number,
  config: Schema.Struct({ file: Schema.NullOr(Schema.String), loaded_at: Schema.NullOr(Schema.String) })
})
const decodeIdentity = Schema.decodeUnknownOption(Identity)

const WAIT_MILLIS = 5_000
const POLL_MILLIS = 100

const signal = (pid: number): string | undefined => {
  try {
    process.kill(pid, "SIGHUP")
    return undefined
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    return code === "ESRCH"
      ? `no process ${pid} here: the proxy runs on another machine or in a container; send it SIGHUP there`
      : `cannot signal process ${pid} (${code}): run as the user that started the proxy`
  }
}

const reload = Effect.gen(function*() {
  const config = yield* loadSettings
  const target = proxyTarget(config)
  const found = yield* probe(target)
  if (found._tag === "None") return yield* fail(`no proxy answers at ${target.url} (${found.reason})`)
  if (found._tag === "Other") return yield* fail(found.reason)
  const before = decodeIdentity(found.raw)
  if (before._tag === "None") return yield* fail(`the proxy at ${target.url} is too old to be reloaded this way; restart it`)
  const problem = signal(before.value.pid)
  if (problem !== undefined) return yield* fail(problem)
  const deadline = Date.now() + WAIT_MILLIS
  while (Date.now() < deadline) {
    yield* Effect.sleep(POLL_MILLIS)
    const now = yield* probe(target)
    const after = now._tag === "Proxy" ? decodeIdentity(now.raw) : undefined
    if (after?._tag === "Some" && after.value.config.loaded_at !== before.value.config.loaded_at) {
      const providers = now._tag === "Proxy" ? now.health.upstreams.map((u) => u.name).join(", ") : ""
      yield* Effect.sync(() =>
        process.stdout.write(`reloaded ${after.value.config.file ?? "the environment's config"} (providers: ${providers})\n`))
      return 0
    }
  }
  return yield* fail(`the proxy at ${target.url} (pid ${before.value.pid}) did not take the config within ${WAIT_MILLIS / 1000} s; its log says why`)
}).pipe(Effect.catch((message) => fail(message)))

export const main: CommandMain = () => reload
