/**
 * Thinking with tools across turns: turn 1's upstream answer (a cassette) → the Anthropic reply as the official SDK
 * accumulates it → the client sends it back with a tool_result → the turn-2 upstream request carries the vendor's
 * reasoning exactly as the vendor sent it.
 */
import type Anthropic from "@anthropic-ai/sdk"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Result, Schema } from "effect"
import type { Provider } from "../../src/convert/models.ts"
import { openEnvelope, PLACEHOLDER_SIGNATURE, sealDetails } from "../../src/convert/reasoning-replay.ts"
import { toChatRequest } from "../../src/convert/request.ts"
import { toMessage } from "../../src/convert/response.ts"
import { MessagesRequest } from "../../src/protocol/anthropic.ts"
import type * as O from "../../src/protocol/openai.ts"
import { replayAsClient, streamContext } from "./cassettes.ts"

type Block = Anthropic.ContentBlock | Record<string, unknown>

/** Turn 2 as Claude Code sends it: the question, turn 1's reply unchanged, and a result for each of its calls. */
const turnTwo = (reply: ReadonlyArray<Block>, model = "claude-sonnet-4-5") =>
  Schema.decodeUnknownSync(MessagesRequest)({
    model,
    max_tokens: 8192,
    stream: true,
    thinking: { type: "enabled", budget_tokens: 4096 },
    tools: [{ name: "Bash", input_schema: { type: "object" } }, { name: "Read", input_schema: { type: "object" } }],
    messages: [
      { role: "user", content: "Go" },
      { role: "assistant", content: reply },
      {
        role: "user",
        content: reply.flatMap((block) =>
          block.type === "tool_use" ? [{ type: "tool_result", tool_use_id: block.id, content: "done" }] : []
        )
      }
    ]
  })

const upstreamAssistant = (reply: ReadonlyArray<Block>, model: string, provider: Provider) => {
  const converted = toChatRequest(turnTwo(reply), { model, provider })
  if (Result.isFailure(converted)) throw new Error(converted.failure.message)
  const messages = converted.success.request.messages
  const index = messages.findIndex((message) => message.role === "assistant")
  const assistant = messages[index]
  if (assistant?.role !== "assistant") throw new Error("no assistant message")
  return { assistant, next: messages[index + 1] }
}

const CLAUDE_SIGNATURE =
  "EpcCCkYIBxgCKkCh3mZ0vXq7Lr2Tn9Wk4Ys1Pd8Bf6Gj0Hc5Ne2Qa7Ux3Ri9Vo4Km1Zs8Lb6Jt0Fw2Dy5Ep7Cg3Ah1MxEgy4Nf8Rk2Tq6Wp0Lm3ZbIaDKs9Vd1Gh5Jc7Xr2QiIwYt4Bn8Mf0Lp3Kz6Wq9Er2Ty5Ui1Op7As4Dg"

describe("OpenRouter → Claude: reasoning_details back exactly (openrouter-claude-tool-reasoning)", () => {
  it.effect("the turn-2 assistant message carries the merged reasoning item, signature and all", () =>
    Effect.gen(function*() {
      const reply = yield* replayAsClient("openrouter-claude-tool-reasoning", streamContext({ provider: "openrouter" }))
      expect(reply.content.map((block) => block.type)).toEqual(["thinking", "text", "tool_use"])
      const thinking = reply.content[0]
      expect(thinking?.type === "thinking" && thinking.thinking).toBe(
        "The user wants the test files. Listing test/ first is cheapest."
      )

      const { assistant, next } = upstreamAssistant(reply.content, "anthropic/claude-sonnet-4.5", "openrouter")
      // The recording's two text fragments and its signature fragment (index 0 each), merged into one item.
      expect(assistant.reasoning_details).toEqual([{
        type: "reasoning.text",
        text: "The user wants the test files. Listing test/ first is cheapest.",
        format: "anthropic-claude-v1",
        index: 0,
        signature: CLAUDE_SIGNATURE
      }])
      expect(assistant.content).toBe("I'll list the test directory.")
      expect(assistant.tool_calls?.[0]?.id).toBe("toolu_vrtx_01Kd7QmW3pXz9Ry2Nc5Tb8Lf")
      expect(next).toEqual({ role: "tool", tool_call_id: "toolu_vrtx_01Kd7QmW3pXz9Ry2Nc5Tb8Lf", content: "done" })
      expect(assistant).not.toHaveProperty("reasoning_content")
    }))
})

describe("OpenRouter → OpenAI: summary and encrypted item back exactly (openrouter-openai-encrypted)", () => {
  it.effect("the encrypted item travels in a redacted_thinking block and comes back with its id and format", () =>
    Effect.gen(function*() {
      const reply = yield* replayAsClient("openrouter-openai-encrypted", streamContext({ provider: "openrouter" }))
      expect(reply.content.map((block) => block.type)).toEqual(["thinking", "redacted_thinking", "tool_use"])

      const { assistant } = upstreamAssistant(reply.content, "openai/gpt-5-mini", "openrouter")
      expect(assistant.reasoning_details).toEqual([
        {
          type: "reasoning.summary",
          summary: "**Locating the config**\n\nI should read package.json.",
          id: "rs_68a1f0c2d4e5b6a7",
          format: "openai-responses-v1",
          index: 0
        },
        {
          type: "reasoning.encrypted",
          data: "gAAAAABoofDC3kP9xVq2Lm7Tz4Nw1Rb8Yc5Hd0Jf6Gs3Ke9Ua2Io7Pl4Zx1Cv8Bn5Mq0Wt6Er3Ty9",
          id: "rs_68a1f0c2d4e5b6a7",
          format: "openai-responses-v1",
          index: 1
        }
      ])
    }))
})

describe("DeepSeek: reasoning_content back on the tool-call turn (deepseek-tool-reasoning)", () => {
  it.effect("the turn-2 assistant message has the recorded reasoning_content, verbatim", () =>
    Effect.gen(function*() {
      const reply = yield* replayAsClient("deepseek-tool-reasoning", streamContext({ provider: "deepseek" }))
      expect(reply.content.map((block) => block.type)).toEqual(["thinking", "tool_use"])

      const { assistant, next } = upstreamAssistant(reply.content, "deepseek-reasoner", "deepseek")
      expect(assistant).toEqual({
        role: "assistant",
        content: null,
        tool_calls: [{
          id: "call_00_Xq4Ln8Tz2Wk6Rb1Mv9Pc3Hd",
          type: "function",
          function: { name: "Grep", arguments: "{\"pattern\":\"TODO\",\"output_mode\":\"count\"}" }
        }],
        reasoning_content: "The user asks how many TODOs are left. I'll grep for them."
      })
      expect(next).toMatchObject({ role: "tool", tool_call_id: "call_00_Xq4Ln8Tz2Wk6Rb1Mv9Pc3Hd" })
    }))
})

describe("non-streaming replies round-trip the same way", () => {
  const details: Array<O.ReasoningDetail> = [
    { type: "reasoning.text", text: "Check the file.", format: "anthropic-claude-v1", index: 0, signature: "EqQBCkYIBRgC" },
    { type: "reasoning.encrypted", data: "EmwKAhgBEgy3vaQ", format: "anthropic-claude-v1", index: 1 }
  ]
  const response: O.ChatResponse = {
    choices: [{
      index: 0,
      finish_reason: "tool_calls",
      message: {
        role: "assistant",
        content: null,
        reasoning: "Check the file.",
        reasoning_details: details,
        tool_calls: [{ id: "toolu_01Q", type: "function", function: { name: "Read", arguments: "{\"file_path\":\"a\"}" } }]
      }
    }]
  }
  const reply = (provider?: Provider) =>
    Result.getOrThrow(toMessage(response, { messageId: "msg_1", clientModel: "claude-sonnet-4-5", toolNames: new Map(), provider }))

  it("OpenRouter: thinking + redacted_thinking carry the items; the next request gives them back as they were", () => {
    const content = reply("openrouter").content
    expect(content.map((block) => block.type)).toEqual(["thinking", "redacted_thinking", "tool_use"])
    expect(upstreamAssistant(content, "anthropic/claude-sonnet-4", "openrouter").assistant.reasoning_details).toEqual(details)
  })

  it("without a provider the upstream's raw signature and data pass through (as before profiles)", () => {
    expect(reply().content.slice(0, 2)).toEqual([
      { type: "thinking", thinking: "Check the file.", signature: "EqQBCkYIBRgC" },
      { type: "redacted_thinking", data: "EmwKAhgBEgy3vaQ" }
    ])
  })
})

describe("history from elsewhere", () => {
  const sealed = sealDetails([{ type: "reasoning.text", text: "plan", signature: "sig", format: "anthropic-claude-v1", index: 0 }])
  const history = (signature: string): ReadonlyArray<Block> => [
    { type: "thinking", thinking: "plan", signature },
    { type: "tool_use", id: "toolu_1", name: "Bash", input: {} }
  ]

  it("an OpenRouter envelope sent to DeepSeek gives its text as reasoning_content; to OpenAI, nothing", () => {
    expect(upstreamAssistant(history(sealed), "deepseek-reasoner", "deepseek").assistant.reasoning_content).toBe("plan")
    const openai = upstreamAssistant(history(sealed), "gpt-5", "openai").assistant
    expect(openai).not.toHaveProperty("reasoning_details")
    expect(openai).not.toHaveProperty("reasoning_content")
  })

  it("OpenRouter → Claude: a raw Claude signature is sent signed; unsigned (placeholder) thinking is not sent", () => {
    expect(upstreamAssistant(history("EqQBraw"), "anthropic/claude-sonnet-4", "openrouter").assistant.reasoning_details)
      .toEqual([{ type: "reasoning.text", text: "plan", signature: "EqQBraw", format: "anthropic-claude-v1" }])
    expect(upstreamAssistant(history(PLACEHOLDER_SIGNATURE), "anthropic/claude-sonnet-4", "openrouter").assistant)
      .not.toHaveProperty("reasoning_details")
  })

  it("OpenRouter → another model: unsigned thinking goes back as plain reasoning text", () => {
    expect(upstreamAssistant(history(PLACEHOLDER_SIGNATURE), "deepseek/deepseek-r1", "openrouter").assistant.reasoning_details)
      .toEqual([{ type: "reasoning.text", text: "plan" }])
  })

  it("a damaged envelope opens to nothing (it is not sent as if it were a signature)", () => {
    expect(openEnvelope(sealed.slice(0, -4) + "!!!!")).toBeUndefined()
    expect(openEnvelope("ccproxy.r1." + Buffer.from("{\"not\":\"a list\"}").toString("base64url"))).toBeUndefined()
    expect(upstreamAssistant(history("ccproxy.r1.AAAA"), "anthropic/claude-sonnet-4", "openrouter").assistant)
      .not.toHaveProperty("reasoning_details")
  })
})
