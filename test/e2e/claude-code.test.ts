/**
 * The real Claude Code CLI (installed from npm into a cache outside the repo) through the proxy, against a
 * scripted OpenAI upstream: a plain prompt, and a turn where the model runs Bash to write a file and then answers.
 */
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import type { Cassette } from "../../src/upstream/cassette.ts"
import { ensureClaudeCli, runClaude } from "../support/claude-cli.ts"
import { Harness, harness } from "../support/harness.ts"
import type { RecordedRequest } from "../support/scripted-upstream.ts"

const chunk = (delta: Record<string, unknown>, finish: string | null = null) => ({
  id: "chatcmpl-cc",
  object: "chat.completion.chunk",
  created: 1_763_000_000,
  model: "gpt-4.1",
  choices: [{ index: 0, delta, finish_reason: finish }]
})
const usage = { id: "chatcmpl-cc", object: "chat.completion.chunk", choices: [], usage: { prompt_tokens: 900, completion_tokens: 12, total_tokens: 912 } }

/** Splits each event into two writes, as real servers do now and then. */
const streamOf = (chunks: ReadonlyArray<unknown>): Cassette => ({
  name: "claude-code",
  response: {
    status: 200,
    headers: { "content-type": "text/event-stream" },
    chunks: [...chunks, usage].flatMap((c) => {
      const text = `data: ${JSON.stringify(c)}\n\n`
      return [{ text: text.slice(0, 20) }, { delayMs: 5, text: text.slice(20) }]
    }).concat([{ text: "data: [DONE]\n\n" }])
  }
})

const answer = (text: string) =>
  streamOf([chunk({ role: "assistant", content: "" }), ...text.split(/(?<= )/).map((t) => chunk({ content: t })), chunk({}, "stop")])

/** The model: call Bash once, then answer after seeing the tool result. */
const bashThenAnswer = (request: RecordedRequest): Cassette => {
  const toolMessage = (request.body.messages as Array<{ role: string; content: string }>).find((m) => m.role === "tool")
  if (toolMessage) return answer("The file is written.")
  const args = JSON.stringify({ command: "echo hi > out.txt", description: "Write out.txt" })
  return streamOf([
    chunk({ role: "assistant", content: "" }),
    chunk({ tool_calls: [{ index: 0, id: "call_bash_1", type: "function", function: { name: "Bash", arguments: "" } }] }),
    chunk({ tool_calls: [{ index: 0, function: { arguments: args.slice(0, 15) } }] }),
    chunk({ tool_calls: [{ index: 0, function: { arguments: args.slice(15) } }] }),
    chunk({}, "tool_calls")
  ])
}

const scratchDir = () => Fs.mkdtempSync(Path.join(Os.tmpdir(), "ccproxy-cc-"))

layer(harness(), { excludeTestServices: true })("Claude Code CLI through the proxy", (it) => {
  it.effect("installs the CLI", () => Effect.promise(() => ensureClaudeCli()).pipe(Effect.map((bin) => expect(bin).toBeTruthy())), {
    timeout: 300_000
  })

  it.effect("answers a plain prompt", () =>
    Effect.gen(function*() {
      const { url, upstream } = yield* Harness
      upstream.reset()
      for (let i = 0; i < 3; i++) upstream.enqueue(answer("Hello from the proxy."))
      const cwd = scratchDir()
      const result = yield* Effect.promise(() => runClaude({ baseUrl: url, prompt: "Say hello", cwd }))
      expect(result.exitCode, result.stderr).toBe(0)
      expect(result.json).toMatchObject({ is_error: false, result: "Hello from the proxy." })
      const sent = upstream.requests[0]!.body
      expect(sent.model).toBe("gpt-4.1")
      expect(sent.stream).toBe(true)
      expect(sent.messages[0].role).toBe("system")
      expect(JSON.stringify(sent)).not.toMatch(/cache_control|context_management|output_config|x-anthropic-billing-header/)
      Fs.rmSync(cwd, { recursive: true, force: true })
    }), { timeout: 120_000 })

  it.effect("runs Bash through a tool call, then answers after the tool result", () =>
    Effect.gen(function*() {
      const { url, upstream } = yield* Harness
      upstream.reset()
      for (let i = 0; i < 4; i++) upstream.enqueue(bashThenAnswer)
      const cwd = scratchDir()
      const result = yield* Effect.promise(() =>
        runClaude({ baseUrl: url, prompt: "Write hi into out.txt", cwd, allowedTools: ["Bash"] })
      )
      expect(result.exitCode, result.stderr).toBe(0)
      expect(result.json).toMatchObject({ is_error: false, result: "The file is written." })
      expect(Fs.readFileSync(Path.join(cwd, "out.txt"), "utf8")).toBe("hi\n")
      expect(upstream.requests).toHaveLength(2)
      const second = upstream.requests[1]!.body.messages as Array<Record<string, any>>
      const assistant = second.findIndex((m) => m.role === "assistant" && m.tool_calls)
      expect(second[assistant]!.tool_calls[0]).toMatchObject({ id: "call_bash_1", function: { name: "Bash" } })
      expect(second[assistant + 1]).toMatchObject({ role: "tool", tool_call_id: "call_bash_1" })
      Fs.rmSync(cwd, { recursive: true, force: true })
    }), { timeout: 120_000 })
})
