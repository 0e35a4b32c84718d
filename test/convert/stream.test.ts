import type Anthropic from "@anthropic-ai/sdk"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Option, Stream } from "effect"
import { TestClock } from "effect/testing"
import { readdirSync, readFileSync } from "node:fs"
import { PLACEHOLDER_SIGNATURE, sanitizeToolId } from "../../src/convert/response.ts"
import { type StreamContext, StreamTranslator, toEvents } from "../../src/convert/stream.ts"
import type { ToolNames } from "../../src/convert/tools.ts"
import {
  type ProxyError,
  toAnthropicError,
  UpstreamFailure,
  UpstreamProtocolError,
  UpstreamTimeout,
  UpstreamUnreachable
} from "../../src/errors.ts"
import { streamErrorEvent } from "../../src/http/errors.ts"
import type { StreamEvent } from "../../src/protocol/anthropic.ts"
import { type Chunk, SILENCE, type UpstreamEvent } from "../../src/protocol/openai.ts"
import { decodeChunks } from "../../src/sse/decode.ts"
import { encodeEvents } from "../../src/sse/encode.ts"
import { type Cassette, cassetteBytes, decodeCassette, sseCassette } from "../../src/upstream/cassette.ts"
import { sdkFinalMessage } from "./cassettes.ts"

const ctx: StreamContext = {
  messageId: "msg_01TEST",
  clientModel: "claude-sonnet-4-5",
  toolNames: new Map(),
  inputTokens: 100
}

/** The message_start every stream of `ctx` opens with. */
const MESSAGE_START: StreamEvent = {
  type: "message_start",
  message: {
    id: "msg_01TEST",
    type: "message",
    role: "assistant",
    model: "claude-sonnet-4-5",
    content: [],
    stop_reason: null,
    stop_sequence: null,
    usage: { input_tokens: 100, output_tokens: 1, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 }
  }
}

const CASSETTES = new URL("../fixtures/cassettes/", import.meta.url)
const cassetteNames = readdirSync(CASSETTES).filter((file) => file.endsWith(".json")).map((file) => file.slice(0, -5))
const loadCassette = (name: string): Cassette =>
  decodeCassette(JSON.parse(readFileSync(new URL(`${name}.json`, CASSETTES), "utf8")))

/** Lets forked fibers reach their first sleep before the TestClock moves (else they register it late). */
const settle = Effect.gen(function*() {
  for (let i = 0; i < 5; i++) yield* Effect.yieldNow
})

/** What a stream produced, and the cause it failed with (undefined when it ended). */
interface Outcome<A> {
  readonly events: ReadonlyArray<A>
  readonly failure: Cause.Cause<ProxyError> | undefined
}

const collect = <A>(stream: Stream.Stream<A, ProxyError>): Effect.Effect<Outcome<A>> =>
  Effect.gen(function*() {
    const events: Array<A> = []
    const exit = yield* Effect.exit(Stream.runForEach(stream, (event) => Effect.sync(() => events.push(event))))
    return { events, failure: Exit.isFailure(exit) ? exit.cause : undefined }
  })

/** Runs a stream that sleeps (recorded delays, pings) to its end under the TestClock. */
const runTimed = <A>(stream: Stream.Stream<A, ProxyError>) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.forkChild(collect(stream))
    yield* settle
    yield* TestClock.adjust("10 minutes")
    return yield* Fiber.join(fiber)
  })

/** The events as the client gets them: the HTTP edge adds a failure as the last, `error`, event. */
const asClient = (outcome: Outcome<StreamEvent>): Array<StreamEvent> =>
  outcome.failure === undefined ? [...outcome.events] : [...outcome.events, streamErrorEvent(outcome.failure)]

/** The typed error a stream failed with. */
const errorOf = (failure: Cause.Cause<ProxyError> | undefined): ProxyError | undefined =>
  failure === undefined ? undefined : Option.getOrUndefined(Cause.findErrorOption(failure))

const eventsOf = (cassette: Cassette, context: StreamContext = ctx) =>
  toEvents(context)(decodeChunks(cassetteBytes(cassette)))

const replay = (name: string, context: StreamContext = ctx) => runTimed(eventsOf(loadCassette(name), context))

/** One line per event, enough to see every block boundary, delta and number. */
const show = (event: StreamEvent): string => {
  switch (event.type) {
    case "message_start":
      return `message_start ${event.message.model} in=${event.message.usage.input_tokens}`
    case "content_block_start": {
      const block = event.content_block
      const detail = block.type === "tool_use"
        ? ` ${block.id} ${block.name}`
        : block.type === "redacted_thinking"
        ? ` ${block.data}`
        : ""
      return `start ${event.index} ${block.type}${detail}`
    }
    case "content_block_delta": {
      const delta = event.delta
      const value = delta.type === "text_delta"
        ? delta.text
        : delta.type === "thinking_delta"
        ? delta.thinking
        : delta.type === "signature_delta"
        ? delta.signature
        : delta.partial_json
      return `delta ${event.index} ${delta.type} ${value}`
    }
    case "content_block_stop":
      return `stop ${event.index}`
    case "message_delta": {
      const usage = event.usage
      const thinking = usage.output_tokens_details ? ` thinking=${usage.output_tokens_details.thinking_tokens}` : ""
      return `message_delta ${event.delta.stop_reason} ${event.delta.stop_sequence} in=${usage.input_tokens} out=${usage.output_tokens} read=${usage.cache_read_input_tokens} write=${usage.cache_creation_input_tokens}${thinking}`
    }
    case "message_stop":
      return "message_stop"
    case "ping":
      return "ping"
    case "error":
      return `error ${event.error.type}: ${event.error.message}`
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Expected results per cassette
// ---------------------------------------------------------------------------------------------------------------

const START = "message_start claude-sonnet-4-5 in=100"
const UNSIGNED = `delta 0 signature_delta ${PLACEHOLDER_SIGNATURE}`

const expectedEvents: Record<string, ReadonlyArray<string>> = {
  "openai-text": [
    START,
    "start 0 text",
    ...["Hello", "!", " The", " café", " opens", " at", " 8", " —", " see", " you", " there", " ☕"].map((text) =>
      `delta 0 text_delta ${text}`
    ),
    "stop 0",
    "message_delta end_turn null in=23 out=14 read=0 write=0",
    "message_stop"
  ],
  "openai-parallel-tools": [
    START,
    "start 0 text",
    "delta 0 text_delta I'll",
    "delta 0 text_delta  read both",
    "delta 0 text_delta  files.",
    "stop 0",
    "start 1 tool_use call_Q2mX7bV1nR4kT8sY0aLc3WdE Read",
    "delta 1 input_json_delta {\"file",
    "delta 1 input_json_delta _path\":\"",
    "delta 1 input_json_delta /repo/src/",
    "delta 1 input_json_delta main.ts\"}",
    "stop 1",
    "start 2 tool_use call_H5pJ9cN3vB6mK1tR7wXz2QyA Read",
    "delta 2 input_json_delta {\"file_path\":",
    "delta 2 input_json_delta \"/repo/README",
    "delta 2 input_json_delta .md\"}",
    "stop 2",
    "message_delta tool_use null in=209 out=61 read=4608 write=0",
    "message_stop"
  ],
  // Call 0 streams live; call 1's fragments wait while call 0 is open, then go out in one delta.
  "vllm-parallel-tools-interleaved": [
    START,
    "start 0 tool_use chatcmpl-tool-5f1c0e9a2b7d4c38 Grep",
    "delta 0 input_json_delta {\"pattern\": \"",
    "delta 0 input_json_delta TODO\\\\(",
    "delta 0 input_json_delta \", \"path\": \"src\"",
    "delta 0 input_json_delta , \"-n\": true}",
    "stop 0",
    "start 1 tool_use chatcmpl-tool-8a3e6d1f0c9b4e72 Glob",
    "delta 1 input_json_delta {\"pattern\": \"src/**/*.ts\"}",
    "stop 1",
    "message_delta tool_use null in=3120 out=58 read=0 write=0",
    "message_stop"
  ],
  "gemini-parallel-tools-index0": [
    START,
    "start 0 text",
    "delta 0 text_delta Checking both cities.",
    "stop 0",
    "start 1 tool_use function-call-10739282711386547519 get_weather",
    "delta 1 input_json_delta {\"city\":\"Paris\",\"unit\":\"celsius\"}",
    "stop 1",
    "start 2 tool_use function-call-10739282711386547520 get_weather",
    "delta 2 input_json_delta {\"city\":\"Tokyo\",\"unit\":\"celsius\"}",
    "stop 2",
    "message_delta tool_use null in=268 out=41 read=0 write=0",
    "message_stop"
  ],
  "gemini-parallel-tools-no-index": [
    START,
    "start 0 tool_use function-call-4473186395870651013 Bash",
    "delta 0 input_json_delta {\"command\":\"git status --short\",\"description\":\"Show changed files\"}",
    "stop 0",
    "start 1 tool_use function-call-4473186395870651014 Bash",
    "delta 1 input_json_delta {\"command\":\"git log --oneline -5\",\"description\":\"Show recent commits\"}",
    "stop 1",
    "message_delta tool_use null in=1030 out=64 read=4090 write=0 thinking=147",
    "message_stop"
  ],
  "gemini3-tool-thought-signature": [
    START,
    "start 0 text",
    "delta 0 text_delta I'll read both files.",
    "stop 0",
    "start 1 tool_use function-call-4517301287436905521 Read",
    "delta 1 input_json_delta {\"file_path\":\"package.json\"}",
    "stop 1",
    "start 2 tool_use function-call-4517301287436905522 Read",
    "delta 2 input_json_delta {\"file_path\":\"tsconfig.json\"}",
    "stop 2",
    "message_delta tool_use null in=3120 out=58 read=0 write=0 thinking=143",
    "message_stop"
  ],
  "mistral-magistral-thinking-chunks": [
    START,
    "start 0 thinking",
    "delta 0 thinking_delta The user asks for 17 * 23.",
    "delta 0 thinking_delta  17 * 20 = 340 and 17 * 3 = 51,",
    "delta 0 thinking_delta  so 391.",
    UNSIGNED,
    "stop 0",
    "start 1 text",
    "delta 1 text_delta 17 × 23",
    "delta 1 text_delta  = **391**.",
    "stop 1",
    "message_delta end_turn null in=412 out=58 read=0 write=0",
    "message_stop"
  ],
  "ollama-tool-stop": [
    START,
    "start 0 thinking",
    "delta 0 thinking_delta The user",
    "delta 0 thinking_delta  wants the file list",
    "delta 0 thinking_delta , so I'll run ls.",
    UNSIGNED,
    "stop 0",
    "start 1 tool_use call_k3p9x2mw Bash",
    "delta 1 input_json_delta {\"command\":\"ls -la\",\"description\":\"List files in the current directory\"}",
    "stop 1",
    "message_delta tool_use null in=1893 out=52 read=0 write=0",
    "message_stop"
  ],
  "deepseek-reasoning": [
    START,
    "start 0 thinking",
    "delta 0 thinking_delta We",
    "delta 0 thinking_delta  need",
    "delta 0 thinking_delta  17 × 23",
    "delta 0 thinking_delta  = 391.",
    UNSIGNED,
    "stop 0",
    "start 1 text",
    "delta 1 text_delta 17",
    "delta 1 text_delta  ×",
    "delta 1 text_delta  23 = **391**",
    "stop 1",
    "message_delta end_turn null in=132 out=187 read=1280 write=0 thinking=121",
    "message_stop"
  ],
  "deepseek-slow-pings": [
    START,
    "start 0 thinking",
    "delta 0 thinking_delta Let me think about the edge cases first.",
    UNSIGNED,
    "stop 0",
    "start 1 text",
    "delta 1 text_delta Here is the plan.",
    "stop 1",
    "message_delta end_turn null in=132 out=22 read=1280 write=0 thinking=9",
    "message_stop"
  ],
  "openrouter-reasoning-signature": [
    START,
    "start 0 thinking",
    "delta 0 thinking_delta The user asks",
    "delta 0 thinking_delta  for the capital of Australia.",
    "delta 0 thinking_delta  It's Canberra, not Sydney.",
    "delta 0 signature_delta EqgBCkYIBRgCKkDbu0Vd4Q2NQ8p9V2lqkS0n7m3FhX1cTz6rJ0yW5eGaP8uLbK4dHs9oC2iM7vR1tE3nY6wZ0xA5qU8jF1BEgxS3kR7vN2pL9mQ4tWoaDN1bY8cX6zK0jH5gEiIw",
    "stop 0",
    "start 1 text",
    "delta 1 text_delta The capital",
    "delta 1 text_delta  of Australia is **Canberra**.",
    "stop 1",
    "message_delta end_turn null in=64 out=96 read=2048 write=300 thinking=41",
    "message_stop"
  ],
  "openrouter-midstream-error": [
    START,
    "start 0 text",
    "delta 0 text_delta Sure, here is",
    "delta 0 text_delta  the first part",
    "stop 0",
    "error api_error: Provider disconnected unexpectedly"
  ],
  "openai-abrupt-close": [
    START,
    "start 0 text",
    "delta 0 text_delta Step 1:",
    "delta 0 text_delta  install the",
    "delta 0 text_delta  dependencies",
    "stop 0",
    "error overloaded_error: Upstream unreachable: connection reset by upstream"
  ],
  "vllm-stop-sequence": [
    START,
    "start 0 text",
    "delta 0 text_delta SELECT",
    "delta 0 text_delta  name FROM users",
    "delta 0 text_delta ;",
    "stop 0",
    "message_delta stop_sequence ``` in=88 out=8 read=0 write=0",
    "message_stop"
  ],
  // Profiles (src/convert/profiles.ts): one cassette per vendor quirk, replayed without a provider here (signatures
  // pass through as sent); test/convert/profiles.test.ts replays them with theirs.
  "openrouter-claude-tool-reasoning": [
    START,
    "start 0 thinking",
    "delta 0 thinking_delta The user wants the test files.",
    "delta 0 thinking_delta  Listing test/ first is cheapest.",
    "delta 0 signature_delta EpcCCkYIBxgCKkCh3mZ0vXq7Lr2Tn9Wk4Ys1Pd8Bf6Gj0Hc5Ne2Qa7Ux3Ri9Vo4Km1Zs8Lb6Jt0Fw2Dy5Ep7Cg3Ah1MxEgy4Nf8Rk2Tq6Wp0Lm3ZbIaDKs9Vd1Gh5Jc7Xr2QiIwYt4Bn8Mf0Lp3Kz6Wq9Er2Ty5Ui1Op7As4Dg",
    "stop 0",
    "start 1 text",
    "delta 1 text_delta I'll list the test directory.",
    "stop 1",
    "start 2 tool_use toolu_vrtx_01Kd7QmW3pXz9Ry2Nc5Tb8Lf Bash",
    "delta 2 input_json_delta {\"command\": \"ls test/\"",
    "delta 2 input_json_delta , \"description\": \"List tests\"}",
    "stop 2",
    "message_delta tool_use null in=1114 out=118 read=4096 write=0 thinking=52",
    "message_stop"
  ],
  "openrouter-openai-encrypted": [
    START,
    "start 0 thinking",
    "delta 0 thinking_delta **Locating the config**",
    "delta 0 thinking_delta \n\nI should read package.json.",
    UNSIGNED,
    "stop 0",
    "start 1 redacted_thinking gAAAAABoofDC3kP9xVq2Lm7Tz4Nw1Rb8Yc5Hd0Jf6Gs3Ke9Ua2Io7Pl4Zx1Cv8Bn5Mq0Wt6Er3Ty9",
    "stop 1",
    "start 2 tool_use call_Wm2Kp7Rx4Nq9Tz1Lb6Vc3Hd Read",
    "delta 2 input_json_delta {\"file_path\":\"/repo/package.json\"}",
    "stop 2",
    "message_delta tool_use null in=3120 out=210 read=0 write=0 thinking=192",
    "message_stop"
  ],
  "deepseek-tool-reasoning": [
    START,
    "start 0 thinking",
    "delta 0 thinking_delta The user asks how many TODOs",
    "delta 0 thinking_delta  are left. I'll grep for them.",
    UNSIGNED,
    "stop 0",
    "start 1 tool_use call_00_Xq4Ln8Tz2Wk6Rb1Mv9Pc3Hd Grep",
    "delta 1 input_json_delta {\"pattern\":\"TODO\",",
    "delta 1 input_json_delta \"output_mode\":\"count\"}",
    "stop 1",
    "message_delta tool_use null in=390 out=64 read=1920 write=0 thinking=21",
    "message_stop"
  ],
  "groq-reasoning-xgroq-usage": [
    START,
    "start 0 thinking",
    "delta 0 thinking_delta Simple arithmetic.",
    "delta 0 thinking_delta  12 * 12 = 144.",
    UNSIGNED,
    "stop 0",
    "start 1 text",
    "delta 1 text_delta 12 × 12 = 144.",
    "stop 1",
    "message_delta end_turn null in=81 out=27 read=0 write=0",
    "message_stop"
  ],
  "mistral-tool-call": [
    START,
    "start 0 tool_use D681PevKs Glob",
    "delta 0 input_json_delta {\"pattern\": \"src/**/*.ts\"}",
    "stop 0",
    "message_delta tool_use null in=1504 out=23 read=0 write=0",
    "message_stop"
  ],
  "llamacpp-reasoning-usage": [
    START,
    "start 0 thinking",
    "delta 0 thinking_delta Okay, the user wants a one-word answer.",
    UNSIGNED,
    "stop 0",
    "start 1 text",
    "delta 1 text_delta Yes",
    "delta 1 text_delta .",
    "stop 1",
    "message_delta end_turn null in=412 out=20 read=0 write=0",
    "message_stop"
  ],
  "lmstudio-tools-fresh-ids": [
    START,
    "start 0 thinking",
    "delta 0 thinking_delta Read both files.",
    UNSIGNED,
    "stop 0",
    "start 1 tool_use 518729405 Read",
    "delta 1 input_json_delta {\"file_path\":\"a.ts\"}",
    "stop 1",
    "start 2 tool_use 906315742 Read",
    "delta 2 input_json_delta {\"file_path\":\"b.ts\"}",
    "stop 2",
    "message_delta tool_use null in=100 out=14 read=0 write=0",
    "message_stop"
  ],
  "xai-reasoning-content": [
    START,
    "start 0 thinking",
    "delta 0 thinking_delta Paris is the capital.",
    UNSIGNED,
    "stop 0",
    "start 1 text",
    "delta 1 text_delta Paris.",
    "stop 1",
    "message_delta end_turn null in=14 out=46 read=0 write=0 thinking=44",
    "message_stop"
  ],
  "vllm-reasoning-field": [
    START,
    "start 0 thinking",
    "delta 0 thinking_delta Short question,",
    "delta 0 thinking_delta  short answer.",
    UNSIGNED,
    "stop 0",
    "start 1 text",
    "delta 1 text_delta Done.",
    "stop 1",
    "message_delta end_turn null in=57 out=18 read=0 write=0",
    "message_stop"
  ]
}

/** The typed error each failing cassette ends with (the rest end cleanly). */
const expectedFailures: Record<string, ProxyError> = {
  "openrouter-midstream-error": new UpstreamFailure({
    upstreamStatus: 500,
    message: "Provider disconnected unexpectedly",
    promptTooLong: false
  }),
  "openai-abrupt-close": new UpstreamUnreachable({ message: "connection reset by upstream" })
}

/** The complete arguments each cassette's upstream sent, call by call (read off the recording, not the code). */
const expectedToolInputs: Record<string, ReadonlyArray<unknown>> = {
  "openai-parallel-tools": [{ file_path: "/repo/src/main.ts" }, { file_path: "/repo/README.md" }],
  "vllm-parallel-tools-interleaved": [{ pattern: "TODO\\(", path: "src", "-n": true }, { pattern: "src/**/*.ts" }],
  "gemini-parallel-tools-index0": [{ city: "Paris", unit: "celsius" }, { city: "Tokyo", unit: "celsius" }],
  "gemini-parallel-tools-no-index": [
    { command: "git status --short", description: "Show changed files" },
    { command: "git log --oneline -5", description: "Show recent commits" }
  ],
  "gemini3-tool-thought-signature": [{ file_path: "package.json" }, { file_path: "tsconfig.json" }],
  "ollama-tool-stop": [{ command: "ls -la", description: "List files in the current directory" }],
  "openrouter-claude-tool-reasoning": [{ command: "ls test/", description: "List tests" }],
  "openrouter-openai-encrypted": [{ file_path: "/repo/package.json" }],
  "deepseek-tool-reasoning": [{ pattern: "TODO", output_mode: "count" }],
  "mistral-tool-call": [{ pattern: "src/**/*.ts" }],
  "lmstudio-tools-fresh-ids": [{ file_path: "a.ts" }, { file_path: "b.ts" }]
}

// ---------------------------------------------------------------------------------------------------------------
// Invariants every client relies on
// ---------------------------------------------------------------------------------------------------------------

interface Accumulated {
  readonly type: string
  text: string
}

/**
 * Checks the Anthropic stream grammar (PROTOCOL.md §B.2) and returns each block's accumulated content. `failed`:
 * the events of a stream that then failed, before the edge's `error` event: every block closed, no message_stop.
 */
const checkGrammar = (events: ReadonlyArray<StreamEvent>, failed = false): Array<Accumulated> => {
  const blocks: Array<Accumulated> = []
  const real = events.filter((event) => event.type !== "ping")
  expect(real[0]?.type).toBe("message_start")
  const last = real[real.length - 1]
  if (failed) expect(["message_stop", "error"]).not.toContain(last?.type)
  else expect(["message_stop", "error"]).toContain(last?.type)
  let open: number | undefined
  let sawMessageDelta = false
  real.forEach((event, position) => {
    switch (event.type) {
      case "message_start":
        expect(position).toBe(0)
        expect(event.message.content).toEqual([])
        expect(event.message.stop_reason).toBeNull()
        break
      case "content_block_start":
        expect(open).toBeUndefined()
        expect(event.index).toBe(blocks.length)
        expect(Object.keys(event)).toEqual(["type", "index", "content_block"])
        open = event.index
        blocks.push({ type: event.content_block.type, text: "" })
        break
      case "content_block_delta": {
        expect(event.index).toBe(open)
        const block = blocks[event.index]!
        const allowed: Record<string, ReadonlyArray<string>> = {
          text: ["text_delta"],
          thinking: ["thinking_delta", "signature_delta"],
          tool_use: ["input_json_delta"],
          redacted_thinking: []
        }
        expect(allowed[block.type]).toContain(event.delta.type)
        if (event.delta.type === "text_delta") block.text += event.delta.text
        if (event.delta.type === "thinking_delta") block.text += event.delta.thinking
        if (event.delta.type === "input_json_delta") block.text += event.delta.partial_json
        break
      }
      case "content_block_stop":
        expect(event.index).toBe(open)
        open = undefined
        break
      case "message_delta":
        expect(open).toBeUndefined()
        expect(sawMessageDelta).toBe(false)
        sawMessageDelta = true
        break
      case "message_stop":
        expect(sawMessageDelta).toBe(true)
        expect(position).toBe(real.length - 1)
        break
      case "error":
        expect(open).toBeUndefined()
        expect(position).toBe(real.length - 1)
        break
    }
  })
  expect(open).toBeUndefined()
  return blocks
}

// ---------------------------------------------------------------------------------------------------------------
// Cassettes
// ---------------------------------------------------------------------------------------------------------------

describe("toEvents on recorded upstream streams", () => {
  it("has an expected event sequence for every cassette", () => {
    expect(cassetteNames.sort()).toEqual(Object.keys(expectedEvents).sort())
  })

  for (const name of Object.keys(expectedEvents)) {
    it.effect(`${name}: exact event sequence, as the client gets it`, () =>
      Effect.gen(function*() {
        const outcome = yield* replay(name)
        expect(asClient(outcome).map(show)).toEqual(expectedEvents[name])
        expect(errorOf(outcome.failure)).toEqual(expectedFailures[name])
      }))

    it.effect(`${name}: stream grammar, tool inputs, and the Anthropic SDK accepts it`, () =>
      Effect.gen(function*() {
        const outcome = yield* replay(name)
        checkGrammar(outcome.events, outcome.failure !== undefined)
        const events = asClient(outcome)
        const blocks = checkGrammar(events)
        const toolInputs = blocks.filter((block) => block.type === "tool_use").map((block) => JSON.parse(block.text))
        expect(toolInputs).toEqual(expectedToolInputs[name] ?? [])
        for (const input of toolInputs) expect(input).toBeTypeOf("object")

        // The bytes the edge sends: the converted stream, its failure rendered by the edge's `recover`.
        const encoded = yield* runTimed(encodeEvents(eventsOf(loadCassette(name)), streamErrorEvent))
        expect(encoded.failure).toBeUndefined()
        const bytes = encoded.events
        const final = yield* Effect.promise(() => sdkFinalMessage(bytes).then((message) => ({ message }), (error) => ({ error })))
        const last = events[events.length - 1]!
        if (last.type === "error") {
          expect("error" in final && (final.error as { error?: unknown }).error).toEqual({ type: "error", error: last.error })
        } else {
          expect("message" in final).toBe(true)
          const message = (final as { message: Anthropic.Message }).message
          expect(message.content.map((block) => block.type)).toEqual(blocks.map((block) => block.type))
          expect(message.content.filter((block) => block.type === "tool_use").map((block) => block.input)).toEqual(
            expectedToolInputs[name] ?? []
          )
          const delta = events.find((event) => event.type === "message_delta")
          expect(delta?.type === "message_delta" && message.stop_reason).toBe(
            delta?.type === "message_delta" && delta.delta.stop_reason
          )
        }
      }))
  }

  it.effect("exact events, in full, for a whole-call Gemini answer", () =>
    Effect.gen(function*() {
      const { events, failure } = yield* replay("gemini-parallel-tools-no-index", {
        ...ctx,
        toolNames: new Map([["Bash", "Bash"]])
      })
      expect(failure).toBeUndefined()
      expect(events).toEqual([
        MESSAGE_START,
        {
          type: "content_block_start",
          index: 0,
          content_block: { type: "tool_use", id: "function-call-4473186395870651013", name: "Bash", input: {} }
        },
        {
          type: "content_block_delta",
          index: 0,
          delta: {
            type: "input_json_delta",
            partial_json: "{\"command\":\"git status --short\",\"description\":\"Show changed files\"}"
          }
        },
        { type: "content_block_stop", index: 0 },
        {
          type: "content_block_start",
          index: 1,
          content_block: { type: "tool_use", id: "function-call-4473186395870651014", name: "Bash", input: {} }
        },
        {
          type: "content_block_delta",
          index: 1,
          delta: {
            type: "input_json_delta",
            partial_json: "{\"command\":\"git log --oneline -5\",\"description\":\"Show recent commits\"}"
          }
        },
        { type: "content_block_stop", index: 1 },
        {
          type: "message_delta",
          delta: { stop_reason: "tool_use", stop_sequence: null },
          usage: {
            input_tokens: 1030,
            output_tokens: 64,
            cache_creation_input_tokens: 0,
            cache_read_input_tokens: 4090,
            output_tokens_details: { thinking_tokens: 147 }
          }
        },
        { type: "message_stop" }
      ])
    }))

  it.effect("exact events, in full, for a connection that breaks mid-answer: the block closes, then the failure", () =>
    Effect.gen(function*() {
      const outcome = yield* replay("openai-abrupt-close")
      expect(outcome.events.slice(1)).toEqual([
        { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } },
        { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "Step 1:" } },
        { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: " install the" } },
        { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: " dependencies" } },
        { type: "content_block_stop", index: 0 }
      ])
      expect(outcome.failure).toEqual(Cause.fail(new UpstreamUnreachable({ message: "connection reset by upstream" })))
      expect(asClient(outcome).at(-1)).toEqual({
        type: "error",
        error: { type: "overloaded_error", message: "Upstream unreachable: connection reset by upstream" }
      })
    }))

  it.effect("maps tool names back to the client's original names", () =>
    Effect.gen(function*() {
      const { events } = yield* replay("openai-parallel-tools", { ...ctx, toolNames: new Map([["Read", "mcp__fs__read.file"]]) })
      const names = events.flatMap((event) =>
        event.type === "content_block_start" && event.content_block.type === "tool_use" ? [event.content_block.name] : []
      )
      expect(names).toEqual(["mcp__fs__read.file", "mcp__fs__read.file"])
    }))
})

// ---------------------------------------------------------------------------------------------------------------
// The state machine, chunk by chunk
// ---------------------------------------------------------------------------------------------------------------

type Delta = NonNullable<NonNullable<Chunk["choices"]>[number]["delta"]>

const chunk = (delta: Delta, finish: string | null = null, extra: Partial<Chunk> = {}): Chunk => ({
  id: "chatcmpl-unit",
  choices: [{ index: 0, delta, finish_reason: finish }],
  ...extra
})
const finish = (reason: string) => chunk({}, reason)
const usageChunk = (prompt: number, completion: number): Chunk => ({
  choices: [],
  usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion }
})

/** A machine's failure: the typed error, and what the client will read. */
const showFailure = (failure: Cause.Cause<ProxyError>): string => {
  const error = errorOf(failure)
  if (error === undefined) return "fail (defect)"
  const { type, message } = toAnthropicError(error)
  return `fail ${error._tag} ${type}: ${message}`
}

/** Everything after message_start, for chunks fed one by one and then a clean end; a failure comes last. */
const translate = (chunks: ReadonlyArray<Chunk>, context: StreamContext = ctx): Array<string> => {
  const machine = new StreamTranslator(context)
  const events = [machine.start(), ...chunks.flatMap((c) => machine.step(c)), ...machine.finish()]
  checkGrammar(events, machine.failure !== undefined)
  const shown = events.slice(1).map(show)
  return machine.failure === undefined ? shown : [...shown, showFailure(machine.failure)]
}

describe("StreamTranslator", () => {
  describe("bugs of the Python seed", () => {
    it("a text answer in several chunks is ONE text block at index 0, started once and stopped once", () => {
      expect(translate([
        chunk({ role: "assistant", content: "" }),
        chunk({ content: "Hel" }),
        chunk({ content: "lo " }),
        chunk({ content: "world" }),
        finish("stop")
      ])).toEqual([
        "start 0 text",
        "delta 0 text_delta Hel",
        "delta 0 text_delta lo ",
        "delta 0 text_delta world",
        "stop 0",
        "message_delta end_turn null in=100 out=3 read=0 write=0",
        "message_stop"
      ])
    })

    it("argument fragments that carry only an index go to their own call, never to a phantom id-less block", () => {
      const events = translate([
        chunk({ tool_calls: [{ index: 0, id: "call_a", type: "function", function: { name: "Read", arguments: "" } }] }),
        chunk({ tool_calls: [{ index: 0, id: null, function: { arguments: "{\"file_path\":\"/a\"}" } }] }),
        chunk({ tool_calls: [{ index: 1, id: "call_b", type: "function", function: { name: "Read", arguments: "" } }] }),
        chunk({ tool_calls: [{ index: 1, id: null, function: { arguments: "{\"file_path\":\"/b\"}" } }] }),
        finish("tool_calls")
      ])
      expect(events).toEqual([
        "start 0 tool_use call_a Read",
        "delta 0 input_json_delta {\"file_path\":\"/a\"}",
        "stop 0",
        "start 1 tool_use call_b Read",
        "delta 1 input_json_delta {\"file_path\":\"/b\"}",
        "stop 1",
        "message_delta tool_use null in=100 out=9 read=0 write=0",
        "message_stop"
      ])
    })

    it("blocks start under `content_block` (not `content`) and every delta is typed", () => {
      const machine = new StreamTranslator(ctx)
      const events = [
        ...machine.step(chunk({ reasoning_content: "hmm" })),
        ...machine.step(chunk({ content: "hi" })),
        ...machine.step(chunk({ tool_calls: [{ index: 0, id: "call_1", function: { name: "Read", arguments: "{}" } }] })),
        ...machine.step(finish("tool_calls")),
        ...machine.finish()
      ]
      for (const event of events) {
        if (event.type === "content_block_start") {
          expect(event).toHaveProperty("content_block")
          expect(event).not.toHaveProperty("content")
        }
        if (event.type === "content_block_delta") {
          expect(["text_delta", "thinking_delta", "signature_delta", "input_json_delta"]).toContain(event.delta.type)
        }
      }
      expect(events.filter((event) => event.type === "content_block_start").map((event) =>
        event.type === "content_block_start" && event.content_block
      )).toEqual([
        { type: "thinking", thinking: "", signature: "" },
        { type: "text", text: "" },
        { type: "tool_use", id: "call_1", name: "Read", input: {} }
      ])
    })

    it("thinking never swallows the answer: reasoning goes to thinking, content to text", () => {
      expect(translate([
        chunk({ role: "assistant", content: null, reasoning_content: "" }),
        chunk({ content: null, reasoning_content: "Think." }),
        chunk({ content: "Answer.", reasoning_content: null }),
        finish("stop")
      ])).toEqual([
        "start 0 thinking",
        "delta 0 thinking_delta Think.",
        UNSIGNED,
        "stop 0",
        "start 1 text",
        "delta 1 text_delta Answer.",
        "stop 1",
        "message_delta end_turn null in=100 out=4 read=0 write=0",
        "message_stop"
      ])
    })

    it("message_start has content: [], the client's model, and the estimate", () => {
      expect(new StreamTranslator(ctx).start()).toEqual(MESSAGE_START)
    })
  })

  describe("tool calls", () => {
    it("starts a new call for a new id at a known index (Kimi-style ids are sanitized)", () => {
      expect(translate([
        chunk({ tool_calls: [{ index: 0, id: "functions.Read:0", function: { name: "Read", arguments: "{\"file_path\":" } }] }),
        chunk({ tool_calls: [{ index: 0, function: { arguments: "\"/a\"}" } }] }),
        chunk({ tool_calls: [{ index: 0, id: "functions.Grep:1", function: { name: "Grep", arguments: "{\"pattern\":\"x\"}" } }] }),
        finish("tool_calls")
      ])).toEqual([
        `start 0 tool_use ${sanitizeToolId("functions.Read:0")} Read`,
        "delta 0 input_json_delta {\"file_path\":",
        "delta 0 input_json_delta \"/a\"}",
        "stop 0",
        `start 1 tool_use ${sanitizeToolId("functions.Grep:1")} Grep`,
        "delta 1 input_json_delta {\"pattern\":\"x\"}",
        "stop 1",
        "message_delta tool_use null in=100 out=9 read=0 write=0",
        "message_stop"
      ])
    })

    it("continues the latest call when a fragment has neither index nor id, and synthesizes missing ids", () => {
      expect(translate([
        chunk({ tool_calls: [{ function: { name: "Bash", arguments: "{\"command\":" } }] }),
        chunk({ tool_calls: [{ function: { arguments: "\"ls\"}" } }] }),
        chunk({ tool_calls: [{ index: 3, function: { name: "Read", arguments: "{}" } }] }),
        finish("stop")
      ])).toEqual([
        "start 0 tool_use toolu_01TEST_0 Bash",
        "delta 0 input_json_delta {\"command\":",
        "delta 0 input_json_delta \"ls\"}",
        "stop 0",
        "start 1 tool_use toolu_01TEST_1 Read",
        "delta 1 input_json_delta {}",
        "stop 1",
        "message_delta tool_use null in=100 out=5 read=0 write=0",
        "message_stop"
      ])
    })

    it("holds a call's block until its name is known, then sends what it buffered in one delta", () => {
      expect(translate([
        chunk({ tool_calls: [{ index: 0, id: "call_x", function: { arguments: "{\"a\":" } }] }),
        chunk({ tool_calls: [{ index: 0, function: { name: "Edit", arguments: "1}" } }] }),
        finish("tool_calls")
      ])).toEqual([
        "start 0 tool_use call_x Edit",
        "delta 0 input_json_delta {\"a\":1}",
        "stop 0",
        "message_delta tool_use null in=100 out=2 read=0 write=0",
        "message_stop"
      ])
    })

    it("keeps text that arrives while a call is still open for after that call", () => {
      expect(translate([
        chunk({ tool_calls: [{ index: 0, id: "call_a", function: { name: "Write", arguments: "{\"content\":\"x" } }] }),
        chunk({ content: "\n\nDone." }),
        chunk({ tool_calls: [{ index: 0, function: { arguments: "y\"}" } }] }),
        finish("tool_calls")
      ])).toEqual([
        "start 0 tool_use call_a Write",
        "delta 0 input_json_delta {\"content\":\"x",
        "delta 0 input_json_delta y\"}",
        "stop 0",
        "start 1 text",
        "delta 1 text_delta \n\nDone.",
        "stop 1",
        "message_delta tool_use null in=100 out=6 read=0 write=0",
        "message_stop"
      ])
    })

    it("emits a call whose arguments never form complete JSON when the answer finishes", () => {
      expect(translate([
        chunk({ tool_calls: [{ index: 0, id: "call_a", function: { name: "Bash", arguments: "{\"command\":\"l" } }] }),
        chunk({ tool_calls: [{ index: 1, id: "call_b", function: { name: "Read", arguments: "{}" } }] }),
        finish("length")
      ])).toEqual([
        "start 0 tool_use call_a Bash",
        "delta 0 input_json_delta {\"command\":\"l",
        "stop 0",
        "start 1 tool_use call_b Read",
        "delta 1 input_json_delta {}",
        "stop 1",
        // cut by the token limit: max_tokens, never tool_use (the client would run the truncated call)
        "message_delta max_tokens null in=100 out=4 read=0 write=0",
        "message_stop"
      ])
    })

    it("drops argument fragments once a call's JSON is complete (a vendor repeating the full arguments)", () => {
      expect(translate([
        chunk({ tool_calls: [{ index: 0, id: "call_a", function: { name: "Bash", arguments: "{\"command\":" } }] }),
        chunk({ tool_calls: [{ index: 0, function: { arguments: "\"ls\"}" } }] }),
        chunk({ tool_calls: [{ index: 0, id: "call_a", function: { name: "Bash", arguments: "{\"command\":\"ls\"}" } }] }),
        finish("tool_calls")
      ])).toEqual([
        "start 0 tool_use call_a Bash",
        "delta 0 input_json_delta {\"command\":",
        "delta 0 input_json_delta \"ls\"}",
        "stop 0",
        "message_delta tool_use null in=100 out=8 read=0 write=0",
        "message_stop"
      ])
    })

    it("cuts a fragment at the end of the call's JSON, whatever follows in the same fragment", () => {
      const events = translate([
        chunk({ tool_calls: [{ index: 0, id: "call_a", function: { name: "Bash", arguments: "{\"command\":\"ls\"}{\"command\":\"ls\"}" } }] }),
        chunk({ tool_calls: [{ index: 0, function: { arguments: "{\"command\":\"ls\"}" } }] }),
        finish("tool_calls")
      ])
      expect(events.slice(0, 3)).toEqual([
        "start 0 tool_use call_a Bash",
        "delta 0 input_json_delta {\"command\":\"ls\"}",
        "stop 0"
      ])
      expect(events.at(-2)).toMatch(/^message_delta tool_use /)
    })

    it("the full arguments repeated while the call waits behind another block are dropped too", () => {
      const events = translate([
        chunk({ content: "Listing." }),
        chunk({ tool_calls: [{ index: 0, id: "call_a", function: { arguments: "{\"command\":\"ls\"}" } }] }),
        chunk({ tool_calls: [{ index: 0, function: { arguments: "{\"command\":\"ls\"}" } }] }),
        chunk({ tool_calls: [{ index: 0, function: { name: "Bash" } }] }),
        finish("tool_calls")
      ])
      expect(events.filter((event) => event.includes("input_json_delta"))).toEqual([
        "delta 1 input_json_delta {\"command\":\"ls\"}"
      ])
    })
  })

  describe("reasoning", () => {
    it("turns encrypted reasoning details into a redacted_thinking block", () => {
      expect(translate([
        chunk({ reasoning: "Plan.", reasoning_details: [{ type: "reasoning.text", text: "Plan." }] }),
        chunk({ reasoning_details: [{ type: "reasoning.encrypted", data: "gAAAAABo-opaque" }] }),
        chunk({ content: "Done." }),
        finish("stop")
      ])).toEqual([
        "start 0 thinking",
        "delta 0 thinking_delta Plan.",
        UNSIGNED,
        "stop 0",
        "start 1 redacted_thinking gAAAAABo-opaque",
        "stop 1",
        "start 2 text",
        "delta 2 text_delta Done.",
        "stop 2",
        "message_delta end_turn null in=100 out=3 read=0 write=0",
        "message_stop"
      ])
    })
  })

  describe("stop reason and usage", () => {
    it("maps a refusal to text and stop_reason refusal", () => {
      expect(translate([chunk({ refusal: "I can't help with that." }), finish("stop")])).toEqual([
        "start 0 text",
        "delta 0 text_delta I can't help with that.",
        "stop 0",
        "message_delta refusal null in=100 out=6 read=0 write=0",
        "message_stop"
      ])
    })

    it.each([["length", "max_tokens"], ["content_filter", "refusal"], ["stop", "end_turn"], ["weird", "end_turn"]])(
      "finish_reason %s → %s",
      (reason, expected) => {
        const events = translate([chunk({ content: "x" }), finish(reason), usageChunk(10, 1)])
        expect(events.at(-2)).toBe(`message_delta ${expected} null in=10 out=1 read=0 write=0`)
      }
    )

    it("reads the usage chunk that follows finish_reason, and estimates when there is none", () => {
      expect(translate([chunk({ content: "12345678" }), finish("stop"), usageChunk(57, 3)]).at(-2))
        .toBe("message_delta end_turn null in=57 out=3 read=0 write=0")
      expect(translate([chunk({ content: "12345678" }), finish("stop")]).at(-2))
        .toBe("message_delta end_turn null in=100 out=2 read=0 write=0")
    })
  })

  describe("ends", () => {
    it("fails an upstream that ends without finish_reason, after closing the block", () => {
      expect(translate([chunk({ content: "Half" })])).toEqual([
        "start 0 text",
        "delta 0 text_delta Half",
        "stop 0",
        "fail UpstreamProtocolError api_error: Upstream protocol error: upstream closed the stream before finishing"
      ])
    })

    it("fails with the UpstreamFailure of an error object in the stream, secrets redacted", () => {
      expect(translate(
        [chunk({}, null, { error: { code: 401, message: "bad key upstream-secret-123" } })],
        { ...ctx, secrets: ["upstream-secret-123"] }
      )).toEqual(["fail UpstreamFailure authentication_error: bad key [redacted]"])
    })

    it("never writes an error event itself", () => {
      const machine = new StreamTranslator(ctx)
      const events = [
        ...machine.step(chunk({ content: "a" })),
        ...machine.step(chunk({}, null, { error: { code: 503, message: "busy" } })),
        ...machine.fail(new UpstreamTimeout({ phase: "idle", millis: 1 })),
        ...machine.finish()
      ]
      expect(events.map((event) => event.type)).not.toContain("error")
      expect(machine.failure).toEqual(
        Cause.fail(new UpstreamFailure({ upstreamStatus: 503, message: "busy", promptTooLong: false }))
      )
    })

    it("completes normally when the upstream fails after finish_reason (only the usage is lost)", () => {
      const machine = new StreamTranslator(ctx)
      machine.step(chunk({ content: "All of it." }))
      machine.step(finish("stop"))
      expect(machine.fail(new UpstreamTimeout({ phase: "idle", millis: 1000 })).map(show)).toEqual([
        "message_delta end_turn null in=100 out=3 read=0 write=0",
        "message_stop"
      ])
    })

    it("closes an open thinking block (signature first), then holds the failure", () => {
      const machine = new StreamTranslator(ctx)
      machine.step(chunk({ reasoning_content: "Hmm" }))
      const timeout = new UpstreamTimeout({ phase: "idle", millis: 30000 })
      expect(machine.fail(timeout).map(show)).toEqual([UNSIGNED, "stop 0"])
      expect(machine.isDone).toBe(true)
      expect(machine.failure).toEqual(Cause.fail(timeout))
      expect(machine.finish()).toEqual([])
      expect(machine.failure).toEqual(Cause.fail(timeout))
    })

    it("a defect closes the open block and holds the defect", () => {
      const machine = new StreamTranslator(ctx)
      machine.step(chunk({ content: "x" }))
      const defect = Cause.die(new Error("bug"))
      expect(machine.failInternally(defect).map(show)).toEqual(["stop 0"])
      expect(machine.failure).toBe(defect)
    })

    it("ends on finish_reason error even without an error object, and ignores anything after", () => {
      const machine = new StreamTranslator(ctx)
      const events = [
        ...machine.step(chunk({ content: "Par" })),
        ...machine.step(chunk({ content: "" }, "error")),
        ...machine.step(chunk({ content: "more" })),
        ...machine.finish()
      ]
      expect(events.map(show)).toEqual([
        "start 0 text",
        "delta 0 text_delta Par",
        "stop 0"
      ])
      expect(machine.failure && showFailure(machine.failure)).toBe("fail UpstreamFailure api_error: upstream stopped with an error")
    })

    it("ignores choices other than the first", () => {
      expect(translate([
        { choices: [{ index: 1, delta: { content: "other" } }] },
        chunk({ content: "mine" }),
        finish("stop")
      ])).toEqual([
        "start 0 text",
        "delta 0 text_delta mine",
        "stop 0",
        "message_delta end_turn null in=100 out=1 read=0 write=0",
        "message_stop"
      ])
    })
  })
})

// ---------------------------------------------------------------------------------------------------------------
// Stream wiring
// ---------------------------------------------------------------------------------------------------------------

describe("toEvents", () => {
  it.effect("sends message_start before the upstream's first chunk", () =>
    Effect.gen(function*() {
      const first = yield* Stream.runHead(toEvents(ctx)(Stream.never))
      expect(first._tag === "Some" && first.value.type).toBe("message_start")
    }))

  it.effect("an upstream failure mid-block closes the block, then fails the stream with the typed error", () =>
    Effect.gen(function*() {
      const timeout = new UpstreamTimeout({ phase: "idle", millis: 5 })
      const chunks = Stream.concat(Stream.make(chunk({ content: "a" })), Stream.fail(timeout))
      const outcome = yield* collect(toEvents(ctx)(chunks))
      expect(outcome.events.map(show).slice(1)).toEqual(["start 0 text", "delta 0 text_delta a", "stop 0"])
      expect(outcome.failure).toEqual(Cause.fail(timeout))
    }))

  it.effect("an error object mid-block: the block closes, then the stream fails with its UpstreamFailure", () =>
    Effect.gen(function*() {
      const chunks = Stream.make(
        chunk({ content: "a" }),
        chunk({}, null, { error: { code: 429, message: "slow down" } }),
        chunk({ content: "never" })
      )
      const outcome = yield* collect(toEvents(ctx)(chunks))
      expect(outcome.events.map(show).slice(1)).toEqual(["start 0 text", "delta 0 text_delta a", "stop 0"])
      expect(errorOf(outcome.failure)).toEqual(
        new UpstreamFailure({ upstreamStatus: 429, message: "slow down", promptTooLong: false })
      )
    }))

  it.effect("after finish_reason a failure completes the message (only the usage is lost)", () =>
    Effect.gen(function*() {
      const chunks = Stream.concat(
        Stream.make(chunk({ content: "All of it." }), finish("stop")),
        Stream.fail(new UpstreamUnreachable({ message: "reset" }))
      )
      const outcome = yield* collect(toEvents(ctx)(chunks))
      expect(outcome.failure).toBeUndefined()
      expect(outcome.events.map(show).slice(-2)).toEqual([
        "message_delta end_turn null in=100 out=3 read=0 write=0",
        "message_stop"
      ])
    }))

  it.effect("a defect below closes the block, then fails with that defect; the edge renders no internals", () =>
    Effect.gen(function*() {
      const boom = new Error("boom")
      const chunks = Stream.concat(Stream.make(chunk({ content: "a" })), Stream.die(boom))
      const outcome = yield* collect(toEvents(ctx)(chunks))
      expect(outcome.events.map(show).at(-1)).toBe("stop 0")
      expect(outcome.failure && Cause.hasDies(outcome.failure)).toBe(true)
      expect(outcome.failure && Cause.squash(outcome.failure)).toBe(boom)
      expect(asClient(outcome).map(show).at(-1)).toBe(
        "error api_error: Internal proxy error; see the proxy log for this request id"
      )
    }))

  it.effect("a bug of ours while translating keeps the step's events, closes the block, and dies with the bug", () =>
    Effect.gen(function*() {
      const bug = new Error("tool name lookup broke")
      const toolNames = { get: () => { throw bug } } as unknown as ToolNames
      const chunks = Stream.make(
        chunk({ content: "Reading." }),
        chunk({ content: " Now.", tool_calls: [{ index: 0, id: "call_a", function: { name: "Read", arguments: "{}" } }] }),
        chunk({ content: "never" })
      )
      const outcome = yield* collect(toEvents({ ...ctx, toolNames })(chunks))
      // The same read's text delta and the text block's stop went out before the tool block failed to open.
      expect(outcome.events.map(show).slice(1)).toEqual([
        "start 0 text",
        "delta 0 text_delta Reading.",
        "delta 0 text_delta  Now.",
        "stop 0"
      ])
      checkGrammar(outcome.events, true)
      expect(outcome.failure && Cause.squash(outcome.failure)).toBe(bug)
    }))

  it.effect("fails a clean end without finish_reason or [DONE] with an UpstreamProtocolError", () =>
    Effect.gen(function*() {
      const cassette = sseCassette("early-end", [chunk({ content: "Half" })], { done: false })
      const outcome = yield* runTimed(eventsOf(cassette))
      expect(outcome.events.map(show).at(-1)).toBe("stop 0")
      expect(errorOf(outcome.failure)).toEqual(
        new UpstreamProtocolError({ message: "upstream closed the stream before finishing" })
      )
    }))

  it.effect("stops reading the upstream after an error chunk", () =>
    Effect.gen(function*() {
      const chunks = Stream.concat(Stream.make(chunk({ content: "a" }), chunk({}, "error")), Stream.never)
      const outcome = yield* collect(toEvents(ctx)(chunks))
      expect(outcome.events.map(show).at(-1)).toBe("stop 0")
      expect(errorOf(outcome.failure)).toMatchObject({ _tag: "UpstreamFailure", message: "upstream stopped with an error" })
    }))

  it.effect("the client's bytes: the closing events, then the edge's error event, then the end", () =>
    Effect.gen(function*() {
      const chunks = Stream.concat(
        Stream.make(chunk({ reasoning_content: "Hmm" })),
        Stream.fail(new UpstreamTimeout({ phase: "idle", millis: 30000 }))
      )
      const bytes = yield* Stream.runCollect(encodeEvents(toEvents(ctx)(chunks), streamErrorEvent))
      const text = bytes.map((b) => new TextDecoder().decode(b)).join("")
      expect(text.endsWith([
        `event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"${PLACEHOLDER_SIGNATURE}"}}\n\n`,
        `event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n`,
        `event: error\ndata: {"type":"error","error":{"type":"timeout_error","message":"Upstream stream was silent for more than 30000 ms"}}\n\n`
      ].join(""))).toBe(true)
    }))
})

describe("silences", () => {
  it.effect("each SILENCE from the upstream becomes a ping, in place", () =>
    Effect.gen(function*() {
      const source = Stream.fromIterable<UpstreamEvent>([SILENCE, chunk({ content: "a" }), SILENCE, chunk({}, "stop")])
      const events = yield* Stream.runCollect(toEvents(ctx)(source))
      expect(events.map((event) => event.type)).toEqual([
        "message_start",
        "ping",
        "content_block_start",
        "content_block_delta",
        "ping",
        "content_block_stop",
        "message_delta",
        "message_stop"
      ])
    }))
})
