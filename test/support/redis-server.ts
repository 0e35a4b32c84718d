/**
 * Test support: a real `redis-server` (Debian's package) on a free loopback port, in a temp dir of its own, with no
 * persistence; stopped by its PID, never by name. `restart` brings it back on the same port (empty: nothing is
 * saved), as after a crash.
 *
 * Without redis-server the tests that need it are skipped, saying so; with CI=true they fail instead (`REDIS`).
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { freePort, listening } from "./ccproxy-cli.ts"

const CANDIDATES = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"]

/** REDIS_SERVER_PATH if set (even to a missing file: that is how to test the "not installed" path), else the first found. */
export const findRedisServer = (): string | undefined => {
  const configured = process.env.REDIS_SERVER_PATH
  if (configured !== undefined && configured !== "") return Fs.existsSync(configured) ? configured : undefined
  const found = CANDIDATES.find((path) => Fs.existsSync(path))
  if (found !== undefined) return found
  const which = spawnSync("sh", ["-c", "command -v redis-server"], { encoding: "utf8" })
  const path = which.stdout.trim()
  return which.status === 0 && path !== "" ? path : undefined
}

export const INSTALL_HINT = "apt-get install -y redis-server, or scripts/install-test-deps.sh"

/** Whether the Redis tests run, and the title that says so (as the dashboard's browser tests do). */
export const REDIS = (() => {
  const path = findRedisServer()
  const required = process.env.CI === "true" || process.env.CI === "1"
  const missing = `redis-server not installed (${INSTALL_HINT})`
  return {
    path,
    required,
    missing,
    /** Run the block: redis-server is there, or CI requires it (then the block fails, saying why). */
    run: path !== undefined || required,
    title: (title: string) =>
      path !== undefined ? title : required ? `FAILED: ${missing}; CI=true requires the Redis tests` : `SKIPPED: ${missing}`,
    /** Says, once the tests are collected, which of them will not run and why. */
    report: (file: string, names: ReadonlyArray<string>) => {
      if (path !== undefined) return
      process.stderr.write(`\n[${file}] ${required ? "FAILED" : "SKIPPED"}: ${missing}. ${required ? "Failing" : "Not run"}:\n` +
        names.map((name) => `  - ${name}\n`).join("") + "\n")
    }
  }
})()

export interface RedisServer {
  readonly port: number
  readonly url: string
  /** The current process's PID. */
  readonly pid: () => number
  /** SIGKILL by PID, as a crash; resolves once the port is closed. */
  readonly kill: () => Promise<void>
  /** A fresh redis-server on the same port. */
  readonly restart: () => Promise<void>
  /** Kills it and removes its temp dir. */
  readonly stop: () => Promise<void>
}

const until = async (check: () => Promise<boolean>, ms: number, what: string) => {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Starts redis-server on `port` (default: a free one), in a temp dir removed by `stop`. */
export const startRedisServer = async (options: { readonly port?: number } = {}): Promise<RedisServer> => {
  const binary = findRedisServer()
  if (binary === undefined) throw new Error(REDIS.missing)
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "ccproxy-redis-"))
  const port = options.port ?? await freePort()
  let child: ChildProcess | undefined
  let log = ""

  const launch = async () => {
    log = ""
    const spawned = spawn(binary, [
      "--port", String(port),
      "--bind", "127.0.0.1",
      "--dir", dir,
      "--save", "",
      "--appendonly", "no",
      "--daemonize", "no",
      "--loglevel", "warning"
    ], { stdio: ["ignore", "pipe", "pipe"] })
    spawned.stdout!.setEncoding("utf8").on("data", (chunk: string) => (log += chunk))
    spawned.stderr!.setEncoding("utf8").on("data", (chunk: string) => (log += chunk))
    child = spawned
    try {
      await until(() => listening(port), 10_000, `redis-server on port ${port}`)
    } catch (error) {
      throw new Error(`${(error as Error).message}; its output: ${log}`)
    }
  }

  const kill = async () => {
    const running = child
    child = undefined
    if (running === undefined || running.exitCode !== null) return
    const exited = new Promise((resolve) => running.once("exit", resolve))
    process.kill(running.pid!, "SIGKILL")
    await exited
    await until(async () => !(await listening(port)), 5_000, `port ${port} to close`)
  }

  await launch()
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    pid: () => child?.pid ?? -1,
    kill,
    restart: launch,
    stop: async () => {
      await kill()
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  }
}
