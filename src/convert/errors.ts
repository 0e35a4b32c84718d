/**
 * Upstream error → Anthropic error (PROTOCOL.md §I.5). Pure: the caller hands in the status, the body text and the
 * Retry-After header; we pick the Anthropic status/type and a clean message (no dict reprs, no keys).
 */
import { UpstreamFailure } from "../errors.ts"
import type { ErrorType } from "../protocol/anthropic.ts"
import type { ErrorObject } from "../protocol/openai.ts"

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

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

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

const describe = (error: ErrorObject | undefined, fallback: string): string => {
  const message = error?.message?.trim() || fallback
  const detail = error ? providerDetail(error) : undefined
  return detail && !message.includes(detail) ? `${message} (${detail})` : message
}

const clip = (text: string, max = 500): string => (text.length > max ? `${text.slice(0, max)}…` : text)

/** An error status from the upstream, before any bytes went to the client. */
export const fromUpstreamStatus = (
  status: number,
  bodyText: string,
  retryAfter?: string | undefined
): UpstreamFailure => {
  const error = readErrorObject(parseJson(bodyText))
  const fallback = bodyText.trim() ? clip(bodyText.trim()) : `Upstream returned HTTP ${status}`
  const message = describe(error, fallback)
  const isOverflow = error?.code === "context_length_exceeded" || CONTEXT_OVERFLOW.test(message)
  const mapped = isOverflow && status < 500 ? { status: 400, type: "invalid_request_error" as const } : byStatus(status)
  return new UpstreamFailure({
    status: mapped.status,
    type: mapped.type,
    message: isOverflow && !/^prompt is too long/.test(message) ? `prompt is too long: ${message}` : message,
    retryAfter,
    upstreamStatus: status
  })
}

/** An error object inside a 200 body or stream chunk (OpenAI `data:{"error":…}`, OpenRouter `finish_reason:"error"`). */
export const fromUpstreamErrorObject = (error: ErrorObject | undefined): UpstreamFailure => {
  const code = typeof error?.code === "number" ? error.code : Number(error?.code)
  const status = Number.isInteger(code) && code >= 400 && code < 600 ? code : 500
  const mapped = byStatus(status)
  return new UpstreamFailure({
    status: mapped.status,
    type: mapped.type,
    message: describe(error, "Upstream reported an error"),
    upstreamStatus: status
  })
}
