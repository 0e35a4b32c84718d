/**
 * `ccproxy reload` / SIGHUP and `ccproxy check` against a real `ccproxy start` process with a config file: new
 * requests follow the new config while a stream in flight finishes on the old one; a bad file is rejected and the old
 * config goes on serving; `check` reports each provider.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { sseCassette } from "../../src/upstream/cassette.ts"
import { post, sseEvents, streamText } from "../fault/client.ts"
import { baseEnv, freePort, runCli, startCli } from "../support/ccproxy-cli.ts"
import { writeConfigDir } from "../support/providers-harness.ts"
import { completionCassette, jsonCassette, type ScriptedUpstream, startScriptedUpstream } from "../support/scripted-upstream.ts"

const completion = (content: string) => completionCassette(content, { prompt_tokens: 3, completion_tokens: 1 })

const configFor = (one: ScriptedUpstream, two: ScriptedUpstream, target: string) => ({
  providers: [
    { name: "one", base_url: one.url, api_key: "sk-one-0123456789abcdef" },
    { name: "two", base_url: two.url, api_key: "sk-two-0123456789abcdef" }
  ],
  routes: { default: target }
})

const text = (reply: { text: string }) => JSON.parse(reply.text).content[0].text as string

const until = async (check: () => boolean, ms = 10_000) => {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error("timed out waiting")
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

describe("ccproxy reload and check", () => {
  it.live("a reload switches new requests; a stream in flight ends on the old config; a bad file is rejected", () =>
    Effect.promise(async () => {
      const [one, two] = await Promise.all([startScriptedUpstream(), startScriptedUpstream()])
      const dir = writeConfigDir(configFor(one, two, "one,m1"))
      const file = Path.join(dir, "ccproxy.json")
      const port = await freePort()
      const env = { ...baseEnv(), PORT: String(port) }
      const proxy = startCli(["start"], { env, cwd: dir, timeoutMs: 60_000 })
      try {
        await until(() => proxy.output().stdout.includes("\"listening\""))
        const url = `http://127.0.0.1:${port}`

        // A slow stream from "one", under way while the config changes.
        one.enqueue(sseCassette("slow", [
          { choices: [{ index: 0, delta: { role: "assistant", content: "old " } }] },
          { choices: [{ index: 0, delta: { content: "config" } }] },
          { choices: [{ index: 0, delta: {}, finish_reason: "stop" }] }
        ], { delayMs: 400 }))
        const inFlight = post(url, JSON.stringify({ model: "claude-sonnet-4-6", max_tokens: 10, stream: true, messages: [{ role: "user", content: "a" }] }))
        await until(() => one.requests.length === 1)

        Fs.writeFileSync(file, JSON.stringify(configFor(one, two, "two,m2")))
        const reloaded = await runCli(["reload"], { env, cwd: dir, timeoutMs: 20_000 })
        expect(reloaded.stderr).toBe("")
        expect(reloaded.code).toBe(0)
        expect(reloaded.stdout).toMatch(/^reloaded .*ccproxy\.json \(providers: one, two\)\n$/)

        two.enqueue(completion("new config"))
        const after = await post(url, JSON.stringify({ model: "claude-sonnet-4-6", max_tokens: 10, messages: [{ role: "user", content: "b" }] }))
        expect(text(after)).toBe("new config")
        expect(two.requests[0]!.body.model).toBe("m2")

        const old = await inFlight
        expect(old.status).toBe(200)
        expect(streamText(sseEvents(old.text))).toBe("old config")

        // A bad file: `ccproxy reload` refuses before signalling; a bare SIGHUP is rejected by the proxy itself.
        Fs.writeFileSync(file, JSON.stringify({ ...configFor(one, two, "three,m3") }))
        const refused = await runCli(["reload"], { env, cwd: dir, timeoutMs: 20_000 })
        expect(refused.code).toBe(1)
        expect(refused.stderr).toMatch(/^ccproxy: invalid configuration: .*ccproxy\.json: routes\.default names an unknown provider "three"/)
        process.kill(proxy.child.pid!, "SIGHUP")
        await until(() => proxy.output().stdout.includes("config reload rejected"))
        two.enqueue(completion("still the good one"))
        const kept = await post(url, JSON.stringify({ model: "claude-sonnet-4-6", max_tokens: 10, messages: [{ role: "user", content: "c" }] }))
        expect(text(kept)).toBe("still the good one")
        expect(proxy.output().stdout).not.toContain("sk-one-0123456789abcdef")
      } finally {
        proxy.child.kill("SIGTERM")
        await proxy.done
        await Promise.all([one.close(), two.close()])
        Fs.rmSync(dir, { recursive: true, force: true })
      }
    }), { timeout: 60_000 })

  it.live("check reports each provider: reachable, its models, a refused key, nothing listening", () =>
    Effect.promise(async () => {
      const [one, two] = await Promise.all([startScriptedUpstream(), startScriptedUpstream()])
      const dir = writeConfigDir({
        providers: [
          { name: "one", base_url: one.url, api_key: "sk-one-0123456789abcdef" },
          { name: "two", base_url: two.url, api_key: "sk-two-0123456789abcdef", models: ["m2"] },
          { name: "gone", base_url: "http://127.0.0.1:9/v1" }
        ],
        routes: { default: ["one,m1", "two,m2"], background: "one,m-small", rules: [{ match: "x", target: "gone,m" }] }
      })
      try {
        one.enqueue(jsonCassette({ object: "list", data: [{ id: "m1", object: "model" }, { id: "other", object: "model" }] }))
        two.enqueue(jsonCassette({ error: { message: "Incorrect API key provided: sk-two-0123456789abcdef", type: "invalid_request_error" } }, 401))
        const result = await runCli(["check"], { env: baseEnv(), cwd: dir, timeoutMs: 30_000 })
        expect(result.code).toBe(1)
        const lines = result.stdout.split("\n")
        expect(lines[0]).toBe(`config: ${Path.join(dir, "ccproxy.json")}`)
        expect(result.stdout).toContain("  default: one,m1 → two,m2")
        expect(lines.find((l) => l.includes(" one "))).toMatch(/^ok +one .* GET \/models answered \(2 models\)$/)
        expect(result.stdout).toContain("warning: m-small is not in its list of models")
        expect(lines.find((l) => l.includes(" two "))).toMatch(/^FAILED two .* GET \/models: HTTP 401: Incorrect API key provided: \[REDACTED\]$/)
        expect(lines.find((l) => l.includes(" gone "))).toMatch(/^FAILED gone .* unreachable: /)
        expect(result.stderr).toBe("ccproxy: 2 of 3 providers failed the check\n")
        expect(one.requests[0]).toMatchObject({ method: "GET", path: "/v1/models" })
        expect(one.requests[0]!.headers.authorization).toBe("Bearer sk-one-0123456789abcdef")
        expect(result.stdout + result.stderr).not.toContain("sk-two-0123456789abcdef")
      } finally {
        await Promise.all([one.close(), two.close()])
        Fs.rmSync(dir, { recursive: true, force: true })
      }
    }), { timeout: 60_000 })
})
