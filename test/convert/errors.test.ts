import { describe, expect, it } from "@effect/vitest"
import { fromUpstreamErrorObject, fromUpstreamStatus, redactSecrets } from "../../src/convert/errors.ts"

const body = (message: string, extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ error: { message, ...extra } })

describe("fromUpstreamStatus: context overflow", () => {
  it("relabels a context overflow as \"prompt is too long\" so Claude Code compacts", () => {
    const failure = fromUpstreamStatus(
      400,
      body("This model's maximum context length is 32768 tokens. However, your request has 40000 input tokens.")
    )
    expect(failure).toMatchObject({ status: 400, type: "invalid_request_error" })
    expect(failure.message).toMatch(/^prompt is too long: This model's maximum context length/)
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
    expect(failure).toMatchObject({ status: 400, type: "invalid_request_error", message, upstreamStatus: 400 })
  })

  it("leaves it plain even when the vendor tags it context_length_exceeded", () => {
    const message = "'max_tokens' or 'max_completion_tokens' is too large: 128000. This model's maximum context length is 32768 tokens and your request has 1200 input tokens (128000 > 32768 - 1200)."
    expect(fromUpstreamStatus(400, body(message, { code: "context_length_exceeded" })).message).toBe(message)
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
    expect(echoed).toMatchObject({ status: 401, type: "authentication_error", message: "Invalid API key: [redacted]" })

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
      status: 401,
      message: "key [redacted] is revoked"
    })
    expect(fromUpstreamErrorObject({ message: "bad sk-or-v1-0123456789abcdef" }).message).toBe("bad [redacted]")
  })
})
