/**
 * Structured logging: one JSON object per line on stdout. A service, so tests capture lines and the level comes
 * from config. Nothing here formats secrets: callers pass plain fields, and keys are `Redacted` everywhere else.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { type LogLevel, ProxyConfig } from "./config.ts"

export type Fields = Readonly<Record<string, unknown>>

export interface LogShape {
  readonly enabled: (level: Exclude<LogLevel, "none">) => boolean
  readonly write: (level: Exclude<LogLevel, "none">, message: string, fields?: Fields) => void
}

const RANK = { debug: 10, info: 20, warn: 30, error: 40, none: 100 } as const

export const makeLog = (
  threshold: LogLevel,
  sink: (line: string) => void = (line) => process.stdout.write(line)
): LogShape => {
  const enabled = (level: Exclude<LogLevel, "none">) => RANK[level] >= RANK[threshold]
  return {
    enabled,
    write: (level, message, fields) => {
      if (!enabled(level)) return
      sink(`${JSON.stringify({ time: new Date().toISOString(), level, msg: message, ...fields })}\n`)
    }
  }
}

export class Log extends Context.Service<Log, LogShape>()("ccproxy/Log") {
  static readonly layer = Layer.effect(this, Effect.map(ProxyConfig, (config) => makeLog(config.logLevel)))
  /** Collects lines in memory (tests). */
  static readonly capture = (lines: Array<Fields>, threshold: LogLevel = "debug") =>
    Layer.succeed(this, makeLog(threshold, (line) => lines.push(JSON.parse(line) as Fields)))
}
