/**
 * Every way a request can fail, as one union of tagged errors. They stay typed until the HTTP edge, which turns
 * them into Anthropic errors through the one mapping here (`toAnthropicError`): JSON error answers and the SSE
 * `error` event of a stream that fails alike.
 */
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import type { ErrorType } from "./protocol/anthropic.ts"

/** The client sent something we cannot accept (bad JSON, schema mismatch, unsupported content). */
export class InvalidRequest extends Data.TaggedError("InvalidRequest")<{ readonly message: string }> {}

export class RequestTooLarge extends Data.TaggedError("RequestTooLarge")<{ readonly limitBytes: number }> {}

export class RouteNotFound extends Data.TaggedError("RouteNotFound")<{ readonly method: string; readonly path: string }> {}

export class MethodNotAllowed extends Data.TaggedError("MethodNotAllowed")<{
  readonly method: string
  readonly path: string
  readonly allowed: ReadonlyArray<string>
}> {}

/**
 * The upstream answered with an error status (before streaming) or an error object (in a 200 body or mid-stream).
 * It carries the upstream's facts only; what the client sees is decided by `toAnthropicError`.
 */
export class UpstreamFailure extends Data.TaggedError("UpstreamFailure")<{
  /** The upstream's HTTP status, or the code of its error object (500 when that names none). */
  readonly upstreamStatus: number
  /** The upstream's message, secrets already redacted. */
  readonly message: string
  /** The upstream's Retry-After, read when the failure was created. */
  readonly retryAfter?: Duration.Duration | undefined
  /** The upstream says the prompt does not fit the model's context (not that the requested output is too large). */
  readonly promptTooLong: boolean
}> {}

/** The upstream did not answer in time: no connection/headers, no first chunk, or silence between chunks. */
export class UpstreamTimeout extends Data.TaggedError("UpstreamTimeout")<{
  readonly phase: "connect" | "first_byte" | "idle"
  readonly millis: number
}> {}

/** The upstream could not be reached, or its connection broke. */
export class UpstreamUnreachable extends Data.TaggedError("UpstreamUnreachable")<{ readonly message: string }> {}

/** The upstream sent something we cannot read (not JSON, not SSE, no choices). */
export class UpstreamProtocolError extends Data.TaggedError("UpstreamProtocolError")<{ readonly message: string }> {}

/** Our own protection kicked in (circuit open, too many requests in flight). */
export class Overloaded extends Data.TaggedError("Overloaded")<{
  readonly message: string
  /** When trying again makes sense (sent as `retry-after`). */
  readonly retryAfter?: Duration.Duration | undefined
}> {}

/** The client presented no key, or one that is not in PROXY_API_KEYS. */
export class Unauthorized extends Data.TaggedError("Unauthorized")<{ readonly message: string }> {}

/** A rate limit of ours said no: the client's own (RATE_LIMIT_PER_MINUTE) or the upstream budget (UPSTREAM_RPM/TPM). */
export class RateLimited extends Data.TaggedError("RateLimited")<{
  readonly message: string
  readonly retryAfter: Duration.Duration
}> {}

export type ProxyError =
  | InvalidRequest
  | RequestTooLarge
  | RouteNotFound
  | MethodNotAllowed
  | UpstreamFailure
  | UpstreamTimeout
  | UpstreamUnreachable
  | UpstreamProtocolError
  | Overloaded
  | Unauthorized
  | RateLimited

const PROXY_ERROR_TAGS: ReadonlySet<string> = new Set<ProxyError["_tag"]>([
  "InvalidRequest",
  "RequestTooLarge",
  "RouteNotFound",
  "MethodNotAllowed",
  "UpstreamFailure",
  "UpstreamTimeout",
  "UpstreamUnreachable",
  "UpstreamProtocolError",
  "Overloaded",
  "Unauthorized",
  "RateLimited"
])

/** One of ours (a user route may fail with anything; only ours have an Anthropic rendering). */
export const isProxyError = (error: unknown): error is ProxyError =>
  error instanceof Error && PROXY_ERROR_TAGS.has((error as { _tag?: string })._tag ?? "")

export interface AnthropicError {
  readonly status: number
  readonly type: ErrorType
  readonly message: string
  readonly headers: Readonly<Record<string, string>>
}

/**
 * The retry hint. The Anthropic SDK retries 408, 409, 429 and every 5xx unless the answer says
 * `x-should-retry: false`, and Claude Code allows it many retries; so an error that no retry can fix says so, or
 * the user sits through a round of backoffs for the same answer.
 * - `x-should-retry: false`: the request itself is wrong or refused (every 4xx but 429), and the 500s that repeat
 *   whatever happens: a bug of ours (`renderDefect`), an upstream we cannot read (wrong base URL, a server that
 *   does not speak Chat Completions).
 * - no header, so the SDK's own rule retries: 429 and 529 (with `retry-after` when known), timeouts (504), and
 *   the upstream's 5xx.
 */
const noRetry = { "x-should-retry": "false" } as const

/** The single mapping from our errors to Anthropic's status, type, message and headers. */
export const toAnthropicError = (error: ProxyError): AnthropicError => {
  switch (error._tag) {
    case "InvalidRequest":
      return { status: 400, type: "invalid_request_error", message: error.message, headers: noRetry }
    case "RequestTooLarge":
      return {
        status: 413,
        type: "request_too_large",
        message: `Request exceeds the maximum allowed size of ${Math.round(error.limitBytes / 1024 / 1024)} MB`,
        headers: noRetry
      }
    case "RouteNotFound":
      return { status: 404, type: "not_found_error", message: `Not found: ${error.method} ${error.path}`, headers: noRetry }
    case "MethodNotAllowed":
      return {
        status: 405,
        type: "invalid_request_error",
        message: `Method ${error.method} is not allowed for ${error.path}; use ${error.allowed.join(", ")}`,
        headers: { ...noRetry, allow: error.allowed.join(", ") }
      }
    case "UpstreamFailure":
      return fromUpstream(error)
    case "UpstreamTimeout":
      return { status: 504, type: "timeout_error", message: timeoutMessage(error), headers: {} }
    case "UpstreamUnreachable":
      return { status: 529, type: "overloaded_error", message: `Upstream unreachable: ${error.message}`, headers: {} }
    case "UpstreamProtocolError":
      return { status: 500, type: "api_error", message: `Upstream protocol error: ${error.message}`, headers: noRetry }
    case "Overloaded":
      return { status: 529, type: "overloaded_error", message: error.message, headers: retryAfterHeader(error.retryAfter) }
    case "Unauthorized":
      return { status: 401, type: "authentication_error", message: error.message, headers: noRetry }
    case "RateLimited":
      return { status: 429, type: "rate_limit_error", message: error.message, headers: retryAfterHeader(error.retryAfter) }
  }
}

/** The upstream's status → Anthropic's (PROTOCOL.md §I.5). */
const upstreamStatusMapping = (upstreamStatus: number): { status: number; type: ErrorType } => {
  switch (upstreamStatus) {
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
      return upstreamStatus >= 500 ? { status: 500, type: "api_error" } : { status: 400, type: "invalid_request_error" }
  }
}

const PROMPT_TOO_LONG = /^prompt is too long/

const fromUpstream = (error: UpstreamFailure): AnthropicError => {
  // Claude Code compacts the conversation on a 400 whose message starts with "prompt is too long", whatever the
  // vendor called it. A 5xx keeps its status (the upstream broke, a retry may get through), and so does a 429: a
  // tokens-per-minute limit reads like an overflow, but waiting fixes it and compacting does not.
  const overflow = error.promptTooLong && error.upstreamStatus !== 429
  const { status, type } = overflow && error.upstreamStatus < 500
    ? { status: 400, type: "invalid_request_error" as const }
    : upstreamStatusMapping(error.upstreamStatus)
  const message = overflow && !PROMPT_TOO_LONG.test(error.message) ? `prompt is too long: ${error.message}` : error.message
  const retryable = status === 429 || status >= 500
  return { status, type, message, headers: retryable ? retryAfterHeader(error.retryAfter) : noRetry }
}

/** Whole seconds, rounded up: a client that waits exactly this long is not turned away again. */
const retryAfterHeader = (after: Duration.Duration | undefined): Record<string, string> =>
  after === undefined ? {} : { "retry-after": String(Math.max(1, Math.ceil(Duration.toMillis(after) / 1000))) }

const timeoutMessage = (error: UpstreamTimeout): string => {
  switch (error.phase) {
    case "connect":
      return `Upstream did not respond within ${error.millis} ms`
    case "first_byte":
      return `Upstream sent no data within ${error.millis} ms`
    case "idle":
      return `Upstream stream was silent for more than ${error.millis} ms`
  }
}
