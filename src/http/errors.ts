/** The one place where errors become HTTP: Anthropic's error body, status and headers, and the SSE error event. */
import * as Cause from "effect/Cause"
import * as Option from "effect/Option"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import { type ProxyError, toAnthropicError } from "../errors.ts"
import type { ErrorBody, StreamEvent } from "../protocol/anthropic.ts"

const DEFECT_MESSAGE = "Internal proxy error; see the proxy log for this request id"

export const errorBody = (error: ProxyError, requestId: string | null): ErrorBody => {
  const { message, type } = toAnthropicError(error)
  return { type: "error", error: { type, message }, request_id: requestId }
}

export const renderError = (error: ProxyError, requestId: string): HttpServerResponse.HttpServerResponse => {
  const mapped = toAnthropicError(error)
  return HttpServerResponse.jsonUnsafe(errorBody(error, requestId), {
    status: mapped.status,
    headers: { ...mapped.headers, "request-id": requestId }
  })
}

/**
 * A defect (a bug of ours): the client gets a plain 500 without internals; the details go to the log. The same
 * request would meet the same bug, so the SDK is told not to retry (see `toAnthropicError` on the retry hint).
 */
export const renderDefect = (requestId: string): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.jsonUnsafe(
    {
      type: "error",
      error: { type: "api_error", message: DEFECT_MESSAGE },
      request_id: requestId
    } satisfies ErrorBody,
    { status: 500, headers: { "x-should-retry": "false", "request-id": requestId } }
  )

/** A failure as an SSE `error` event: the same type and message its JSON answer would have had. */
export const errorEvent = (error: ProxyError): StreamEvent => {
  const { message, type } = toAnthropicError(error)
  return { type: "error", error: { type, message } }
}

/** A stream that died of a defect: like `renderDefect`, no internals. */
const INTERNAL_ERROR_EVENT: StreamEvent = { type: "error", error: { type: "api_error", message: DEFECT_MESSAGE } }

/**
 * How a stream that fails after its headers went out ends: with one last `error` event (for `encodeEvents`'
 * `recover`). The stream's own closing events, such as the open block's `content_block_stop`, came before it.
 */
export const streamErrorEvent = (cause: Cause.Cause<ProxyError>): StreamEvent => {
  const error = Cause.findErrorOption(cause)
  return Option.isSome(error) ? errorEvent(error.value) : INTERNAL_ERROR_EVENT
}
