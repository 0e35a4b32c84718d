/** Where the commands look: claude on PATH or at CLAUDE_PATH, and the proxy at the configured HOST:PORT. */
import { describe, expect, it } from "@effect/vitest"
import * as Redacted from "effect/Redacted"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { findClaude } from "../../src/cli/claude.ts"
import { proxyTarget } from "../../src/cli/proxy-client.ts"
import { parseConfig } from "../../src/config.ts"

describe("finding claude", () => {
  it("takes the first executable claude on PATH, and CLAUDE_PATH over PATH", () => {
    const root = Fs.mkdtempSync(Path.join(Os.tmpdir(), "ccproxy-find-"))
    try {
      const [notExecutable, executable, other] = ["a", "b", "c"].map((name) => Path.join(root, name))
      for (const dir of [notExecutable!, executable!, other!]) Fs.mkdirSync(dir)
      Fs.writeFileSync(Path.join(notExecutable!, "claude"), "", { mode: 0o644 })
      Fs.writeFileSync(Path.join(executable!, "claude"), "#!/bin/sh\n", { mode: 0o755 })
      Fs.writeFileSync(Path.join(other!, "my-claude"), "#!/bin/sh\n", { mode: 0o755 })
      const PATH = [Path.join(root, "missing"), notExecutable, executable].join(Path.delimiter)
      expect(findClaude({ PATH })).toBe(Path.join(executable!, "claude"))
      expect(findClaude({ PATH: notExecutable! })).toBeUndefined()
      expect(findClaude({ PATH, CLAUDE_PATH: Path.join(other!, "my-claude") })).toBe(Path.join(other!, "my-claude"))
      // A CLAUDE_PATH that is wrong is reported, not silently replaced by the one on PATH.
      expect(findClaude({ PATH, CLAUDE_PATH: Path.join(other!, "nope") })).toBeUndefined()
    } finally {
      Fs.rmSync(root, { recursive: true, force: true })
    }
  })
})

describe("the proxy's address", () => {
  const target = (env: Record<string, string>) => proxyTarget(parseConfig(env))

  it("reaches a wildcard listen address over loopback, and brackets IPv6", () => {
    expect(target({}).url).toBe("http://127.0.0.1:11434")
    expect(target({ HOST: "0.0.0.0", PORT: "8082", ALLOW_UNAUTHENTICATED: "true" }).url).toBe("http://127.0.0.1:8082")
    expect(target({ HOST: "::", PORT: "8082" }).url).toBe("http://[::1]:8082")
    expect(target({ HOST: "::1", PORT: "8082" }).url).toBe("http://[::1]:8082")
    expect(target({ HOST: "localhost" }).url).toBe("http://localhost:11434")
  })

  it("carries the first proxy key, when there are keys", () => {
    expect(target({}).key).toBeUndefined()
    const key = target({ PROXY_API_KEYS: "first,second" }).key
    expect(key && Redacted.value(key)).toBe("first")
    expect(String(key)).not.toContain("first") // a Redacted: printing it shows no key
  })
})
