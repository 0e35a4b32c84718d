/**
 * The published package as a user gets it: `npm pack` (which builds dist/ through `prepack`), installed from the
 * tarball into a scratch folder with npm under the project's Node; then `npx ccproxy --version`, the proxy started
 * from the installed command, and the library imported by a script that adds a stage of its own.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { baseEnv, startCli } from "./support/ccproxy-cli.ts"
import { npmEnv } from "./support/claude-cli.ts"
import { waitUntil } from "./support/leaks.ts"
import { jsonCassette, type ScriptedUpstream, startScriptedUpstream } from "./support/scripted-upstream.ts"

const REPO = Path.resolve(import.meta.dirname, "..")
const VERSION = (JSON.parse(Fs.readFileSync(Path.join(REPO, "package.json"), "utf8")) as { version: string }).version

interface Run {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs a command to its end (SIGKILL by PID after `timeoutMs`), with the project's Node first on PATH. */
const run = (command: string, args: ReadonlyArray<string>, cwd: string, env: NodeJS.ProcessEnv = {}, timeoutMs = 180_000) =>
  new Promise<Run>((resolve, reject) => {
    const child = spawn(command, args, {
      cwd,
      env: { ...npmEnv(), ...env, PATH: baseEnv().PATH },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs)
    child.on("error", (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.on("close", (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })

const completion = (text: string) =>
  jsonCassette({
    id: "chatcmpl-package",
    object: "chat.completion",
    created: 1_763_000_000,
    model: "gpt-4.1",
    choices: [{ index: 0, message: { role: "assistant", content: text }, finish_reason: "stop" }],
    usage: { prompt_tokens: 10, completion_tokens: 3, total_tokens: 13 }
  })

const messageBody = JSON.stringify({ model: "claude-sonnet-4-5", max_tokens: 50, messages: [{ role: "user", content: "hi" }] })

/** A library user's script: the proxy from `ccproxy` with a stage of its own that stamps and rewrites the answer. */
const LIBRARY_SCRIPT = `
import { Context, Effect, Layer } from "effect"
import { HttpServer } from "effect/http"
import { parseConfig, serverLayer } from "ccproxy"

const stamp = {
  name: "stamp",
  wrap: (next) => (request) =>
    Effect.map(next(request), (reply) =>
      reply._tag !== "Message" ? reply : {
        ...reply,
        headers: { ...reply.headers, "x-stamped-by": "library-stage" },
        message: {
          ...reply.message,
          content: reply.message.content.map((block) => block.type === "text" ? { ...block, text: block.text + " (stamped)" } : block)
        }
      })
}

const config = parseConfig({ OPENAI_BASE_URL: process.env.UPSTREAM_URL, OPENAI_API_KEY: "sk-library", BIG_MODEL_NAME: "gpt-4.1", PORT: "0", LOG_LEVEL: "none" })

const main = Effect.gen(function* () {
  const context = yield* Layer.build(serverLayer(config, { stages: [{ stage: stamp, after: "routing" }] }))
  const { port } = Context.get(context, HttpServer.HttpServer).address
  const response = yield* Effect.promise(() =>
    fetch("http://127.0.0.1:" + port + "/v1/messages", { method: "POST", headers: { "content-type": "application/json" }, body: process.env.BODY }))
  const body = yield* Effect.promise(() => response.json())
  console.log(JSON.stringify({ status: response.status, stamp: response.headers.get("x-stamped-by"), text: body.content?.[0]?.text }))
})

await Effect.runPromise(Effect.scoped(main))
`

describe("the npm package", () => {
  let root = ""
  let app = ""
  let tarball = ""
  let upstream: ScriptedUpstream

  beforeAll(async () => {
    upstream = await startScriptedUpstream()
    root = Fs.mkdtempSync(Path.join(Os.tmpdir(), "ccproxy-package-"))
    const packed = Path.join(root, "pack")
    app = Path.join(root, "app")
    Fs.mkdirSync(packed)
    Fs.mkdirSync(app)
    const pack = await run("npm", ["pack", "--pack-destination", packed, "--loglevel=error"], REPO)
    expect(pack.code, pack.stderr).toBe(0)
    tarball = Path.join(packed, Fs.readdirSync(packed).find((name) => name.endsWith(".tgz"))!)
    Fs.writeFileSync(Path.join(app, "package.json"), JSON.stringify({ name: "ccproxy-package-test", private: true, type: "module" }))
    // The registry is reachable, but the dependencies are almost always in npm's cache already: use it first.
    const install = await run(
      "npm",
      ["install", "--prefer-offline", "--no-audit", "--no-fund", "--no-update-notifier", "--loglevel=error", tarball],
      app
    )
    expect(install.code, install.stderr).toBe(0)
  }, 300_000)

  afterAll(async () => {
    await upstream?.close()
    if (root !== "") Fs.rmSync(root, { recursive: true, force: true })
  })

  it("ships the built JavaScript and types, no sources, and installs only its runtime dependencies", () => {
    const installed = Path.join(app, "node_modules", "ccproxy")
    expect(Fs.existsSync(Path.join(installed, "dist", "main.js"))).toBe(true)
    expect(Fs.existsSync(Path.join(installed, "dist", "index.d.ts"))).toBe(true)
    expect(Fs.existsSync(Path.join(installed, "dist", "observability", "dashboard.html"))).toBe(true)
    expect(Fs.existsSync(Path.join(installed, "src"))).toBe(false)
    expect(Fs.existsSync(Path.join(installed, "test"))).toBe(false)
    // Development tools (the pinned Node, TypeScript, vitest) stay out of a user's install.
    for (const tool of ["node", "typescript", "vitest", "@effect/vitest"]) {
      expect(Fs.existsSync(Path.join(app, "node_modules", tool)), tool).toBe(false)
    }
  })

  it("npx ccproxy --version prints the package's version", async () => {
    const result = await run("npx", ["ccproxy", "--version"], app)
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toBe(`${VERSION}\n`)
  }, 60_000)

  it("the installed ccproxy serves /health and answers a message", async () => {
    upstream.reset()
    upstream.enqueue(completion("Hello from the installed package."))
    const proxy = startCli([], {
      bin: Path.join(app, "node_modules", ".bin", "ccproxy"),
      cwd: app,
      env: { ...baseEnv(), PORT: "0", OPENAI_API_KEY: "sk-package", OPENAI_BASE_URL: upstream.url, BIG_MODEL_NAME: "gpt-4.1" }
    })
    try {
      expect(await waitUntil(() => proxy.output().stdout.includes('"listening"'), 30_000), proxy.output().stderr).toBe(true)
      const address = JSON.parse(proxy.output().stdout.split("\n")[0]!).address as string
      const health = await fetch(`${address}/health`)
      expect(health.status).toBe(200)
      expect(await health.json()).toMatchObject({ status: "ok" })
      const reply = await fetch(`${address}/v1/messages`, { method: "POST", headers: { "content-type": "application/json" }, body: messageBody })
      expect(reply.status).toBe(200)
      expect(await reply.json()).toMatchObject({ content: [{ type: "text", text: "Hello from the installed package." }] })
    } finally {
      proxy.child.kill("SIGTERM")
    }
    const exit = await proxy.done
    expect(exit.stderr).toBe("")
  }, 60_000)

  it("works as a library, with a stage of the user's own in the pipeline", async () => {
    upstream.reset()
    upstream.enqueue(completion("Hello from the library."))
    Fs.writeFileSync(Path.join(app, "library-check.mjs"), LIBRARY_SCRIPT)
    const result = await run(process.execPath, ["library-check.mjs"], app, { UPSTREAM_URL: upstream.url, BODY: messageBody }, 60_000)
    expect(result.code, result.stderr).toBe(0)
    expect(JSON.parse(result.stdout)).toEqual({ status: 200, stamp: "library-stage", text: "Hello from the library. (stamped)" })
    expect(upstream.requests[0]!.body.model).toBe("gpt-4.1")
  }, 60_000)
})
