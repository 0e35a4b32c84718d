import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { InvalidRequest, toAnthropicError } from "../../src/errors.ts"
import { DEFAULT_GUARDRAILS, type GuardrailSettings } from "../../src/guardrails/settings.ts"
import { makeGuardrails } from "../../src/pipeline/guardrails.ts"
import { compose, type Handler, messageReply, type ProxyRequest } from "../../src/pipeline/stage.ts"
import type { MessagesRequest } from "../../src/protocol/anthropic.ts"
import { alnum, TOKENS } from "./tokens.ts"

const settings = (secretGuard: GuardrailSettings["secretGuard"]): GuardrailSettings => ({ ...DEFAULT_GUARDRAILS, secretGuard })

const requestOf = (body: MessagesRequest): ProxyRequest => ({
  id: "req_test",
  body,
  headers: {},
  client: {},
  upstream: "openai",
  upstreamModel: body.model,
  receivedBytes: 0,
  estimatedTokens: 0
})

const withSecret: MessagesRequest = {
  model: "claude-sonnet-4-6",
  max_tokens: 100,
  messages: [
    { role: "user", content: "read the env file" },
    { role: "assistant", content: [{ type: "tool_use", id: "toolu_1", name: "Read", input: { file_path: ".env" } }] },
    { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_1", content: `GITHUB_TOKEN=${TOKENS.githubClassic}` }] }
  ]
}

/** A core that answers with a fixed message and remembers what it was given. */
const fakeCore = () => {
  const seen: Array<MessagesRequest> = []
  const core: Handler = (request) => {
    seen.push(request.body)
    return Effect.succeed(
      messageReply({
        id: "msg_1",
        type: "message",
        role: "assistant",
        model: request.upstreamModel,
        content: [{ type: "text", text: "ok" }],
        stop_reason: "end_turn",
        stop_sequence: null,
        usage: { input_tokens: 1, output_tokens: 1, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 }
      })
    )
  }
  return { core, seen }
}

describe("guardrails stage", () => {
  it("off: the stage is the identity, nothing is scanned", () => {
    const { core } = fakeCore()
    const stage = makeGuardrails(settings("off"))
    expect(stage.name).toBe("guardrails")
    expect(stage.wrap(core)).toBe(core)
  })

  it.effect("block: refuses with a 400 naming the kind and the place, never the value, and the core is not called", () =>
    Effect.gen(function*() {
      const { core, seen } = fakeCore()
      const handle = compose([makeGuardrails(settings("block"))], core)
      const error = yield* Effect.flip(handle(requestOf(withSecret)))
      expect(error).toBeInstanceOf(InvalidRequest)
      const rendered = toAnthropicError(error)
      expect(rendered.status).toBe(400)
      expect(rendered.type).toBe("invalid_request_error")
      expect(rendered.message).toContain("github_token in messages.2.content.0 (tool_result)")
      expect(rendered.message).toContain("SECRET_GUARD=block")
      expect(rendered.message).not.toContain(TOKENS.githubClassic)
      expect(seen).toEqual([])
    }))

  it.effect("block: lists three findings and counts the rest", () =>
    Effect.gen(function*() {
      const { core } = fakeCore()
      const body: MessagesRequest = {
        ...withSecret,
        messages: [{ role: "user", content: [1, 2, 3, 4, 5].map((i) => ({ type: "text" as const, text: `${i} ${TOKENS.gitlab}` })) }]
      }
      const error = yield* Effect.flip(compose([makeGuardrails(settings("block"))], core)(requestOf(body)))
      expect(error.message).toContain(
        "gitlab_token in messages.0.content.0 (text), gitlab_token in messages.0.content.1 (text), gitlab_token in messages.0.content.2 (text) and 2 more"
      )
    }))

  it.effect("block: a clean request goes through unchanged", () =>
    Effect.gen(function*() {
      const { core, seen } = fakeCore()
      const clean = { ...withSecret, messages: withSecret.messages.slice(0, 2) }
      yield* compose([makeGuardrails(settings("block"))], core)(requestOf(clean))
      expect(seen).toEqual([clean])
      expect(seen[0]).toBe(clean)
    }))

  it.effect("redact: the core gets a redacted copy; the client's request is left as it was", () =>
    Effect.gen(function*() {
      const { core, seen } = fakeCore()
      const before = JSON.stringify(withSecret)
      const reply = yield* compose([makeGuardrails(settings("redact"))], core)(requestOf(withSecret))
      expect(reply._tag).toBe("Message")
      expect(JSON.stringify(withSecret)).toBe(before)
      expect(seen).toHaveLength(1)
      expect(seen[0]!.messages[2]!.content).toEqual([
        { type: "tool_result", tool_use_id: "toolu_1", content: "GITHUB_TOKEN=[REDACTED:github_token]" }
      ])
      expect(seen[0]!.messages[1]).toBe(withSecret.messages[1])
    }))

  it.effect("looks for the proxy's own upstream key too", () =>
    Effect.gen(function*() {
      const { core, seen } = fakeCore()
      const key = `upstream-${alnum(30)}`
      const body: MessagesRequest = { ...withSecret, messages: [{ role: "user", content: `curl -H "Authorization: Bearer ${key}"` }] }
      const stage = makeGuardrails(settings("redact"), [key])
      yield* compose([stage], core)(requestOf(body))
      expect(seen[0]!.messages[0]!.content).toBe(`curl -H "Authorization: Bearer [REDACTED:upstream_api_key]"`)
      const error = yield* Effect.flip(compose([makeGuardrails(settings("block"), [key])], core)(requestOf(body)))
      expect(error.message).toContain("upstream_api_key in messages.0.content")
      expect(error.message).not.toContain(key)
    }))
})
