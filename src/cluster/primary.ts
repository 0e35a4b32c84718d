/**
 * `ccproxy start` with WORKERS > 1: this process serves nothing itself. It checks the config once (so a bad one
 * is one line, not N), forks the workers (`supervisor.ts`), answers their metrics collections, and:
 *
 * - SIGINT / SIGTERM: every worker gets SIGTERM and stops as a single process does (no new connections; streams in
 *   flight get their grace period); the primary exits 0 once all have exited.
 * - SIGHUP: passed on to every worker, each of which reloads the config (`cli/hang-up.ts`).
 * - Under `ccproxy code`, the port is reported to the parent once the first worker listens.
 * - Every worker failing at start: exit 1 with their one-line reason, once.
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import type { Address } from "node:cluster"
import { announceListening } from "../cli/background.ts"
import type { ProxyConfigShape } from "../config.ts"
import { ConfigInvalid } from "../config/env.ts"
import { Log } from "../log.ts"
import { configForWorker, rateLimitsShared } from "./split.ts"
import { type Level, startSupervisor, type Supervisor } from "./supervisor.ts"

const LOG = { info: Effect.logInfo, warn: Effect.logWarning, error: Effect.logError } as const

const formatAddress = (address: Address): string => {
  const host = address.address === undefined || address.address === null ? "0.0.0.0" : address.address
  return `http://${host.includes(":") ? `[${host}]` : host}:${address.port}`
}

/** Every worker's share must be valid before any is forked: refused once here, not N times by the workers. */
const checkShares = (config: ProxyConfigShape, workers: number): Effect.Effect<void, string> =>
  Effect.try({
    try: () => {
      for (let slot = 1; slot <= workers; slot++) configForWorker(config, { slot, workers }, { sharedRateLimits: rateLimitsShared(config) })
    },
    catch: (error) => `invalid configuration: ${error instanceof ConfigInvalid ? error.message : String(error)}`
  })

const supervise = (config: ProxyConfigShape, workers: number) =>
  Effect.gen(function*() {
    const context = yield* Effect.context<never>()
    const run = Effect.runForkWith(context)
    const log = (level: Level, message: string, fields: Record<string, unknown>) => {
      run(LOG[level](message, fields))
    }
    const fatal = yield* Deferred.make<never, string>()

    const supervisor: Supervisor = yield* Effect.acquireRelease(
      Effect.sync(() =>
        startSupervisor({
          workers,
          log,
          onListening: (address) => {
            log("info", "listening", { address: formatAddress(address), pid: process.pid, workers })
            announceListening(address.port)
          },
          onFatal: (reasons) => {
            run(Deferred.fail(fatal, reasons.join("; ")))
          }
        })
      ),
      (supervisor) =>
        Effect.flatMap(Effect.promise(() => supervisor.stop()), ({ killed, stopped }) => {
          if (stopped === 0) return Effect.void
          // Every worker stopped in time: a clean stop, exit 0 (Effect's runMain would exit 130, "interrupted",
          // after this finalizer; an `exit` listener has the last word on the code).
          if (!killed) process.once("exit", () => (process.exitCode = 0))
          return killed
            ? LOG.warn("workers stopped; some had to be killed", { workers: stopped })
            : LOG.info("workers stopped", { workers: stopped })
        })
    )

    const onHangUp = () => {
      log("info", "config reload passed on to every worker", { workers })
      supervisor.signal("SIGHUP")
    }
    yield* Effect.acquireRelease(
      Effect.sync(() => process.on("SIGHUP", onHangUp)),
      () => Effect.sync(() => process.off("SIGHUP", onHangUp))
    )
    log("info", "starting workers", {
      workers,
      pid: process.pid,
      ...(config.configFile === undefined ? {} : { config: config.configFile })
    })
    return yield* Deferred.await(fatal)
  })

/** Runs the cluster until SIGINT/SIGTERM; fails with the one line to print when it cannot start. */
export const runPrimary = (config: ProxyConfigShape): Effect.Effect<never, string> => {
  const workers = config.workers ?? 1
  return Effect.andThen(checkShares(config, workers), Effect.scoped(supervise(config, workers))).pipe(
    Effect.provide(Log.layer(config.logLevel, config.logFile))
  )
}
