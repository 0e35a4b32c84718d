/**
 * `ccproxy code`: the real Claude Code CLI (installed as test/e2e does) through a proxy that `code` starts, or one
 * already running; and a scripted stand-in for claude (CLAUDE_PATH) where exact exit codes and signals matter.
 */
import { afterAll, beforeAll, describe, expect, it, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import type { Cassette } from "../../src/upstream/cassette.ts"
import { backgroundProxies, baseEnv, freePort, listening, runCli, startCli } from "../support/ccproxy-cli.ts"
import { ensureClaudeCli, offlineEnv } from "../support/claude-cli.ts"
import { waitUntil } from "../support/leaks.ts"
import { Harness, harness } from "../support/harness.ts"
import { type ScriptedUpstream, startScriptedUpstream } from "../support/scripted-upstream.ts"

const KEY = "proxy-key-for-code-0123456789"

const chunk = (delta: Record<string, unknown>, finish: string | null = null) => ({
  id: "chatcmpl-code",
  object: "chat.completion.chunk",
  created: 1_763_000_000,
  model: "gpt-4.1",
  choices: [{ index: 0, delta, finish_reason: finish }]
})

const answer = (text: string): Cassette => ({
  name: "code",
  response: {
    status: 200,
    headers: { "content-type": "text/event-stream" },
    chunks: [chunk({ role: "assistant", content: "" }), chunk({ content: text }), chunk({}, "stop")]
      .map((c) => ({ text: `data: ${JSON.stringify(c)}\n\n` }))
      .concat([{ text: "data: [DONE]\n\n" }])
  }
})

/** A scratch folder per test, removed after it: claude's HOME and working directory, fake claudes. */
const scratch = (): { dir: string; [Symbol.dispose]: () => void } => {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "ccproxy-code-"))
  return { dir, [Symbol.dispose]: () => Fs.rmSync(dir, { recursive: true, force: true }) }
}

/** Everything `ccproxy code` needs: the proxy's settings, and claude kept offline with a throwaway HOME. */
const sessionEnv = (dir: string, upstreamUrl: string, extra: Record<string, string>) => ({
  ...offlineEnv({ baseUrl: "http://127.0.0.1:9/not-the-proxy", home: dir }),
  PATH: baseEnv().PATH,
  OPENAI_API_KEY: "sk-upstream-for-code",
  OPENAI_BASE_URL: upstreamUrl,
  BIG_MODEL_NAME: "gpt-4.1",
  SMALL_MODEL_NAME: "gpt-4.1-mini",
  ...extra
})

/** A stand-in for claude: a shell script. */
const fakeClaude = (dir: string, script: string): string => {
  const file = Path.join(dir, "fake-claude")
  Fs.writeFileSync(file, `#!/bin/sh\n${script}\n`, { mode: 0o755 })
  return file
}

describe("ccproxy code", () => {
  let claude = ""
  let upstream: ScriptedUpstream
  beforeAll(async () => {
    claude = await ensureClaudeCli()
    upstream = await startScriptedUpstream()
  }, 300_000)
  afterAll(() => upstream.close())

  it("starts a proxy for the session, prints claude's answer, and stops that proxy when claude exits", async () => {
    using tmp = scratch()
    const port = await freePort()
    upstream.reset()
    for (let i = 0; i < 3; i++) upstream.enqueue(answer("Hello through ccproxy code."))
    const result = await runCli(["code", "-p", "Say hello", "--output-format", "json"], {
      env: sessionEnv(tmp.dir, upstream.url, { PORT: String(port), CLAUDE_PATH: claude }),
      cwd: tmp.dir,
      timeoutMs: 90_000
    })
    expect(result.code, result.stderr).toBe(0)
    expect(JSON.parse(result.stdout)).toMatchObject({ is_error: false, result: "Hello through ccproxy code." })
    expect(upstream.requests.length).toBeGreaterThan(0)
    expect(upstream.requests[0]!.body.model).toBe("gpt-4.1")
    expect(await listening(port)).toBe(false)
    expect(backgroundProxies(port)).toEqual([])
  }, 120_000)

  it("passes claude's exit code on, with the proxy's URL and key in its environment", async () => {
    using tmp = scratch()
    const port = await freePort()
    const script = fakeClaude(
      tmp.dir,
      'echo "url=$ANTHROPIC_BASE_URL token=$ANTHROPIC_AUTH_TOKEN apikey=${ANTHROPIC_API_KEY:-unset} args=$*"\nexit 7'
    )
    const result = await runCli(["code", "--resume", "x y"], {
      env: sessionEnv(tmp.dir, upstream.url, { PORT: String(port), CLAUDE_PATH: script, PROXY_API_KEYS: `${KEY},second-key` }),
      cwd: tmp.dir
    })
    expect(result.code, result.stderr).toBe(7)
    expect(result.stdout).toBe(`url=http://127.0.0.1:${port} token=${KEY} apikey=unset args=--resume x y\n`)
    expect(await listening(port)).toBe(false)
  }, 60_000)

  it("forwards SIGTERM to claude, waits for it, then stops the proxy it started", async () => {
    using tmp = scratch()
    const port = await freePort()
    const script = fakeClaude(tmp.dir, "trap 'echo got TERM; exit 42' TERM\necho ready\nwhile :; do sleep 0.1; done")
    const running = startCli(["code"], {
      env: sessionEnv(tmp.dir, upstream.url, { PORT: String(port), CLAUDE_PATH: script }),
      cwd: tmp.dir
    })
    expect(await waitUntil(() => running.output().stdout.includes("ready"), 30_000), running.output().stderr).toBe(true)
    expect(await listening(port)).toBe(true)
    expect(backgroundProxies(port)).toHaveLength(1)
    running.child.kill("SIGTERM")
    const result = await running.done
    expect(result.code).toBe(42)
    expect(result.stdout).toBe("ready\ngot TERM\n")
    expect(await listening(port)).toBe(false)
    expect(backgroundProxies(port)).toEqual([])
  }, 60_000)

  it("says so, with exit 127 and no proxy started, when claude is missing", async () => {
    using tmp = scratch()
    const port = await freePort()
    const result = await runCli(["code"], {
      env: sessionEnv(tmp.dir, upstream.url, { PORT: String(port), CLAUDE_PATH: Path.join(tmp.dir, "no-claude-here") }),
      cwd: tmp.dir
    })
    expect(result.code).toBe(127)
    expect(result.stderr).toMatch(/^ccproxy: claude not found: .*CLAUDE_PATH/)
    expect(backgroundProxies(port)).toEqual([])
  }, 60_000)

  it("reports in one line why the proxy could not start", async () => {
    using tmp = scratch()
    const script = fakeClaude(tmp.dir, "exit 0")
    const result = await runCli(["code"], {
      env: sessionEnv(tmp.dir, upstream.url, { PORT: "0", HOST: "0.0.0.0", CLAUDE_PATH: script }),
      cwd: tmp.dir
    })
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/^ccproxy: refusing to start: HOST=0\.0\.0\.0 .*PROXY_API_KEYS.*\n$/)
  }, 60_000)
})

layer(harness({ PROXY_API_KEYS: KEY }), { excludeTestServices: true })("ccproxy code with a proxy already running", (it) => {
  it.effect("reuses it, with its key, and leaves it running", () =>
    Effect.gen(function*() {
      const { url, upstream } = yield* Harness
      const claude = yield* Effect.promise(ensureClaudeCli)
      using tmp = scratch()
      upstream.reset()
      for (let i = 0; i < 3; i++) upstream.enqueue(answer("Hello from the running proxy."))
      const port = new URL(url).port
      const result = yield* Effect.promise(() =>
        runCli(["code", "-p", "Say hello", "--output-format", "json"], {
          // The harness's upstream is what the running proxy uses; this one would only serve a proxy started anew.
          env: sessionEnv(tmp.dir, "http://127.0.0.1:9/v1", { PORT: port, PROXY_API_KEYS: KEY, CLAUDE_PATH: claude }),
          cwd: tmp.dir,
          timeoutMs: 90_000
        }))
      expect(result.code, result.stderr).toBe(0)
      expect(JSON.parse(result.stdout)).toMatchObject({ is_error: false, result: "Hello from the running proxy." })
      expect(upstream.requests.length).toBeGreaterThan(0)
      expect(backgroundProxies(Number(port))).toEqual([])
      const health = yield* Effect.promise(() => fetch(`${url}/health`))
      expect(health.status).toBe(200)
    }), { timeout: 120_000 })
})
