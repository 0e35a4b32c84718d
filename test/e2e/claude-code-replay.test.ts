/**
 * Record and replay for users, end to end with the real Claude Code CLI: a session (a retried 503, a Bash tool call,
 * an answer after the tool result) is recorded through the proxy with RECORD_DIR against the scripted upstream;
 * then, with that upstream stopped, a proxy with REPLAY_DIR plays the same session from the files alone.
 *
 * The CLI puts its working directory and its HOME into the prompt, so both runs use the same ones (see
 * `src/upstream/exchange-key.ts` for what differs between two runs of a session and what the key leaves out).
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import type { Cassette } from "../../src/upstream/cassette.ts"
import { decodeCassette } from "../../src/upstream/cassette.ts"
import { exchangeKey } from "../../src/upstream/exchange-key.ts"
import { ensureClaudeCli, runClaude } from "../support/claude-cli.ts"
import { Harness, harness, TEST_API_KEY } from "../support/harness.ts"
import { jsonCassette, type RecordedRequest } from "../support/scripted-upstream.ts"

const event = (delta: Record<string, unknown>, finish: string | null = null) =>
  `data: ${JSON.stringify({ id: "chatcmpl-rr", object: "chat.completion.chunk", created: 1_763_000_000, model: "gpt-4.1", choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`

const streamed = (events: ReadonlyArray<string>): Cassette => ({
  name: "session",
  response: {
    status: 200,
    headers: { "content-type": "text/event-stream" },
    chunks: [...events.map((text, i) => (i === 0 ? { text } : { delayMs: 3, text })), { text: "data: [DONE]\n\n" }]
  }
})

/** The model: Bash first, the answer once the tool result is in. */
const model = (request: RecordedRequest): Cassette => {
  const messages = request.body.messages as Array<{ role: string }>
  if (messages.some((m) => m.role === "tool")) {
    return streamed([event({ role: "assistant", content: "" }), event({ content: "Done: " }), event({ content: "hi is in out.txt." }), event({}, "stop")])
  }
  const args = JSON.stringify({ command: "echo hi > out.txt", description: "Write out.txt" })
  return streamed([
    event({ role: "assistant", content: "" }),
    event({ tool_calls: [{ index: 0, id: "call_rr_1", type: "function", function: { name: "Bash", arguments: args.slice(0, 12) } }] }),
    event({ tool_calls: [{ index: 0, function: { arguments: args.slice(12) } }] }),
    event({}, "tool_calls")
  ])
}

const root = Fs.mkdtempSync(Path.join(Os.tmpdir(), "ccproxy-rr-"))
const recordings = Path.join(root, "recordings")
const cwd = Path.join(root, "project")
const home = Path.join(root, "home")

/** The same project and HOME for both runs, fresh each time. */
const session = (baseUrl: string) =>
  Effect.promise(() => {
    for (const dir of [cwd, home]) {
      Fs.rmSync(dir, { recursive: true, force: true })
      Fs.mkdirSync(dir, { recursive: true })
    }
    return runClaude({
      baseUrl,
      prompt: "Write hi into out.txt",
      cwd,
      allowedTools: ["Bash"],
      env: { HOME: home, CLAUDE_CONFIG_DIR: Path.join(home, ".claude") }
    })
  })

/** A proxy (and its scripted upstream) for the length of `use`; closing it finishes the recording's writes. */
const withProxy = <A>(env: Record<string, string>, use: (h: Harness["Service"]) => Effect.Effect<A>) =>
  Effect.scoped(Effect.flatMap(Layer.build(harness(env)), (context) => use(Context.get(context, Harness))))

describe("Claude Code: record a session, replay it with no upstream", () => {
  it.live("installs the CLI", () => Effect.promise(() => ensureClaudeCli()).pipe(Effect.map((bin) => expect(bin).toBeTruthy())), {
    timeout: 300_000
  })

  it.live("records through RECORD_DIR, then replays the same session from REPLAY_DIR alone", () =>
    Effect.gen(function*() {
      const recorded = yield* withProxy({ RECORD_DIR: recordings }, ({ url, upstream }) =>
        Effect.gen(function*() {
          // The first call fails once (the proxy retries it): two exchanges under one key.
          upstream.enqueue(jsonCassette({ error: { message: "busy", type: "server_error" } }, 503), model, model)
          const result = yield* session(url)
          expect(upstream.requests).toHaveLength(3)
          return result
        }))
      expect(recorded.exitCode, recorded.stderr).toBe(0)
      expect(recorded.json).toMatchObject({ is_error: false, result: "Done: hi is in out.txt.", num_turns: 2 })

      // The layout: <key>-<seq>.json, the retried request twice under one key, nothing secret in any file.
      const files = Fs.readdirSync(recordings).sort()
      expect(files).toHaveLength(3)
      for (const file of files) expect(file).toMatch(/^[0-9a-f]{16}-\d{3}\.json$/)
      const cassettes = files.map((file) => ({ file, text: Fs.readFileSync(Path.join(recordings, file), "utf8") }))
      for (const { text } of cassettes) {
        expect(text).not.toContain(TEST_API_KEY)
        expect(text).not.toMatch(/"authorization"|Bearer /i)
        expect(text).not.toContain("127.0.0.1")
      }
      const byKey = new Map<string, Array<number>>()
      for (const { file, text } of cassettes) {
        const [key, seq] = file.replace(".json", "").split("-") as [string, string]
        byKey.set(key, [...(byKey.get(key) ?? []), Number(seq)])
        // The file name is the key of the request the file shows.
        const cassette = decodeCassette(JSON.parse(text))
        expect(exchangeKey(cassette.request!.path!, cassette.request!.body)).toBe(key)
      }
      expect([...byKey.values()].map((seqs) => seqs.join(",")).sort()).toEqual(["1", "1,2"])

      const replayed = yield* withProxy({ REPLAY_DIR: recordings }, ({ url, upstream }) =>
        Effect.gen(function*() {
          yield* Effect.promise(upstream.close)
          const result = yield* session(url)
          expect(upstream.requests).toHaveLength(0)
          return result
        }))
      expect(replayed.exitCode, replayed.stderr).toBe(0)
      expect(replayed.json).toMatchObject({ is_error: false, result: (recorded.json as { result: string }).result, num_turns: 2 })
      expect(Fs.readFileSync(Path.join(cwd, "out.txt"), "utf8")).toBe("hi\n")
      Fs.rmSync(root, { recursive: true, force: true })
    }), { timeout: 180_000 })
})
