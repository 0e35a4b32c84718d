/**
 * The canonical key: the same request gives the same key however its JSON was laid out, whichever host it went to
 * and whatever session id Claude Code derived `user` from; anything that changes what was asked changes it.
 */
import { describe, expect, it } from "@effect/vitest"
import { makeCassetteRedactor } from "../../../src/upstream/cassette-redaction.ts"
import { canonicalJson, exchangeKey, identifyExchange } from "../../../src/upstream/exchange-key.ts"

const redactor = makeCassetteRedactor([])
const body = {
  model: "gpt-4.1",
  stream: true,
  user: "u_5eac4e5f370fb6333c65455530b7055e",
  messages: [{ role: "system", content: "be brief" }, { role: "user", content: "Say hello" }],
  stream_options: { include_usage: true }
}
const keyOf = (url: string, value: unknown) => identifyExchange(redactor, url, value).key

describe("canonical JSON", () => {
  it("sorts keys at every depth, keeps array order, drops undefined fields", () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: undefined } })).toBe('{"a":{"d":[3,{"y":2,"z":1}]},"b":1}')
    expect(canonicalJson([2, 1])).toBe("[2,1]")
    expect(canonicalJson("text")).toBe('"text"')
  })
})

describe("exchange key", () => {
  it("is 16 hex digits and fixed for a given path and body (a changed definition breaks every recording)", () => {
    // printf '/v1/chat/completions\n{"messages":[],"model":"m"}' | sha256sum | cut -c1-16
    expect(exchangeKey("/v1/chat/completions", { model: "m", messages: [] })).toBe("385c7a4e7e8d5692")
  })

  it("ignores key order, host and port, and the session-derived `user`", () => {
    const reordered = { stream_options: { include_usage: true }, messages: body.messages, stream: true, model: "gpt-4.1", user: "u_85368327789f6191aba919e7b9d9cb9e" }
    const { user: _user, ...withoutUser } = body
    const key = keyOf("http://127.0.0.1:41234/v1/chat/completions", body)
    expect(keyOf("https://api.example.com/v1/chat/completions", reordered)).toBe(key)
    expect(keyOf("http://[::1]:9/v1/chat/completions", withoutUser)).toBe(key)
  })

  it("changes with the path, the model, the messages, `stream` and a nested `user`", () => {
    const key = keyOf("http://h/v1/chat/completions", body)
    const others = [
      keyOf("http://h/api/v1/chat/completions", body),
      keyOf("http://h/v1/chat/completions?api-version=2", body),
      keyOf("http://h/v1/chat/completions", { ...body, model: "gpt-4.1-mini" }),
      keyOf("http://h/v1/chat/completions", { ...body, stream: false }),
      keyOf("http://h/v1/chat/completions", { ...body, messages: [...body.messages, { role: "user", content: "again" }] }),
      keyOf("http://h/v1/chat/completions", { ...body, messages: [{ role: "user", content: "Say hello", user: "x" }] })
    ]
    for (const other of others) expect(other).not.toBe(key)
    expect(new Set(others).size).toBe(others.length)
  })

  it("is computed over the redacted body, so it can be recomputed from a cassette's own request", () => {
    const secret = `AKIA${"ABCDEFGHIJKLMNOP"}`
    const sent = identifyExchange(redactor, "http://h/v1/chat/completions", { ...body, messages: [{ role: "user", content: `my key ${secret}` }] })
    expect(JSON.stringify(sent.body)).not.toContain(secret)
    expect(exchangeKey(sent.path, sent.body)).toBe(sent.key)
  })
})
