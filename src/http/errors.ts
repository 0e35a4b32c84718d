/** The one place where errors become HTTP: Anthropic's error body, status and headers. */
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import { type ProxyError, toAnthropicError } from "../errors.ts"
import type { ErrorBody } from "../protocol/anthropic.ts"

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

/** A defect (a bug of ours): the client gets a plain 500 without internals; the details go to the log. */
export const renderDefect = (requestId: string): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.jsonUnsafe(
    {
      type: "error",
      error: { type: "api_error", message: "Internal proxy error; see the proxy log for this request id" },
      request_id: requestId
    } satisfies ErrorBody,
    { status: 500, headers: { "request-id": requestId } }
  )
