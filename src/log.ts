/**
 * The proxy's log output: an Effect `Logger` that writes one JSON object per line. Because it is the logger of
 * every fiber the proxy runs, a user stage's `Effect.log("…", { fields })` lands in the same stream, in the same
 * shape, as the proxy's own request lines.
 *
 * A line is `{ time, level, msg, …fields }`: the first string of the message is `msg`, plain objects after it are
 * merged in as fields, log annotations (`Effect.annotateLogs`) are merged too, and a failure cause is rendered as
 * `cause`. Nothing here formats secrets: callers pass plain fields, and keys are `Redacted` everywhere else.
 */
import * as Cause from "effect/Cause"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import type * as LogLevel from "effect/LogLevel"
import * as References from "effect/References"
import type { LogLevel as ConfiguredLevel } from "./config.ts"

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

/** One log event as the object we print. */
export const toFields = (options: Logger.Options<unknown>): Record<string, unknown> => {
  const parts = Array.isArray(options.message) ? options.message : [options.message]
  const line: Record<string, unknown> = {
    time: options.date.toISOString(),
    level: LEVEL_NAMES[options.logLevel],
    msg: ""
  }
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

export const Log = {
  /** JSON lines on stdout at `threshold`. */
  layer: (threshold: ConfiguredLevel): Layer.Layer<never> =>
    install(jsonLogger((line) => process.stdout.write(line)), threshold),
  /** Collects the lines in memory, parsed (tests). */
  capture: (lines: Array<Fields>, threshold: ConfiguredLevel = "debug"): Layer.Layer<never> =>
    install(Logger.make((options) => {
      lines.push(JSON.parse(JSON.stringify(toFields(options))) as Fields)
    }), threshold)
}
