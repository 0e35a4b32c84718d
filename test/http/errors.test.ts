import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import {
  InvalidRequest,
  MethodNotAllowed,
  Overloaded,
  type ProxyError,
  RateLimited,
  RequestTooLarge,
  RouteNotFound,
  Unauthorized,
  UpstreamFailure,
  UpstreamProtocolError,
  UpstreamTimeout,
  UpstreamUnreachable
} from "../../src/errors.ts"
import { errorEvent, renderDefect, renderError, streamErrorEvent } from "../../src/http/errors.ts"

const upstream = (upstreamStatus: number) => new UpstreamFailure({ upstreamStatus, message: "no", promptTooLong: false })

describe("the retry hint", () => {
  // What the Anthropic SDK does with each: it retries 408/409/429/5xx unless told `x-should-retry: false`.
  const cases: ReadonlyArray<readonly [string, ProxyError, number, boolean]> = [
    ["a bad request", new InvalidRequest({ message: "bad" }), 400, false],
    ["a body too large", new RequestTooLarge({ limitBytes: 1024 }), 413, false],
    ["no such route", new RouteNotFound({ method: "GET", path: "/x" }), 404, false],
    ["a wrong method", new MethodNotAllowed({ method: "PUT", path: "/v1/messages", allowed: ["POST"] }), 405, false],
    ["no key", new Unauthorized({ message: "who are you" }), 401, false],
    ["an upstream we cannot read", new UpstreamProtocolError({ message: "HTML" }), 500, false],
    ["the upstream's 403", upstream(403), 403, false],
    ["the upstream's 500", upstream(500), 500, true],
    ["the upstream's 429", upstream(429), 429, true],
    ["the upstream's 503", upstream(503), 529, true],
    ["a timeout", new UpstreamTimeout({ phase: "connect", millis: 10 }), 504, true],
    ["an unreachable upstream", new UpstreamUnreachable({ message: "reset" }), 529, true],
    ["our overload protection", new Overloaded({ message: "busy" }), 529, true],
    ["our rate limit", new RateLimited({ message: "slow", retryAfter: Duration.millis(2100) }), 429, true]
  ]

  it.each(cases)("%s → %i, retry helps: %s", (_name, error, status, retryable) => {
    const response = renderError(error, "req_1")
    expect(response.status).toBe(status)
    expect(response.headers["x-should-retry"]).toBe(retryable ? undefined : "false")
    expect(response.headers["request-id"]).toBe("req_1")
  })

  it("a rate limit says when, rounded up to whole seconds", () => {
    expect(renderError(new RateLimited({ message: "slow", retryAfter: Duration.millis(2100) }), "req_1").headers["retry-after"])
      .toBe("3")
  })

  it("a defect of ours is a 500 the SDK must not retry", () => {
    const response = renderDefect("req_2")
    expect(response.status).toBe(500)
    expect(response.headers["x-should-retry"]).toBe("false")
    expect(response.headers["request-id"]).toBe("req_2")
  })
})

describe("streamErrorEvent", () => {
  it("renders a typed failure as the error event its JSON answer would carry", () => {
    const error = new UpstreamTimeout({ phase: "idle", millis: 5 })
    expect(streamErrorEvent(Cause.fail(error))).toEqual({
      type: "error",
      error: { type: "timeout_error", message: "Upstream stream was silent for more than 5 ms" }
    })
    expect(streamErrorEvent(Cause.fail(error))).toEqual(errorEvent(error))
  })

  it("renders a defect without internals", () => {
    expect(streamErrorEvent(Cause.die(new Error("secret internals")))).toEqual({
      type: "error",
      error: { type: "api_error", message: "Internal proxy error; see the proxy log for this request id" }
    })
  })
})
