/**
 * Reading environment variables: one grammar per kind of value, shared by every settings module.
 *
 * - text: trimmed; blank counts as unset.
 * - integer: digits only, optionally grouped with `_` ("100_000"); no sign, exponent, hex or fraction.
 * - duration: a bare number of seconds ("2.5"), or an Effect duration ("30 seconds", "2 minutes", "500 millis").
 * - boolean: true/false, on/off, yes/no, 1/0, in any case.
 * - byte size: a bare number of bytes, or with a unit ("256MB", "512 MiB", "1gb"); KB/MB/GB are decimal,
 *   KiB/MiB/GiB binary.
 *
 * Each reader returns its fallback when the variable is unset, and throws `ConfigInvalid` naming the variable and
 * what was expected otherwise. Pure: nothing here imports the config module, so settings modules can import this at
 * load time without a cycle.
 */
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"

/**
 * A configuration problem, reported as one line naming the variable (or, for the config file, the file and the
 * field's path).
 */
export class ConfigInvalid extends Data.TaggedError("ConfigInvalid")<{
  readonly variable: string
  readonly problem: string
  readonly file?: string | undefined
}> {
  override get message() {
    return this.file === undefined ? `${this.variable} ${this.problem}` : `${this.file}: ${this.variable} ${this.problem}`
  }
}

/** The variables as read: name → value, `undefined` when unset. */
export type Raw = Readonly<Record<string, string | undefined>>

const invalid = (variable: string, problem: string) => new ConfigInvalid({ variable, problem })

/** The value, trimmed; `undefined` when unset or blank. */
export const text = (raw: Raw, name: string): string | undefined => {
  const value = raw[name]?.trim()
  return value === undefined || value === "" ? undefined : value
}

/** Digits, optionally grouped with `_`: `Number` alone would also take "1e3", "0x10", "1.0" and " ". */
const INTEGER = /^\d+(_\d+)*$/

export interface IntegerOptions {
  readonly fallback: number
  readonly min: number
  /** Defaults to the largest safe integer. */
  readonly max?: number | undefined
}

export const integer = (raw: Raw, name: string, options: IntegerOptions): number => {
  const value = text(raw, name)
  if (value === undefined) return options.fallback
  const { min, max = Number.MAX_SAFE_INTEGER } = options
  const n = INTEGER.test(value) ? Number(value.replaceAll("_", "")) : Number.NaN
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    const range = options.max === undefined ? `of at least ${min}` : `from ${min} to ${max}`
    throw invalid(name, `must be an integer ${range} (got "${value}")`)
  }
  return n
}

export interface DurationOptions {
  readonly fallback: Duration.Input
  /** Accept zero (e.g. "no waiting"); otherwise the duration must be positive. */
  readonly allowZero?: boolean | undefined
}

const SECONDS = /^\d+(\.\d+)?$/

/** A bare number is seconds, as in the Python proxy; otherwise "30 seconds", "2 minutes", "500 millis". */
export const duration = (raw: Raw, name: string, options: DurationOptions): Duration.Duration => {
  const value = text(raw, name)
  if (value === undefined) return Duration.fromInputUnsafe(options.fallback)
  const parsed = SECONDS.test(value)
    ? Duration.seconds(Number(value))
    : Option.getOrUndefined(Duration.fromInput(value as Duration.Input))
  const millis = parsed === undefined ? Number.NaN : Duration.toMillis(parsed)
  if (parsed === undefined || !Number.isFinite(millis) || millis < 0 || (millis === 0 && !options.allowZero)) {
    const kind = options.allowZero ? "a duration" : "a positive duration"
    throw invalid(name, `must be ${kind} such as "30 seconds" (got "${value}")`)
  }
  return parsed
}

const TRUE: ReadonlySet<string> = new Set(["true", "on", "yes", "1"])
const FALSE: ReadonlySet<string> = new Set(["false", "off", "no", "0"])

export const boolean = (raw: Raw, name: string, fallback: boolean): boolean => {
  const value = text(raw, name)
  if (value === undefined) return fallback
  const lower = value.toLowerCase()
  if (TRUE.has(lower)) return true
  if (FALSE.has(lower)) return false
  throw invalid(name, `must be true/false, on/off, yes/no or 1/0 (got "${value}")`)
}

/** Bytes per unit, by lower-case name: KB/MB/GB are decimal, KiB/MiB/GiB binary. */
export const BYTE_UNITS: Readonly<Record<string, number>> = {
  "": 1,
  b: 1,
  kb: 1000,
  mb: 1000 ** 2,
  gb: 1000 ** 3,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3
}

export interface ByteSizeOptions {
  readonly fallback: number
  /** Defaults to 1. */
  readonly min?: number | undefined
}

/** A bare number of bytes, or with a unit ("256MB", "512 MiB", "1gb"); a fraction of a byte is dropped. */
export const byteSize = (raw: Raw, name: string, options: ByteSizeOptions): number => {
  const value = text(raw, name)
  if (value === undefined) return options.fallback
  const min = options.min ?? 1
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(value)
  const unit = match === null ? undefined : BYTE_UNITS[match[2]!.toLowerCase()]
  const size = match === null || unit === undefined ? Number.NaN : Math.floor(Number(match[1]) * unit)
  if (!Number.isSafeInteger(size) || size < min) {
    const kind = min === 1 ? "a positive size" : `a size of at least ${min} bytes`
    throw invalid(name, `must be ${kind}, in bytes or with a unit such as "256MB" or "512MiB" (got "${value}")`)
  }
  return size
}
