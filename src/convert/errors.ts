/**
 * Upstream error → Anthropic error (PROTOCOL.md §I.5). Pure: the caller hands in the status, the body text and the
 * Retry-After header (and the secrets to keep out); we pick the Anthropic status/type and a clean message (no dict
 * reprs, no keys).
 */
import { UpstreamFailure } from "../errors.ts"
import type { ErrorType } from "../protocol/anthropic.ts"
import type { ErrorObject } from "../protocol/openai.ts"
import { parseJsonOr } from "../util/json.ts"
import { clip } from "../util/text.ts"

const byStatus = (status: number): { status: number; type: ErrorType } => {
  switch (status) {
    case 400:
    case 422:
      return { status: 400, type: "invalid_request_error" }
    case 401:
      return { status: 401, type: "authentication_error" }
    case 402:
      return { status: 402, type: "billing_error" }
    case 403:
      return { status: 403, type: "permission_error" }
    case 404:
      return { status: 404, type: "not_found_error" }
    case 408:
    case 504:
      return { status: 504, type: "timeout_error" }
    case 413:
      return { status: 413, type: "request_too_large" }
    case 429:
      return { status: 429, type: "rate_limit_error" }
    case 502:
    case 503:
    case 529:
      return { status: 529, type: "overloaded_error" }
    default:
      return status >= 500 ? { status: 500, type: "api_error" } : { status: 400, type: "invalid_request_error" }
  }
}

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


/**
 * An error status from the upstream, before any bytes went to the client. `secrets` (our upstream key, …) are
 * redacted from the message, as are bearer tokens and `sk-` keys.
 */
export const fromUpstreamStatus = (
  status: number,
  bodyText: string,
  retryAfter?: string | undefined,
  secrets: ReadonlyArray<string> = []
): UpstreamFailure => {
  const error = readErrorObject(parseJson(bodyText))
  // Redact before clipping: a clip through the middle of a secret would leave its head unrecognisable.
  const raw = redactSecrets(bodyText.trim(), secrets)
  const fallback = raw ? clip(raw, 500) : `Upstream returned HTTP ${status}`
  const message = redactSecrets(describe(error, fallback), secrets)
  const isOverflow = !OUTPUT_TOO_LARGE.test(message) &&
    (error?.code === "context_length_exceeded" || CONTEXT_OVERFLOW.test(message))
  const mapped = isOverflow && status < 500 ? { status: 400, type: "invalid_request_error" as const } : byStatus(status)
  return new UpstreamFailure({
    status: mapped.status,
    type: mapped.type,
    message: isOverflow && !/^prompt is too long/.test(message) ? `prompt is too long: ${message}` : message,
    retryAfter,
    upstreamStatus: status
  })
}

/**
 * An error object inside a 200 body or stream chunk (OpenAI `data:{"error":…}`, OpenRouter `finish_reason:"error"`).
 * The message is redacted as in `fromUpstreamStatus`.
 */
export const fromUpstreamErrorObject = (
  error: ErrorObject | undefined,
  secrets: ReadonlyArray<string> = []
): UpstreamFailure => {
  const code = typeof error?.code === "number" ? error.code : Number(error?.code)
  const status = Number.isInteger(code) && code >= 400 && code < 600 ? code : 500
  const mapped = byStatus(status)
  return new UpstreamFailure({
    status: mapped.status,
    type: mapped.type,
    message: redactSecrets(describe(error, "Upstream reported an error"), secrets),
    upstreamStatus: status
  })
}
