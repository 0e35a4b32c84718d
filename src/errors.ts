/**
 * Every way a request can fail, as one union of tagged errors. They are turned into Anthropic error bodies in one
 * place (`toAnthropicError`), used by the HTTP edge for JSON errors and by the stream encoder for `event: error`.
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

/** The upstream answered with an error status (before streaming) or an error object (mid-stream). */
export class UpstreamFailure extends Data.TaggedError("UpstreamFailure")<{
  readonly status: number
  readonly type: ErrorType
  readonly message: string
  /** The upstream's Retry-After value, passed on verbatim to the client. */
  readonly retryAfter?: string | undefined
  /** The upstream status before mapping, used to decide on retries. */
  readonly upstreamStatus: number
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

export interface AnthropicError {
  readonly status: number
  readonly type: ErrorType
  readonly message: string
  readonly headers: Readonly<Record<string, string>>
}

const noRetry = { "x-should-retry": "false" } as const

/** The single mapping from our errors to Anthropic's status, type and message. */
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
      return {
        status: error.status,
        type: error.type,
        message: error.message,
        headers: error.retryAfter !== undefined ? { "retry-after": error.retryAfter } : {}
      }
    case "UpstreamTimeout":
      return {
        status: 504,
        type: "timeout_error",
        message: timeoutMessage(error),
        headers: {}
      }
    case "UpstreamUnreachable":
      return { status: 529, type: "overloaded_error", message: `Upstream unreachable: ${error.message}`, headers: {} }
    case "UpstreamProtocolError":
      return { status: 500, type: "api_error", message: `Upstream protocol error: ${error.message}`, headers: {} }
    case "Overloaded":
      return { status: 529, type: "overloaded_error", message: error.message, headers: retryAfterHeader(error.retryAfter) }
    case "Unauthorized":
      return { status: 401, type: "authentication_error", message: error.message, headers: noRetry }
    case "RateLimited":
      return { status: 429, type: "rate_limit_error", message: error.message, headers: retryAfterHeader(error.retryAfter) }
  }
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
