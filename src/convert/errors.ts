/**
 * Upstream error answers → `UpstreamFailure` (PROTOCOL.md §I.5). Pure: the caller hands in the status, the body
 * text and the Retry-After header (and the secrets to keep out); we read the facts the mapping needs: a clean
 * message (no dict reprs, no keys), whether the prompt overflowed the context, how long to wait. Which Anthropic
 * status and type that makes is decided in `toAnthropicError` (errors.ts), not here.
 */
import * as Duration from "effect/Duration"
import * as Headers from "effect/http/Headers"
import * as Result from "effect/Result"
import { UpstreamFailure } from "../errors.ts"
import type { ErrorObject } from "../protocol/openai.ts"
import { parseJsonOr } from "../util/json.ts"
import { clip } from "../util/text.ts"

const asErrorObject = (value: unknown): ErrorObject | undefined => {
  if (typeof value === "string") return { message: value }
  if (typeof value === "object" && value !== null) return value as ErrorObject
  return undefined
}

/** Finds the error object in the shapes vendors use: `{error:{…}}`, `{error:"…"}`, `{message:"…"}`, `{detail:"…"}`. */
export const readErrorObject = (body: unknown): ErrorObject | undefined => {
  if (typeof body !== "object" || body === null) return undefined
  const record = body as Record<string, unknown>
  if (record.error !== undefined && record.error !== null) return asErrorObject(record.error)
  if (typeof record.message === "string") return { message: record.message }
  if (typeof record.detail === "string") return { message: record.detail }
  return undefined
}

const parseJson = (text: string): unknown => parseJsonOr(text, undefined)

/** OpenRouter wraps the provider's own error in `metadata.raw` (a JSON string or object) with `provider_name`. */
const providerDetail = (error: ErrorObject): string | undefined => {
  const metadata = error.metadata
  if (!metadata || typeof metadata.provider_name !== "string") return undefined
  const raw = typeof metadata.raw === "string" ? parseJson(metadata.raw) ?? metadata.raw : metadata.raw
  const inner = readErrorObject(raw) ?? asErrorObject(raw)
  const innerMessage = inner?.message ?? (typeof raw === "string" ? raw : undefined)
  return innerMessage ? `${metadata.provider_name}: ${innerMessage}` : metadata.provider_name
}

const CONTEXT_OVERFLOW = /context[_ ]length[_ ]exceeded|maximum context length|prompt is too long|too many tokens|context window/i

/**
 * The requested output is too large, not the prompt: vLLM's "'max_tokens' or 'max_completion_tokens' is too large:
 * 128000. This model's maximum context length is 32768 tokens and your request has 1200 input tokens", OpenAI's
 * "max_tokens is too large: 20000. This model supports at most 16384 completion tokens". Relabelling those as
 * "prompt is too long" would make Claude Code compact a conversation that is not the problem.
 */
const OUTPUT_TOO_LARGE =
  /\b(?:max_tokens|max_completion_tokens|max_output_tokens|max_new_tokens)\b[^.]{0,60}?(?:too (?:large|big|high)|exceeds?\b|greater than)|\bat most \d+ (?:completion|output) tokens/i

// ---------------------------------------------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------------------------------------------

const REDACTED = "[redacted]"
const BEARER_TOKEN = /\b(Bearer\s+)[A-Za-z0-9._~+/=-]{8,}/gi
/** OpenAI (`sk-…`, `sk-proj-…`), OpenRouter (`sk-or-…`), Anthropic (`sk-ant-…`), DeepSeek and most look-alikes. */
const SK_KEY = /\bsk-[A-Za-z0-9_*-]{8,}/g

/**
 * Removes the given secret values (longest first, so one that contains another goes whole) and anything shaped like
 * a bearer token or an `sk-` key. For upstream error text, which some vendors echo our key into.
 */
export const redactSecrets = (text: string, secrets: ReadonlyArray<string>): string => {
  let result = text
  const values = secrets.filter((secret) => secret.trim() !== "").sort((a, b) => b.length - a.length)
  for (const secret of values) result = result.split(secret).join(REDACTED)
  return result.replace(BEARER_TOKEN, `$1${REDACTED}`).replace(SK_KEY, REDACTED)
}

const describe = (error: ErrorObject | undefined, fallback: string): string => {
  const message = error?.message?.trim() || fallback
  const detail = error ? providerDetail(error) : undefined
  return detail && !message.includes(detail) ? `${message} (${detail})` : message
}

const isPromptTooLong = (error: ErrorObject | undefined, message: string): boolean =>
  !OUTPUT_TOO_LARGE.test(message) && (error?.code === "context_length_exceeded" || CONTEXT_OVERFLOW.test(message))

/** Seconds with a fraction ("1.5"): not in the RFC, but vendors send it, and the wait they mean is clear. */
const DECIMAL_SECONDS = /^\d+(?:\.\d+)?$/

/**
 * A Retry-After value (seconds, fractional seconds, or an HTTP date) as the wait from `now`; undefined when it is
 * absent or unreadable. A date already past is a zero wait.
 */
export const parseRetryAfter = (raw: string | undefined, now: number): Duration.Duration | undefined => {
  if (raw === undefined) return undefined
  const text = raw.trim()
  if (DECIMAL_SECONDS.test(text)) return Duration.seconds(Number(text))
  const parsed = Headers.parseRetryAfter(text)
  return Result.isSuccess(parsed) ? Headers.retryAfterDelay(parsed.success, now) : undefined
}

/**
 * An error status from the upstream, before any bytes went to the client. `secrets` (our upstream key, …) are
 * redacted from the message, as are bearer tokens and `sk-` keys. `now` (epoch millis) measures a Retry-After
 * given as a date.
 */
export const fromUpstreamStatus = (
  status: number,
  bodyText: string,
  retryAfter?: string | undefined,
  secrets: ReadonlyArray<string> = [],
  now: number = Date.now()
): UpstreamFailure => {
  const error = readErrorObject(parseJson(bodyText))
  // Redact before clipping: a clip through the middle of a secret would leave its head unrecognisable.
  const raw = redactSecrets(bodyText.trim(), secrets)
  const fallback = raw ? clip(raw, 500) : `Upstream returned HTTP ${status}`
  const message = redactSecrets(describe(error, fallback), secrets)
  return new UpstreamFailure({
    upstreamStatus: status,
    message,
    retryAfter: parseRetryAfter(retryAfter, now),
    promptTooLong: isPromptTooLong(error, message)
  })
}

/**
 * An error object inside a 200 body or stream chunk (OpenAI `data:{"error":…}`, OpenRouter `finish_reason:"error"`).
 * Its numeric `code`, when it is an HTTP error status, stands in for the status. The message is redacted as in
 * `fromUpstreamStatus`.
 */
export const fromUpstreamErrorObject = (
  error: ErrorObject | undefined,
  secrets: ReadonlyArray<string> = []
): UpstreamFailure => {
  const code = typeof error?.code === "number" ? error.code : Number(error?.code)
  const message = redactSecrets(describe(error, "Upstream reported an error"), secrets)
  return new UpstreamFailure({
    upstreamStatus: Number.isInteger(code) && code >= 400 && code < 600 ? code : 500,
    message,
    promptTooLong: isPromptTooLong(error, message)
  })
}
