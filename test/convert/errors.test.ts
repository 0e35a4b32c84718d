import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import { fromUpstreamErrorObject, fromUpstreamStatus, parseRetryAfter, redactSecrets } from "../../src/convert/errors.ts"
import { toAnthropicError, UpstreamFailure } from "../../src/errors.ts"

const body = (message: string, extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ error: { message, ...extra } })

describe("fromUpstreamStatus: context overflow", () => {
  it("relabels a context overflow as \"prompt is too long\" so Claude Code compacts", () => {
    const failure = fromUpstreamStatus(
      400,
      body("This model's maximum context length is 32768 tokens. However, your request has 40000 input tokens.")
    )
    expect(failure).toMatchObject({ upstreamStatus: 400, promptTooLong: true })
    expect(failure.message).toMatch(/^This model's maximum context length/)
    const mapped = toAnthropicError(failure)
    expect(mapped).toMatchObject({ status: 400, type: "invalid_request_error", headers: { "x-should-retry": "false" } })
    expect(mapped.message).toMatch(/^prompt is too long: This model's maximum context length/)
  })

  it("relabels an overflow in a 413 too, and in an error object (mid-stream, say)", () => {
    const too = fromUpstreamStatus(413, body("prompt is too long: 210000 tokens > 200000 maximum"))
    expect(toAnthropicError(too)).toMatchObject({
      status: 400,
      type: "invalid_request_error",
      message: "prompt is too long: 210000 tokens > 200000 maximum"
    })
    const streamed = fromUpstreamErrorObject({ code: "context_length_exceeded", message: "context window exceeded" })
    expect(streamed).toMatchObject({ upstreamStatus: 500, promptTooLong: true })
    expect(toAnthropicError(fromUpstreamErrorObject({ code: 400, message: "context window exceeded" }))).toMatchObject({
      status: 400,
      message: "prompt is too long: context window exceeded"
    })
  })

  it("leaves a 429 a rate limit even when it talks about too many tokens", () => {
    const failure = fromUpstreamStatus(429, body("Too many tokens per minute, slow down"), "3")
    expect(toAnthropicError(failure)).toEqual({
      status: 429,
      type: "rate_limit_error",
      message: "Too many tokens per minute, slow down",
      headers: { "retry-after": "3" }
    })
  })

  it("keeps a 5xx a 5xx: the upstream broke, a retry may get through", () => {
    const failure = fromUpstreamStatus(503, body("maximum context length reached while loading"))
    expect(toAnthropicError(failure)).toMatchObject({ status: 529, type: "overloaded_error", headers: {} })
  })

  it.each([
    [
      "vLLM",
      "'max_tokens' or 'max_completion_tokens' is too large: 128000. This model's maximum context length is 32768 " +
        "tokens and your request has 1200 input tokens (128000 > 32768 - 1200)."
    ],
    ["OpenAI", "max_tokens is too large: 20000. This model supports at most 16384 completion tokens, whereas you provided 20000."]
  ])("leaves %s's \"requested output too large\" a plain invalid_request_error", (_vendor, message) => {
    const failure = fromUpstreamStatus(400, body(message, { type: "invalid_request_error", code: null }))
    expect(failure).toMatchObject({ message, upstreamStatus: 400, promptTooLong: false })
    expect(toAnthropicError(failure)).toMatchObject({ status: 400, type: "invalid_request_error", message })
  })

  it("leaves it plain even when the vendor tags it context_length_exceeded", () => {
    const message = "'max_tokens' or 'max_completion_tokens' is too large: 128000. This model's maximum context length is 32768 tokens and your request has 1200 input tokens (128000 > 32768 - 1200)."
    expect(toAnthropicError(fromUpstreamStatus(400, body(message, { code: "context_length_exceeded" }))).message)
      .toBe(message)
  })
})

describe("redactSecrets", () => {
  it("removes the given secrets, bearer tokens and sk- keys", () => {
    expect(redactSecrets("key abc123SECRETxyz rejected", ["abc123SECRETxyz"])).toBe("key [redacted] rejected")
    expect(redactSecrets("got Authorization: Bearer eyJhbGciOi.J9payload.sig-_x", [])).toBe(
      "got Authorization: Bearer [redacted]"
    )
    expect(redactSecrets("Incorrect API key provided: sk-proj-Ab12Cd34Ef56Gh78.", [])).toBe(
      "Incorrect API key provided: [redacted]."
    )
    expect(redactSecrets("bad key sk-or-v1-0123456789abcdef and sk-ant-api03-XyZ_123-abcdEFGH", [])).toBe(
      "bad key [redacted] and [redacted]"
    )
  })

  it("leaves ordinary text alone and ignores empty secrets", () => {
    const text = "risk-assessment failed: sk-learn is not a model; Bearer token missing"
    expect(redactSecrets(text, ["", "  "])).toBe(text)
  })
})

describe("upstream errors never carry our key", () => {
  const key = "my-upstream-key-0xC0FFEE"

  it("fromUpstreamStatus redacts the parsed message, the provider detail and the raw-body fallback", () => {
    const echoed = fromUpstreamStatus(401, body(`Invalid API key: ${key}`), undefined, [key])
    expect(echoed).toMatchObject({ upstreamStatus: 401, message: "Invalid API key: [redacted]" })

    const nested = fromUpstreamStatus(
      400,
      JSON.stringify({
        error: {
          message: "Provider returned error",
          metadata: { provider_name: "Acme", raw: JSON.stringify({ error: { message: `header Bearer ${key} refused` } }) }
        }
      }),
      undefined,
      [key]
    )
    expect(nested.message).toBe("Provider returned error (Acme: header Bearer [redacted] refused)")

    // the secret straddles the 500-character clip: no part of it may survive
    const raw = fromUpstreamStatus(502, `${"x".repeat(480)} key=${key} trailing`, undefined, [key])
    expect(raw.message).not.toContain(key.slice(0, 5))
    expect(raw.message).toContain("[redacted]")
  })

  it("fromUpstreamStatus redacts sk- keys even without a secrets list", () => {
    expect(fromUpstreamStatus(401, body("Incorrect API key provided: sk-abcdefghijklmnop1234")).message)
      .toBe("Incorrect API key provided: [redacted]")
  })

  it("fromUpstreamErrorObject redacts too", () => {
    expect(fromUpstreamErrorObject({ code: 401, message: `key ${key} is revoked` }, [key])).toMatchObject({
      upstreamStatus: 401,
      message: "key [redacted] is revoked"
    })
    expect(fromUpstreamErrorObject({ message: "bad sk-or-v1-0123456789abcdef" }).message).toBe("bad [redacted]")
  })
})

describe("parseRetryAfter", () => {
  const now = Date.parse("2025-06-01T12:00:00Z")
  const millis = (raw: string | undefined) => {
    const wait = parseRetryAfter(raw, now)
    return wait === undefined ? undefined : Duration.toMillis(wait)
  }

  it("reads whole and fractional seconds", () => {
    expect(millis("120")).toBe(120_000)
    expect(millis("1.5")).toBe(1_500)
    expect(millis(" 0 ")).toBe(0)
  })

  it("reads an HTTP date as the wait from now; a date past is no wait", () => {
    expect(millis("Sun, 01 Jun 2025 12:00:30 GMT")).toBe(30_000)
    expect(millis("Sun, 01 Jun 2025 11:59:00 GMT")).toBe(0)
  })

  it("gives up on anything else", () => {
    for (const raw of [undefined, "", "soon", "-1", "1e3", "1.", "Infinity", "12 seconds"]) expect(millis(raw)).toBeUndefined()
  })

  it("is applied when the failure is made, and the header the client gets is whole seconds, rounded up", () => {
    const failure = fromUpstreamStatus(429, body("slow down"), "1.5")
    expect(failure.retryAfter && Duration.toMillis(failure.retryAfter)).toBe(1_500)
    expect(toAnthropicError(failure).headers).toEqual({ "retry-after": "2" })
    const dated = fromUpstreamStatus(503, body("busy"), "Sun, 01 Jun 2025 12:02:00 GMT", [], now)
    expect(toAnthropicError(dated).headers).toEqual({ "retry-after": "120" })
    expect(fromUpstreamStatus(429, body("slow down"), "whenever").retryAfter).toBeUndefined()
  })
})

describe("toAnthropicError: upstream statuses", () => {
  const noRetry = { "x-should-retry": "false" }
  // [upstream status, Anthropic status, type, whether a retry can help]
  const table: ReadonlyArray<readonly [number, number, string, boolean]> = [
    [400, 400, "invalid_request_error", false],
    [401, 401, "authentication_error", false],
    [402, 402, "billing_error", false],
    [403, 403, "permission_error", false],
    [404, 404, "not_found_error", false],
    [408, 504, "timeout_error", true],
    [409, 400, "invalid_request_error", false],
    [413, 413, "request_too_large", false],
    [418, 400, "invalid_request_error", false],
    [422, 400, "invalid_request_error", false],
    [429, 429, "rate_limit_error", true],
    [500, 500, "api_error", true],
    [501, 500, "api_error", true],
    [502, 529, "overloaded_error", true],
    [503, 529, "overloaded_error", true],
    [504, 504, "timeout_error", true],
    [529, 529, "overloaded_error", true],
    [599, 500, "api_error", true]
  ]

  it.each(table)("upstream %i → %i %s (retry helps: %s)", (upstreamStatus, status, type, retryable) => {
    const plain = new UpstreamFailure({ upstreamStatus, message: "upstream says no", promptTooLong: false })
    expect(toAnthropicError(plain)).toEqual({ status, type, message: "upstream says no", headers: retryable ? {} : noRetry })
    // The upstream's Retry-After reaches the client only where waiting helps.
    const waited = new UpstreamFailure({
      upstreamStatus,
      message: "upstream says no",
      retryAfter: Duration.seconds(7),
      promptTooLong: false
    })
    expect(toAnthropicError(waited).headers).toEqual(retryable ? { "retry-after": "7" } : noRetry)
  })

  it("an error object's code stands in for the status; without one it is a 500", () => {
    expect(fromUpstreamErrorObject({ code: 429, message: "slow" }).upstreamStatus).toBe(429)
    expect(fromUpstreamErrorObject({ code: "503", message: "busy" }).upstreamStatus).toBe(503)
    expect(fromUpstreamErrorObject({ code: "rate_limited", message: "?" }).upstreamStatus).toBe(500)
    expect(fromUpstreamErrorObject({ code: 200, message: "?" }).upstreamStatus).toBe(500)
    expect(fromUpstreamErrorObject(undefined)).toMatchObject({ upstreamStatus: 500, message: "Upstream reported an error" })
  })
})
