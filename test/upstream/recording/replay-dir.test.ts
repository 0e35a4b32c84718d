/**
 * REPLAY_DIR and RECORD_DIR as settings, and replay from a directory through the running proxy: recorded order,
 * then the last again; a request nobody recorded is a 404 `not_found_error` naming its key.
 */
import { afterAll, describe, expect, it, layer } from "@effect/vitest"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { ConfigInvalid } from "../../../src/config.ts"
import { sseCassette } from "../../../src/upstream/cassette.ts"
import { cassetteFileName } from "../../../src/upstream/cassette-dir.ts"
import { makeCassetteRedactor } from "../../../src/upstream/cassette-redaction.ts"
import { exchangeKey } from "../../../src/upstream/exchange-key.ts"
import { parseRecording } from "../../../src/upstream/recording-settings.ts"
import { scriptFromDir } from "../../../src/upstream/replay-dir.ts"
import { Harness, harness } from "../../support/harness.ts"
import { jsonCassette } from "../../support/scripted-upstream.ts"

const made: Array<string> = []
const tempDir = () => {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "ccproxy-replay-"))
  made.push(dir)
  return dir
}
afterAll(() => {
  for (const dir of made) Fs.rmSync(dir, { recursive: true, force: true })
})

const problemOf = (run: () => unknown): string => {
  try {
    run()
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigInvalid)
    return (error as ConfigInvalid).message
  }
  throw new Error("expected a ConfigInvalid")
}

describe("recording settings", () => {
  it("are off unless a directory is named", () => {
    expect(parseRecording({})).toEqual({ mode: "off" })
  })

  it("RECORD_DIR is created when missing", () => {
    const dir = Path.join(tempDir(), "nested", "recording")
    expect(parseRecording({ RECORD_DIR: dir })).toEqual({ mode: "record", dir })
    expect(Fs.statSync(dir).isDirectory()).toBe(true)
  })

  it("refuses both at once, a missing or empty replay directory, a file, a broken cassette: each in one line", () => {
    const dir = tempDir()
    expect(problemOf(() => parseRecording({ RECORD_DIR: dir, REPLAY_DIR: dir }))).toBe(
      "RECORD_DIR and REPLAY_DIR cannot both be set: record against a live upstream, or replay a recording"
    )
    expect(problemOf(() => parseRecording({ REPLAY_DIR: `${dir}/nope` }))).toBe(`REPLAY_DIR names a directory that does not exist: ${dir}/nope`)
    expect(problemOf(() => parseRecording({ REPLAY_DIR: dir }))).toMatch(/^REPLAY_DIR holds no recordings/)
    const file = Path.join(dir, "plain.txt")
    Fs.writeFileSync(file, "x")
    expect(problemOf(() => parseRecording({ REPLAY_DIR: file }))).toBe(`REPLAY_DIR names a file, not a directory: ${file}`)
    expect(problemOf(() => parseRecording({ RECORD_DIR: file }))).toBe(`RECORD_DIR names a file, not a directory: ${file}`)
    const broken = Path.join(dir, cassetteFileName("0123456789abcdef", 1))
    Fs.writeFileSync(broken, "{ not json")
    expect(problemOf(() => parseRecording({ REPLAY_DIR: dir }))).toMatch(new RegExp(`^REPLAY_DIR has a problem: ${broken} is not JSON`))
    Fs.writeFileSync(broken, JSON.stringify({ name: "no response" }))
    expect(problemOf(() => parseRecording({ REPLAY_DIR: dir }))).toMatch(new RegExp(`^REPLAY_DIR has a problem: ${broken} is not a cassette`))
    Fs.rmSync(dir, { recursive: true, force: true })
  })

  it("`npm start` with a missing REPLAY_DIR stops with one line", async () => {
    const missing = Path.join(Os.tmpdir(), "ccproxy-replay-does-not-exist")
    const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, ["src/main.ts"], {
        env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", PORT: "0", REPLAY_DIR: missing },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let stdout = ""
      let stderr = ""
      const timer = setTimeout(() => child.kill("SIGKILL"), 20_000)
      child.stdout.on("data", (d) => (stdout += d))
      child.stderr.on("data", (d) => (stderr += d))
      child.on("exit", (code) => {
        clearTimeout(timer)
        resolve({ code, stdout, stderr })
      })
    })
    expect(result.code).toBe(1)
    expect(result.stderr).toBe(`ccproxy: invalid configuration: REPLAY_DIR names a directory that does not exist: ${missing}\n`)
    expect(result.stdout).toBe("")
  })
})

describe("replay script", () => {
  const redaction = makeCassetteRedactor([])
  const url = "http://127.0.0.1:1/v1/chat/completions"
  const body = { model: "m", messages: [{ role: "user", content: "hi" }] }
  const key = exchangeKey("/v1/chat/completions", body)
  const first = jsonCassette({ n: 1 }, 500)
  const second = jsonCassette({ n: 2 })

  it("plays one key's exchanges in recorded order, then repeats the last; keys are independent", () => {
    const other = { ...body, model: "n" }
    const otherCassette = jsonCassette({ other: true })
    const script = scriptFromDir(new Map([[key, [first, second]], [exchangeKey("/v1/chat/completions", other), [otherCassette]]]), "/rec", redaction)
    const at = (value: unknown, n: number) => script({ url, headers: {}, body: value }, n)
    expect(at(body, 0)).toBe(first)
    expect(at(other, 1)).toBe(otherCassette)
    expect(at({ ...body, user: "u_another_session" }, 2)).toBe(second)
    expect(at(body, 3)).toBe(second)
  })

  it("a request with no recording gets a 404 not_found_error naming its key", () => {
    const script = scriptFromDir(new Map([[key, [first]]]), "/rec", redaction)
    const asked = { ...body, model: "unrecorded" }
    const missing = script({ url, headers: {}, body: asked }, 0)
    const wanted = exchangeKey("/v1/chat/completions", asked)
    expect(missing.response.status).toBe(404)
    expect(JSON.parse(missing.response.chunks[0]!.text)).toEqual({
      error: { type: "not_found_error", message: `no recorded exchange for key ${wanted} (POST /v1/chat/completions) in REPLAY_DIR /rec` }
    })
  })
})

/** A directory with one recorded streamed answer, for the proxy below. */
const replayDir = (() => {
  const dir = tempDir()
  const answer = sseCassette("hello", [
    { id: "c", object: "chat.completion.chunk", created: 1, model: "gpt-4.1", choices: [{ index: 0, delta: { role: "assistant", content: "recorded hello" }, finish_reason: null }] },
    { id: "c", object: "chat.completion.chunk", created: 1, model: "gpt-4.1", choices: [{ index: 0, delta: {}, finish_reason: "stop" }] }
  ])
  // Filed under a key the proxy will not compute for the test's request: the proxy must say which key it wanted.
  Fs.writeFileSync(Path.join(dir, cassetteFileName("0123456789abcdef", 1)), JSON.stringify(answer))
  return dir
})()

layer(harness({ REPLAY_DIR: replayDir }), { excludeTestServices: true })("REPLAY_DIR through the proxy", (it) => {
  it.effect("an unrecorded request → 404 not_found_error naming the key, no retry, upstream untouched", () =>
    Effect.gen(function*() {
      const { url, upstream } = yield* Harness
      const response = yield* Effect.promise(() =>
        fetch(`${url}/v1/messages`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ model: "claude-sonnet-4-6", max_tokens: 20, messages: [{ role: "user", content: "never recorded" }] })
        }))
      expect(response.status).toBe(404)
      expect(response.headers.get("x-should-retry")).toBe("false")
      const error = (yield* Effect.promise(() => response.json())).error
      expect(error.type).toBe("not_found_error")
      expect(error.message).toMatch(new RegExp(`^no recorded exchange for key [0-9a-f]{16} \\(POST /v1/chat/completions\\) in REPLAY_DIR ${replayDir}$`))
      expect(error.message).not.toContain("0123456789abcdef")
      expect(upstream.requests).toHaveLength(0)
    }))
})
