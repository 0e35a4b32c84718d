/**
 * The proxy's log output: an Effect `Logger` that writes one JSON object per line. Because it is the logger of
 * every fiber the proxy runs, a user stage's `Effect.log("…", { fields })` lands in the same stream, in the same
 * shape, as the proxy's own request lines.
 *
 * A line is `{ time, level, msg, …fields }`: the first string of the message is `msg`, plain objects after it are
 * merged in as fields, log annotations (`Effect.annotateLogs`) are merged too, and a failure cause is rendered as
 * `cause`. Nothing here formats secrets: callers pass plain fields, and keys are `Redacted` everywhere else.
 *
 * With LOG_FILE the same lines also go to a file, rotated by size (`log-file.ts`): serialised once, queued without
 * waiting, written in batches, flushed when the layer's scope closes.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import type * as LogLevel from "effect/LogLevel"
import * as References from "effect/References"
import { currentWorker } from "./cluster/identity.ts"
import type { LogLevel as ConfiguredLevel } from "./config.ts"
import { acquireLogFile, type LogFileSettings, releaseLogFile, type RotatingFile } from "./log-file.ts"
export { LOG_FILE_VARIABLES, type LogFileSettings, parseLogFile } from "./log-file.ts"

export type Fields = Readonly<Record<string, unknown>>

const LEVEL_NAMES: Record<LogLevel.LogLevel, string> = {
  All: "trace",
  Trace: "trace",
  Debug: "debug",
  Info: "info",
  Warn: "warn",
  Error: "error",
  Fatal: "error",
  None: "none"
}

const MINIMUM: Record<ConfiguredLevel, LogLevel.LogLevel> = {
  debug: "Debug",
  info: "Info",
  warn: "Warn",
  error: "Error",
  none: "None"
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Error)

/** In a cluster worker (WORKERS > 1), every line says which one: its slot, 1..N; absent in a single process. */
const WORKER = currentWorker()?.slot

/** One log event as the object we print. */
export const toFields = (options: Logger.Options<unknown>): Record<string, unknown> => {
  const parts = Array.isArray(options.message) ? options.message : [options.message]
  const line: Record<string, unknown> = WORKER === undefined
    ? { time: options.date.toISOString(), level: LEVEL_NAMES[options.logLevel], msg: "" }
    : { time: options.date.toISOString(), level: LEVEL_NAMES[options.logLevel], msg: "", worker: WORKER }
  const words: Array<string> = []
  for (const part of parts) {
    if (isPlainObject(part)) Object.assign(line, part)
    else words.push(typeof part === "string" ? part : String(part))
  }
  line.msg = words.join(" ")
  const annotations = options.fiber.getRef(References.CurrentLogAnnotations)
  for (const key in annotations) line[key] = annotations[key]
  if (options.cause.reasons.length > 0) line.cause = Cause.pretty(options.cause)
  return line
}

/** A JSON-lines logger writing to `sink`. */
export const jsonLogger = (sink: (line: string) => void): Logger.Logger<unknown, void> =>
  Logger.make((options) => sink(`${JSON.stringify(toFields(options))}\n`))

/** Installs `logger` as the only logger, with the configured threshold. */
const install = (logger: Logger.Logger<unknown, void>, threshold: ConfiguredLevel): Layer.Layer<never> =>
  Layer.mergeAll(Logger.layer([logger]), Layer.succeed(References.MinimumLogLevel, MINIMUM[threshold]))

const stdout = (line: string) => {
  process.stdout.write(line)
}

/** The log file, opened with the layer and flushed and closed with its scope (shared with any other layer naming it). */
const logFile = (settings: LogFileSettings) =>
  Effect.acquireRelease(
    Effect.promise(() => acquireLogFile(settings)),
    (file) => Effect.promise(() => releaseLogFile(file))
  )

/** Each line to the file, and to stdout too (serialised once). */
const toFile = (file: RotatingFile, alsoStdout: boolean): ((line: string) => void) =>
  alsoStdout
    ? (line) => {
      process.stdout.write(line)
      file.write(line)
    }
    : (line) => file.write(line)

export const Log = {
  /**
   * JSON lines on stdout at `threshold`; with `file` (LOG_FILE), the same lines appended to it as well, rotated by
   * size. The file is written in batches off the logging fiber and flushed when the layer's scope closes.
   */
  layer: (threshold: ConfiguredLevel, file?: LogFileSettings): Layer.Layer<never> =>
    file === undefined ? install(jsonLogger(stdout), threshold) : Log.file(threshold, file, true),
  /** JSON lines to `file`, and to stdout as well with `alsoStdout`. */
  file: (threshold: ConfiguredLevel, file: LogFileSettings, alsoStdout = false): Layer.Layer<never> =>
    Layer.unwrap(Effect.map(logFile(file), (opened) => install(jsonLogger(toFile(opened, alsoStdout)), threshold))),
  /** Collects the lines in memory, parsed (tests). */
  capture: (lines: Array<Fields>, threshold: ConfiguredLevel = "debug"): Layer.Layer<never> =>
    install(Logger.make((options) => {
      lines.push(JSON.parse(JSON.stringify(toFields(options))) as Fields)
    }), threshold)
}
