/**
 * Gemini's thought signatures across turns: turn 1's upstream answer (a cassette, or a whole JSON completion) → the
 * Anthropic reply as the client keeps it → turn 2's upstream request carries each signature on exactly the tool
 * call it came with (gemini-signatures.ts).
 */
import type Anthropic from "@anthropic-ai/sdk"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Result, Schema } from "effect"
import { openCarrier, signatureCarrier, THOUGHT_SIGNATURE_BYPASS } from "../../src/convert/gemini-signatures.ts"
import type { Provider } from "../../src/convert/models.ts"
import { toChatRequest } from "../../src/convert/request.ts"
import { toMessage } from "../../src/convert/response.ts"
import { StreamTranslator } from "../../src/convert/stream-translator.ts"
import { MessagesRequest } from "../../src/protocol/anthropic.ts"
import type * as O from "../../src/protocol/openai.ts"
import { replayAsClient, streamContext } from "./cassettes.ts"

type Block = Anthropic.ContentBlock | Record<string, unknown>

/** The signature the cassette's first call carries. */
const CASSETTE_SIGNATURE =
  "CiQBcsjafOGa3Hq0m7VxTz9Lr2Nw4Kp8Yd1Fs6Jc0Hb5Ue3Wm7QqDgsKAXLI2nwPz1Rk4Tb9Ld6Vc2Mn8Hx5Qy0Jf3Gs7Wt1Ep4Ko9Az6Cv2Bn5Ui8Re1Dw3Yh0Lm"

/** A conversation as Claude Code sends it: the question, then per step the reply and a result for each call. */
const conversation = (steps: ReadonlyArray<ReadonlyArray<Block>>, model = "gemini-3-pro-preview", provider: Provider = "gemini") => {
  const messages: Array<unknown> = [{ role: "user", content: "Compare the two configs" }]
  for (const reply of steps) {
    messages.push({ role: "assistant", content: reply }, {
      role: "user",
      content: reply.flatMap((block) =>
        block.type === "tool_use" ? [{ type: "tool_result", tool_use_id: block.id, content: "{}" }] : []
      )
    })
  }
  const request = Schema.decodeUnknownSync(MessagesRequest)({
    model: "claude-sonnet-4-5",
    max_tokens: 8192,
    tools: [{ name: "Read", input_schema: { type: "object" } }],
    messages
  })
  const converted = toChatRequest(request, { model, provider })
  if (Result.isFailure(converted)) throw new Error(converted.failure.message)
  return converted.success
}

const assistants = (request: O.ChatRequest) =>
  request.messages.flatMap((message) => (message.role === "assistant" ? [message] : []))

const signaturesOf = (message: ReturnType<typeof assistants>[number]) =>
  (message.tool_calls ?? []).map((call) => [call.id, call.extra_content?.google.thought_signature])

describe("Gemini 3, streamed: the signature comes back on its call (gemini3-tool-thought-signature)", () => {
  it.effect("the reply ends with a carrier; turn 2 has the signature on the first call only", () =>
    Effect.gen(function*() {
      const reply = yield* replayAsClient("gemini3-tool-thought-signature", streamContext({ provider: "gemini" }))
      expect(reply.content.map((block) => block.type)).toEqual(["text", "tool_use", "tool_use", "thinking"])
      const carrier = reply.content[3]
      expect(carrier?.type === "thinking" && carrier.thinking).toBe("")
      expect(carrier?.type === "thinking" && openCarrier(carrier.signature))
        .toEqual(new Map([["function-call-4517301287436905521", CASSETTE_SIGNATURE]]))

      const converted = conversation([reply.content])
      const [assistant] = assistants(converted.request)
      expect(assistant?.content).toBe("I'll read both files.")
      expect(assistant && signaturesOf(assistant)).toEqual([
        ["function-call-4517301287436905521", CASSETTE_SIGNATURE],
        ["function-call-4517301287436905522", undefined]
      ])
      expect(assistant?.tool_calls?.[1]).not.toHaveProperty("extra_content")
      // The carrier is not a dropped thinking block.
      expect(converted.notes.join("\n")).not.toContain("thinking")
      expect(converted.request.messages.filter((message) => message.role === "tool")).toHaveLength(2)
    }))

  it.effect("without the Gemini profile no carrier is added (other vendors get the reply as before)", () =>
    Effect.gen(function*() {
      const reply = yield* replayAsClient("gemini3-tool-thought-signature", streamContext({ provider: "generic" }))
      expect(reply.content.map((block) => block.type)).toEqual(["text", "tool_use", "tool_use"])
    }))
})

describe("Gemini 3, JSON: sequential steps each keep their own signature", () => {
  const completion = (id: string, file: string, signature: string): O.ChatResponse => ({
    choices: [{
      index: 0,
      finish_reason: "stop",
      message: {
        role: "assistant",
        content: null,
        tool_calls: [{
          id,
          type: "function",
          function: { name: "Read", arguments: JSON.stringify({ file_path: file }) },
          extra_content: { google: { thought_signature: signature } }
        }]
      }
    }]
  })
  const reply = (response: O.ChatResponse, provider: Provider | undefined) =>
    Result.getOrThrow(toMessage(response, { messageId: "msg_1", clientModel: "claude-sonnet-4-5", toolNames: new Map(), provider }))
      .content

  it("step 1's and step 2's signatures both go back, each on its own call", () => {
    const first = reply(completion("function-call-1", "package.json", "EjQKMgEMOdbHSigA"), "gemini")
    const second = reply(completion("function-call-2", "tsconfig.json", "EjQKMgEMOdbHSigB"), "gemini")
    expect(first.map((block) => block.type)).toEqual(["tool_use", "thinking"])
    expect(first[0]?.type === "tool_use" && first[0].input).toEqual({ file_path: "package.json" })
    const steps = assistants(conversation([first, second]).request)
    expect(steps.map(signaturesOf)).toEqual([
      [["function-call-1", "EjQKMgEMOdbHSigA"]],
      [["function-call-2", "EjQKMgEMOdbHSigB"]]
    ])
  })

  it("a carrier kept apart from its calls (another assistant message) still finds them by id", () => {
    const [toolUse, carrier] = reply(completion("function-call-1", "package.json", "EjQKMgEMOdbHSigA"), "gemini")
    const steps = assistants(conversation([[toolUse!], [{ type: "text", text: "Reading." }, carrier!]]).request)
    expect(signaturesOf(steps[0]!)).toEqual([["function-call-1", "EjQKMgEMOdbHSigA"]])
  })

  it("without a provider the completion converts as before: no carrier", () => {
    expect(reply(completion("function-call-1", "a", "sig"), undefined).map((block) => block.type)).toEqual(["tool_use"])
  })
})

describe("a signature in a later fragment of its call (streamed)", () => {
  it("is kept for the call it belongs to, found by index", () => {
    const translator = new StreamTranslator(streamContext({ provider: "gemini" }))
    const chunk = (delta: O.Chunk["choices"] extends Array<infer C> | null | undefined ? C : never) => ({ choices: [delta] })
    const events = [
      ...translator.step(chunk({ index: 0, delta: { tool_calls: [{ index: 0, id: "call_a", function: { name: "Read", arguments: "{\"file_path\":" } }] } })),
      ...translator.step(chunk({ index: 0, delta: { tool_calls: [{ index: 1, id: "call_b", function: { name: "Read", arguments: "{}" } }] } })),
      ...translator.step(chunk({
        index: 0,
        delta: { tool_calls: [{ index: 0, function: { arguments: "\"x\"}" }, extra_content: { google: { thought_signature: "late" } } }] },
        finish_reason: "tool_calls"
      })),
      ...translator.finish()
    ]
    const signatures = events.flatMap((event) =>
      event.type === "content_block_delta" && event.delta.type === "signature_delta" ? [event.delta.signature] : []
    )
    expect(signatures).toHaveLength(1)
    expect(openCarrier(signatures[0])).toEqual(new Map([["call_a", "late"]]))
  })
})

describe("history without signatures (from another model, or from before this proxy carried them)", () => {
  const history: ReadonlyArray<Block> = [
    { type: "tool_use", id: "toolu_01A", name: "Read", input: { file_path: "a" } },
    { type: "tool_use", id: "toolu_01B", name: "Read", input: { file_path: "b" } }
  ]

  it("Gemini 3: the current turn's step gets the documented stand-in on its first call only", () => {
    const converted = conversation([history])
    expect(assistants(converted.request).map(signaturesOf)).toEqual([
      [["toolu_01A", THOUGHT_SIGNATURE_BYPASS], ["toolu_01B", undefined]]
    ])
    expect(converted.notes.join("\n")).toContain("stand-in thought signature")
  })

  it("a step before the latest user text is outside the validated turn and gets nothing", () => {
    const request = Schema.decodeUnknownSync(MessagesRequest)({
      model: "claude-sonnet-4-5",
      max_tokens: 1024,
      messages: [
        { role: "user", content: "Read a" },
        { role: "assistant", content: [history[0]] },
        { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_01A", content: "{}" }, { type: "text", text: "Now b" }] },
        { role: "assistant", content: [history[1]] },
        { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_01B", content: "{}" }] }
      ]
    })
    const converted = Result.getOrThrow(toChatRequest(request, { model: "gemini-3-flash-preview", provider: "gemini" }))
    expect(assistants(converted.request).map(signaturesOf)).toEqual([
      [["toolu_01A", undefined]],
      [["toolu_01B", THOUGHT_SIGNATURE_BYPASS]]
    ])
  })

  it("Gemini 2.5 does not validate signatures: nothing is made up for it", () => {
    const [assistant] = assistants(conversation([history], "gemini-2.5-flash").request)
    expect(assistant?.tool_calls?.some((call) => call.extra_content !== undefined)).toBe(false)
  })

  it("other vendors never get extra_content, even with a carrier in the history", () => {
    const carrier = signatureCarrier(new Map([["toolu_01A", "sig"]]))
    for (const [model, provider] of [["gpt-5", "openai"], ["deepseek-chat", "deepseek"]] as const) {
      const [assistant] = assistants(conversation([[...history, carrier]], model, provider).request)
      expect(assistant?.tool_calls?.some((call) => call.extra_content !== undefined)).toBe(false)
    }
  })

  it("OpenRouter → Claude: a carrier is ours, not a Claude signature, so it is not sent as one", () => {
    const carrier = signatureCarrier(new Map([["toolu_01A", "sig"]]))
    const [assistant] = assistants(conversation([[...history, carrier]], "anthropic/claude-sonnet-4.5", "openrouter").request)
    expect(assistant).not.toHaveProperty("reasoning_details")
  })

  it("a damaged carrier opens to nothing", () => {
    const { signature } = signatureCarrier(new Map([["toolu_01A", "sig"]]))
    expect(openCarrier(signature.slice(0, -3) + "!!!")).toBeUndefined()
    expect(openCarrier("ccproxy.g1." + Buffer.from("[\"a\"]").toString("base64url"))).toBeUndefined()
    expect(openCarrier("ccproxy.g1." + Buffer.from("{\"a\":1}").toString("base64url"))).toBeUndefined()
  })
})
