import { describe, expect, it } from "@effect/vitest"
import * as Schema from "effect/Schema"
import { MessagesRequest } from "../../src/protocol/anthropic.ts"
import { findSecretsInRequest, redactSecretsInRequest } from "../../src/guardrails/scan.ts"
import { makeSecretScanner } from "../../src/guardrails/secrets.ts"
import { claudeCodeBodies } from "./samples.ts"
import { TOKENS } from "./tokens.ts"

const scanner = makeSecretScanner()
const decode = Schema.decodeUnknownSync(MessagesRequest)

/** A conversation with a secret in every place that is scanned, and in the places that are not. */
const conversation = (): MessagesRequest =>
  decode({
    model: "claude-sonnet-4-6",
    max_tokens: 1024,
    system: [{ type: "text", text: "You are Claude Code." }, { type: "text", text: `env: GITLAB=${TOKENS.gitlab}` }],
    tools: [{ name: "Bash", description: `never print ${TOKENS.githubApp}`, input_schema: { type: "object" } }],
    messages: [
      { role: "user", content: `my key is ${TOKENS.anthropic}` },
      {
        role: "assistant",
        content: [
          { type: "thinking", thinking: `the user pasted ${TOKENS.awsKeyId}`, signature: "sig" },
          { type: "text", text: "Let me look at the config." },
          { type: "tool_use", id: "toolu_1", name: "Write", input: { file_path: ".env", content: `TOKEN=${TOKENS.githubClassic}`, n: 1 } }
        ]
      },
      {
        role: "user",
        content: [
          { type: "tool_result", tool_use_id: "toolu_1", content: `cat .env\nKEY=${TOKENS.openaiProject}` },
          {
            type: "tool_result",
            tool_use_id: "toolu_2",
            content: [
              { type: "text", text: "ok" },
              { type: "image", source: { type: "base64", media_type: "image/png", data: `iVBOR+${TOKENS.awsKeyId}+` } },
              { type: "text", text: TOKENS.slackWebhook }
            ]
          },
          { type: "document", source: { type: "text", media_type: "text/plain", data: TOKENS.pem } },
          { type: "text", text: "thanks" }
        ]
      }
    ]
  })

describe("findSecretsInRequest", () => {
  it("names each secret by kind and place, in request order, and skips thinking, images and tools", () => {
    expect(findSecretsInRequest(conversation(), scanner)).toEqual([
      { kind: "gitlab_token", where: "system.1" },
      { kind: "anthropic_api_key", where: "messages.0.content" },
      { kind: "github_token", where: "messages.1.content.2 (tool_use input)" },
      { kind: "openai_api_key", where: "messages.2.content.0 (tool_result)" },
      { kind: "slack_webhook", where: "messages.2.content.1.content.2 (tool_result)" },
      { kind: "private_key", where: "messages.2.content.2 (document)" }
    ])
  })

  it("finds nothing in what Claude Code really sends", () => {
    for (const [, text] of claudeCodeBodies()) {
      expect(findSecretsInRequest(decode(JSON.parse(text)), scanner)).toEqual([])
    }
  })

  it("finds a secret in a plain-string system prompt", () => {
    const body = decode({ model: "m", max_tokens: 1, system: TOKENS.awsKeyId, messages: [] })
    expect(findSecretsInRequest(body, scanner)).toEqual([{ kind: "aws_access_key_id", where: "system" }])
  })
})

describe("redactSecretsInRequest", () => {
  it("returns a redacted copy and leaves the original untouched", () => {
    const original = conversation()
    const before = JSON.stringify(original)
    const { body, findings } = redactSecretsInRequest(original, scanner)
    expect(JSON.stringify(original)).toBe(before)
    expect(findings.map((f) => f.kind)).toEqual([
      "gitlab_token",
      "anthropic_api_key",
      "github_token",
      "openai_api_key",
      "slack_webhook",
      "private_key"
    ])
    const text = JSON.stringify(body)
    for (const token of [TOKENS.gitlab, TOKENS.anthropic, TOKENS.githubClassic, TOKENS.openaiProject, TOKENS.slackWebhook]) {
      expect(text).not.toContain(token)
    }
    expect(body.system).toEqual([{ type: "text", text: "You are Claude Code." }, { type: "text", text: "env: GITLAB=[REDACTED:gitlab_token]" }])
    expect(body.messages[0]!.content).toBe("my key is [REDACTED:anthropic_api_key]")
    const assistant = body.messages[1]!.content as ReadonlyArray<Record<string, unknown>>
    expect(assistant[2]!.input).toEqual({ file_path: ".env", content: "TOKEN=[REDACTED:github_token]", n: 1 })
    // Not scanned, so not changed: thinking (signed), images (base64), the tool catalogue.
    expect(assistant[0]).toBe((original.messages[1]!.content as ReadonlyArray<unknown>)[0])
    expect(text).toContain(`the user pasted ${TOKENS.awsKeyId}`)
    expect(body.tools).toBe(original.tools)
  })

  it("shares every untouched part with the original", () => {
    const original = conversation()
    const { body } = redactSecretsInRequest(original, scanner)
    const blocks = (m: number) => body.messages[m]!.content as ReadonlyArray<unknown>
    const originalBlocks = (m: number) => original.messages[m]!.content as ReadonlyArray<unknown>
    expect(blocks(1)[1]).toBe(originalBlocks(1)[1])
    expect(blocks(2)[3]).toBe(originalBlocks(2)[3])
    expect((body.system as ReadonlyArray<unknown>)[0]).toBe((original.system as ReadonlyArray<unknown>)[0])
  })

  it("gives back the very same request when there is nothing to redact", () => {
    const body = decode({ model: "m", max_tokens: 1, messages: [{ role: "user", content: [{ type: "text", text: "hi" }] }] })
    const result = redactSecretsInRequest(body, scanner)
    expect(result.body).toBe(body)
    expect(result.findings).toEqual([])
  })
})
