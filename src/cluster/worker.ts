/**
 * A cluster worker: the whole proxy, with its share of the limits (`split.ts`), listening on the port the primary
 * shares out (Node's cluster hands the listen to the primary, so PORT=0 gives every worker the same port).
 *
 * It differs from a single process in three ways only:
 * - the config, at start and on each SIGHUP the primary passes on, is this worker's share of it;
 * - GET /metrics asks the primary for every worker's series, and answers the primary's collections with its own;
 * - a start that fails is told to the primary (which prints it once for all workers) instead of to stderr.
 * SIGTERM/SIGINT stop it as they stop a single process: no new connections, streams get their grace period.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import Cluster from "node:cluster"
import { type ProxyConfigShape } from "../config.ts"
import { ConfigInvalid } from "../config/env.ts"
import { reloadOnHangUp } from "../cli/hang-up.ts"
import { loadSettings } from "../cli/settings.ts"
import { checkExposure, serve } from "../cli/start.ts"
import { currentWorker } from "./identity.ts"
import { ClusterScrape, type ClusterScrapeShape, COLLECT_DEADLINE_MS, mergeExpositions } from "./metrics.ts"
import { isClusterMessage, type ToPrimary } from "./protocol.ts"
import { configForWorker, rateLimitsShared, type WorkerPlace } from "./split.ts"

/** Longer than the primary's collection deadline, so only a primary that is gone makes us answer alone. */
const SCRAPE_REPLY_TIMEOUT_MS = COLLECT_DEADLINE_MS + 1_000

const send = (message: ToPrimary): boolean => {
  try {
    return process.send?.(message) ?? false
  } catch {
    return false // the channel is closing: the primary is gone, and so shall we be
  }
}

/** The worker's end of the metrics collection (see `metrics.ts`). */
const workerScrape = (place: WorkerPlace) =>
  Layer.effect(
    ClusterScrape,
    Effect.gen(function*() {
      const context = yield* Effect.context<never>()
      let local: Effect.Effect<string> = Effect.succeed("")
      let nextId = 1
      const waiting = new Map<number, (text: string) => void>()

      const onMessage = (message: unknown) => {
        if (!isClusterMessage(message)) return
        if (message.ccproxy === "collect") {
          const id = message.id
          Effect.runForkWith(context)(Effect.flatMap(local, (text) => Effect.sync(() => send({ ccproxy: "collected", id, text }))))
        } else if (message.ccproxy === "scraped") {
          waiting.get(message.id)?.(message.text)
        }
      }
      yield* Effect.acquireRelease(
        Effect.sync(() => process.on("message", onMessage)),
        () => Effect.sync(() => process.off("message", onMessage))
      )

      const askPrimary = Effect.callback<string | undefined>((resume) => {
        const id = nextId++
        const timer = setTimeout(() => finish(undefined), SCRAPE_REPLY_TIMEOUT_MS)
        const finish = (text: string | undefined) => {
          clearTimeout(timer)
          waiting.delete(id)
          resume(Effect.succeed(text))
        }
        waiting.set(id, finish)
        if (!send({ ccproxy: "scrape", id })) finish(undefined)
        return Effect.sync(() => {
          clearTimeout(timer)
          waiting.delete(id)
        })
      })

      return {
        gather: (own) =>
          Effect.flatMap(askPrimary, (merged) =>
            merged !== undefined
              ? Effect.succeed(merged)
              // No primary to ask: this worker's series alone, labelled as they would be in the whole.
              : Effect.map(own, (text) => mergeExpositions([{ worker: place.slot, text }]))),
        serveLocal: (own) =>
          // The newest generation's (a reload builds a new one) answers; its scope's end hands back to the last.
          Effect.acquireRelease(
            Effect.sync(() => {
              const before = local
              local = own
              return before
            }),
            (before) => Effect.sync(() => {
              if (local === own) local = before
            })
          ).pipe(Effect.asVoid)
      } satisfies ClusterScrapeShape
    })
  )

/** The config as this worker serves it: the shared one, with this worker's share of the limits. */
const loadShare = (place: WorkerPlace): Effect.Effect<ProxyConfigShape, string> =>
  Effect.flatMap(loadSettings, (config) =>
    Effect.try({
      try: () => configForWorker(config, place, { sharedRateLimits: rateLimitsShared(config) }),
      catch: (error) => `invalid configuration: ${error instanceof ConfigInvalid ? error.message : String(error)}`
    }))

/** The worker's start: serve until stopped; a failure to start goes to the primary, and the exit code is 1. */
export const runWorker: Effect.Effect<number> = Effect.gen(function*() {
  const place = currentWorker()
  if (place === undefined) return yield* Effect.fail(`started as a cluster worker without a slot (worker ${Cluster.worker?.id})`)
  const load = loadShare(place)
  const config = yield* load
  yield* checkExposure(config)
  return yield* serve(config, reloadOnHangUp(load), workerScrape(place))
}).pipe(
  Effect.catch((message) =>
    Effect.callback<number>(() => {
      // The IPC channel would keep this process alive after the failed start: exit once the message is out.
      const exit = () => {
        process.exitCode = 1
        process.exit()
      }
      try {
        if (process.send !== undefined) {
          process.send({ ccproxy: "start-failed", message } satisfies ToPrimary, undefined, {}, exit)
          return
        }
      } catch {
        // the channel is gone: say it here instead
      }
      process.stderr.write(`ccproxy: ${message}\n`)
      exit()
    }))
)
