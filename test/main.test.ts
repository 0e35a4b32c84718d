/**
 * `npm start` as a user runs it: a bad config or a busy port stops the start with one clear line; a good one
 * logs where it listens and serves.
 */
import { describe, expect, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import * as Net from "node:net"

const run = (env: Record<string, string>, until?: RegExp) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, ["src/main.ts"], {
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000)
    child.stdout.on("data", (d) => {
      stdout += d
      if (until?.test(stdout)) child.kill("SIGTERM")
    })
    child.stderr.on("data", (d) => (stderr += d))
    child.on("exit", (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })

describe("ccproxy start-up", () => {
  it("an invalid variable stops the start with one line, no stack trace", async () => {
    const result = await run({ PORT: "abc", OPENAI_API_KEY: "sk-secret-start" })
    expect(result.code).toBe(1)
    expect(result.stderr).toBe("ccproxy: invalid configuration: PORT must be an integer from 0 to 65535 (got \"abc\")\n")
    expect(result.stdout).toBe("")
  })

  it("a busy port is reported in one line", async () => {
    const blocker = Net.createServer()
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve))
    const port = (blocker.address() as Net.AddressInfo).port
    const result = await run({ PORT: String(port) })
    blocker.close()
    expect(result.code).toBe(1)
    expect(result.stderr.trim().split("\n")).toHaveLength(1)
    expect(result.stderr).toContain(`port ${port}`)
  })

  it("starts, logs its address as JSON, and never logs the key", async () => {
    const result = await run({ PORT: "0", OPENAI_API_KEY: "sk-secret-start" }, /"listening"/)
    const line = JSON.parse(result.stdout.split("\n")[0]!)
    expect(line).toMatchObject({ level: "info", msg: "listening", address: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/) })
    expect(result.stdout + result.stderr).not.toContain("sk-secret-start")
  })

  it("refuses to listen beyond loopback without PROXY_API_KEYS, in one line", async () => {
    const result = await run({ PORT: "0", HOST: "0.0.0.0", OPENAI_API_KEY: "sk-secret-start" })
    expect(result.code).toBe(1)
    expect(result.stderr.trim().split("\n")).toHaveLength(1)
    expect(result.stderr).toMatch(/^ccproxy: refusing to start: .*PROXY_API_KEYS.*ALLOW_UNAUTHENTICATED=true/)
    expect(result.stdout).toBe("")
  })
})
