/**
 * `ccproxy status [--json]`: asks the proxy at the configured HOST:PORT how it is doing. Exit 0 with a summary (or,
 * with --json, both raw replies), 1 when no ccproxy answers there or it refuses our key.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { CommandMain } from "./command.ts"
import { formatStatus, Metrics } from "./status-report.ts"
import { getJson, probe, proxyTarget } from "./proxy-client.ts"
import { fail, loadSettings } from "./settings.ts"

const decodeMetrics = Schema.decodeUnknownOption(Metrics)

const print = (text: string) => Effect.sync(() => process.stdout.write(text))

const status = (json: boolean) =>
  Effect.gen(function*() {
    const target = proxyTarget(yield* loadSettings)
    const found = yield* probe(target)
    if (found._tag === "None") return yield* fail(`no proxy answers at ${target.url} (${found.reason}); start one with \`ccproxy\``)
    if (found._tag === "Other") return yield* fail(found.reason)
    const metrics = yield* getJson(target, "/v1/metrics", 5_000)
    if (metrics.status === 401) {
      return yield* fail(`the proxy at ${target.url} wants a key for /v1/metrics: set PROXY_API_KEYS to one of its keys`)
    }
    if (metrics.status !== 200) return yield* fail(`GET ${target.url}/v1/metrics answered HTTP ${metrics.status}`)
    if (json) {
      yield* print(JSON.stringify({ url: target.url, health: found.raw, metrics: metrics.body }, null, 2) + "\n")
      return 0
    }
    const view = decodeMetrics(metrics.body)
    if (view._tag === "None") return yield* fail(`GET ${target.url}/v1/metrics gave a reply this version cannot read; try --json`)
    yield* print(formatStatus(target.url, found.health, view.value))
    return 0
  }).pipe(Effect.catch((message) => fail(message)))

export const main: CommandMain = (invocation) => status(invocation.flags["json"] === true)
