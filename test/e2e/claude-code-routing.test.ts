/**
 * The real Claude Code CLI through a proxy with a config file and three scripted providers: a haiku request goes to
 * the background model on its own provider; while the first provider of the default chain answers 503, the second
 * answers and the session goes on as if nothing happened; `provider,model` as `--model` picks a target directly.
 */
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { sseCassette } from "../../src/upstream/cassette.ts"
import { ensureClaudeCli, runClaude } from "../support/claude-cli.ts"
import { ProvidersHarness, providersHarness } from "../support/providers-harness.ts"
import { jsonCassette, type ScriptedUpstream } from "../support/scripted-upstream.ts"

const FILE = {
  providers: [
    { name: "primary", base_url: "{{primary}}", api_key: "sk-primary-0123456789abcdef", profile: "openai" },
    { name: "backup", base_url: "{{backup}}", api_key: "sk-backup-0123456789abcdef", profile: "deepseek" },
    { name: "local", base_url: "{{local}}", profile: "vllm" }
  ],
  routes: {
    default: ["primary,gpt-4.1", "backup,deepseek-chat"],
    background: "local,qwen3-coder"
  }
}

const answer = (text: string) =>
  sseCassette("answer", [
    { choices: [{ index: 0, delta: { role: "assistant", content: "" } }] },
    ...text.split(/(?<= )/).map((part) => ({ choices: [{ index: 0, delta: { content: part } }] })),
    { choices: [{ index: 0, delta: {}, finish_reason: "stop" }], usage: { prompt_tokens: 900, completion_tokens: 9 } }
  ])

const unavailable = jsonCassette({ error: { message: "The server is overloaded", type: "server_error" } }, 503)

/** Every request answered the same way (Claude Code may send a few of its own besides the prompt). */
const always = (upstream: ScriptedUpstream, make: () => Parameters<ScriptedUpstream["enqueue"]>[0]) => {
  for (let i = 0; i < 6; i++) upstream.enqueue(make())
}

const resetAll = (upstreams: Readonly<Record<string, ScriptedUpstream>>) => {
  for (const upstream of Object.values(upstreams)) upstream.reset()
}

const scratch = () => Fs.mkdtempSync(Path.join(Os.tmpdir(), "ccproxy-cc-routing-"))

layer(providersHarness(["primary", "backup", "local"], FILE), { excludeTestServices: true })(
  "Claude Code CLI with routes and fallback",
  (it) => {
    it.effect("installs the CLI", () => Effect.promise(() => ensureClaudeCli()).pipe(Effect.map((bin) => expect(bin).toBeTruthy())), {
      timeout: 300_000
    })

    it.effect("a haiku session goes to the background model on its provider", () =>
      Effect.gen(function*() {
        const { url, upstreams, logs } = yield* ProvidersHarness
        resetAll(upstreams)
        always(upstreams.local!, () => answer("Quick answer from qwen."))
        const cwd = scratch()
        const result = yield* Effect.promise(() => runClaude({ baseUrl: url, prompt: "Say hi", cwd, model: "claude-haiku-4-5" }))
        expect(result.exitCode, result.stderr).toBe(0)
        expect(result.json).toMatchObject({ is_error: false, result: "Quick answer from qwen." })
        expect(upstreams.local!.requests.length).toBeGreaterThan(0)
        for (const request of upstreams.local!.requests) expect(request.body.model).toBe("qwen3-coder")
        expect(upstreams.primary!.requests).toHaveLength(0)
        expect(logs.filter((l) => l.msg === "request").at(-1)).toMatchObject({ upstream: "local", routed_by: "background" })
        Fs.rmSync(cwd, { recursive: true, force: true })
      }), { timeout: 120_000 })

    it.effect("while the first provider answers 503, the second answers the session", () =>
      Effect.gen(function*() {
        const { url, upstreams, logs } = yield* ProvidersHarness
        resetAll(upstreams)
        always(upstreams.primary!, () => unavailable)
        always(upstreams.backup!, () => answer("The backup answered."))
        const cwd = scratch()
        const result = yield* Effect.promise(() => runClaude({ baseUrl: url, prompt: "Say hi", cwd, model: "claude-sonnet-4-6" }))
        expect(result.exitCode, result.stderr).toBe(0)
        expect(result.json).toMatchObject({ is_error: false, result: "The backup answered." })
        expect(upstreams.primary!.requests.length).toBeGreaterThan(0)
        for (const request of upstreams.backup!.requests) expect(request.body.model).toBe("deepseek-chat")
        const line = logs.filter((l) => l.msg === "request" && l.upstream === "backup").at(-1)
        expect(line).toMatchObject({ status: 200, failed_over: ["primary,gpt-4.1: 503"] })
        Fs.rmSync(cwd, { recursive: true, force: true })
      }), { timeout: 120_000 })

    it.effect("--model provider,model picks the target directly", () =>
      Effect.gen(function*() {
        const { url, upstreams } = yield* ProvidersHarness
        resetAll(upstreams)
        always(upstreams.backup!, () => answer("Straight to the reasoner."))
        const cwd = scratch()
        const result = yield* Effect.promise(() => runClaude({ baseUrl: url, prompt: "Say hi", cwd, model: "backup,deepseek-reasoner" }))
        expect(result.exitCode, result.stderr).toBe(0)
        expect(result.json).toMatchObject({ is_error: false, result: "Straight to the reasoner." })
        expect(upstreams.backup!.requests[0]!.body.model).toBe("deepseek-reasoner")
        expect(upstreams.primary!.requests).toHaveLength(0)
        Fs.rmSync(cwd, { recursive: true, force: true })
      }), { timeout: 120_000 })
  }
)
