/**
 * Test support: install and drive the real Claude Code CLI offline.
 *
 * - `ensureClaudeCli()` installs `@anthropic-ai/claude-code@CLAUDE_CODE_VERSION`
 *   from the npm registry into a cache folder outside the repo and returns the
 *   path of the native `claude` executable. Idempotent and safe to call from
 *   several test files at once (directory lock + install into a temp dir and
 *   atomic rename).
 * - `runClaude()` runs `claude -p ... --output-format json` against a local base
 *   URL with a throwaway HOME / CLAUDE_CONFIG_DIR and an env that makes the CLI
 *   talk to nothing but that base URL.
 *
 * See test/fixtures/claude-code/NOTES.md for what the CLI sends.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

/** Pinned CLI version. The npm package ships the native binary as a per-platform optional dependency. */
export const CLAUDE_CODE_VERSION = "2.1.330"

const PACKAGE = "@anthropic-ai/claude-code"
/** Lock older than this is considered abandoned (install takes ~7 s). */
const STALE_LOCK_MS = 10 * 60_000
const INSTALL_TIMEOUT_MS = 5 * 60_000
/** The placeholder `bin/claude.exe` shipped before postinstall is a ~500 byte shell script. */
const MIN_BINARY_BYTES = 1_000_000

/** `${CCPROXY_CLAUDE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ccproxy-test}` */
export const claudeCacheRoot = (): string => {
  const explicit = process.env["CCPROXY_CLAUDE_CACHE"]
  if (explicit !== undefined && explicit !== "") return explicit
  const xdg = process.env["XDG_CACHE_HOME"]
  const base = xdg !== undefined && xdg !== "" ? xdg : path.join(os.homedir(), ".cache")
  return path.join(base, "ccproxy-test")
}

export const claudeInstallDir = (): string =>
  path.join(claudeCacheRoot(), `claude-code-${CLAUDE_CODE_VERSION}`)

const packageDir = (installDir: string): string =>
  path.join(installDir, "node_modules", "@anthropic-ai", "claude-code")

const binaryPath = (installDir: string): string => path.join(packageDir(installDir), "bin", "claude.exe")

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

interface ExecResult {
  readonly exitCode: number
  readonly stdout: string
  readonly stderr: string
  readonly timedOut: boolean
}

const exec = (
  command: string,
  args: ReadonlyArray<string>,
  options: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number }
): Promise<ExecResult> =>
  new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env,
      stdio: ["ignore", "pipe", "pipe"],
      // Own process group, so a timeout kills the whole tree by this child's PID.
      detached: process.platform !== "win32"
    })
    let stdout = ""
    let stderr = ""
    let timedOut = false
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk
    })
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk
    })
    const kill = (signal: NodeJS.Signals): void => {
      const pid = child.pid
      if (pid === undefined) return
      try {
        if (process.platform !== "win32") process.kill(-pid, signal)
        else child.kill(signal)
      } catch {
        // already gone
      }
    }
    let hardKill: NodeJS.Timeout | undefined
    const timer = setTimeout(() => {
      timedOut = true
      kill("SIGTERM")
      hardKill = setTimeout(() => kill("SIGKILL"), 3_000)
    }, options.timeoutMs)
    child.on("error", (error) => {
      clearTimeout(timer)
      if (hardKill !== undefined) clearTimeout(hardKill)
      reject(error)
    })
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      if (hardKill !== undefined) clearTimeout(hardKill)
      resolve({ exitCode: code ?? (signal !== null ? 128 + (os.constants.signals[signal] ?? 0) : -1), stdout, stderr, timedOut })
    })
  })

/** True when `dir` holds a finished install whose binary reports the pinned version. */
const isInstalled = async (dir: string): Promise<boolean> => {
  const bin = binaryPath(dir)
  try {
    if (fs.statSync(bin).size < MIN_BINARY_BYTES) return false
  } catch {
    return false
  }
  const result = await exec(bin, ["--version"], { cwd: dir, env: { PATH: process.env["PATH"] ?? "" }, timeoutMs: 30_000 })
  return result.exitCode === 0 && result.stdout.includes(CLAUDE_CODE_VERSION)
}

/**
 * Env for the nested `npm install`. When tests run under `npm test`, npm exports
 * npm_config_local_prefix=<repo> and friends; inheriting those could make the
 * nested install target the repo. Keep only registry/network related npm config.
 */
export const npmEnv = (): NodeJS.ProcessEnv => {
  const keep = /^npm_config_(registry|cache|cafile|ca|strict_ssl|userconfig|proxy|https_proxy|noproxy|fetch_.*|@.*:registry)$/i
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (/^npm_/i.test(key) && !keep.test(key)) continue
    env[key] = value
  }
  return env
}

const installInto = async (dir: string): Promise<void> => {
  fs.mkdirSync(dir, { recursive: true })
  fs.writeFileSync(
    path.join(dir, "package.json"),
    JSON.stringify({ name: "ccproxy-claude-code-cache", private: true, dependencies: { [PACKAGE]: CLAUDE_CODE_VERSION } }, null, 2) + "\n"
  )
  const npm = process.platform === "win32" ? "npm.cmd" : "npm"
  const result = await exec(
    npm,
    [
      "install",
      "--prefix", dir,
      "--no-audit",
      "--no-fund",
      "--no-update-notifier",
      "--include=optional", // the native binary is an optionalDependency
      "--ignore-scripts=false", // postinstall copies the binary over the placeholder
      "--loglevel=error"
    ],
    { cwd: dir, env: npmEnv(), timeoutMs: INSTALL_TIMEOUT_MS }
  )
  if (result.exitCode !== 0 || result.timedOut) {
    throw new Error(
      `npm install ${PACKAGE}@${CLAUDE_CODE_VERSION} failed (exit ${result.exitCode}${result.timedOut ? ", timed out" : ""}):\n${result.stderr}\n${result.stdout}`
    )
  }
  const bin = binaryPath(dir)
  let size = 0
  try {
    size = fs.statSync(bin).size
  } catch {
    size = 0
  }
  if (size < MIN_BINARY_BYTES) {
    // Postinstall did not run (e.g. ignore-scripts in a user npmrc): run it by hand.
    const post = await exec(process.execPath, ["install.cjs"], { cwd: packageDir(dir), env: npmEnv(), timeoutMs: 60_000 })
    if (post.exitCode !== 0) {
      throw new Error(`node install.cjs failed (exit ${post.exitCode}):\n${post.stderr}\n${post.stdout}`)
    }
  }
  if (!(await isInstalled(dir))) {
    throw new Error(`${PACKAGE}@${CLAUDE_CODE_VERSION} installed into ${dir} but ${bin} --version does not work`)
  }
}

const tryAcquireLock = (lockDir: string): boolean => {
  try {
    fs.mkdirSync(lockDir)
    fs.writeFileSync(path.join(lockDir, "owner"), `${process.pid}\n`)
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error
  }
  // Break a lock left by a dead process or one older than STALE_LOCK_MS.
  try {
    const stat = fs.statSync(lockDir)
    let ownerAlive = true
    try {
      const pid = Number(fs.readFileSync(path.join(lockDir, "owner"), "utf8").trim())
      if (Number.isInteger(pid) && pid > 0) process.kill(pid, 0)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ESRCH") ownerAlive = false
    }
    if (!ownerAlive || Date.now() - stat.mtimeMs > STALE_LOCK_MS) {
      fs.rmSync(lockDir, { recursive: true, force: true })
    }
  } catch {
    // lock vanished meanwhile; retry on the next poll
  }
  return false
}

let pending: Promise<string> | undefined

/**
 * Install the pinned CLI into the cache folder if absent and return the path of
 * the runnable native `claude` executable.
 */
export const ensureClaudeCli = (): Promise<string> => {
  pending ??= ensureUncached().catch((error: unknown) => {
    pending = undefined
    throw error
  })
  return pending
}

const ensureUncached = async (): Promise<string> => {
  const finalDir = claudeInstallDir()
  if (await isInstalled(finalDir)) return binaryPath(finalDir)
  const root = path.dirname(finalDir)
  fs.mkdirSync(root, { recursive: true })
  const lockDir = `${finalDir}.lock`
  const deadline = Date.now() + INSTALL_TIMEOUT_MS + 60_000
  while (!tryAcquireLock(lockDir)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for install lock ${lockDir}`)
    await sleep(500)
    if (await isInstalled(finalDir)) return binaryPath(finalDir)
  }
  try {
    if (await isInstalled(finalDir)) return binaryPath(finalDir)
    const tmpDir = `${finalDir}.tmp-${process.pid}-${Date.now()}`
    try {
      await installInto(tmpDir)
      // A broken leftover final dir (e.g. interrupted by hand) is replaced.
      fs.rmSync(finalDir, { recursive: true, force: true })
      fs.renameSync(tmpDir, finalDir)
    } finally {
      fs.rmSync(tmpDir, { recursive: true, force: true })
    }
    if (!(await isInstalled(finalDir))) throw new Error(`install into ${finalDir} did not produce a working claude`)
    return binaryPath(finalDir)
  } finally {
    fs.rmSync(lockDir, { recursive: true, force: true })
  }
}

export interface RunClaudeOptions {
  /** Proxy base URL, e.g. `http://127.0.0.1:12345` (the CLI appends `/v1/messages?beta=true`). */
  readonly baseUrl: string
  readonly prompt: string
  readonly cwd: string
  /** Passed as `--allowedTools` (e.g. `["Bash"]`); needed for tools to run without prompts. */
  readonly allowedTools?: ReadonlyArray<string>
  /** Kill the CLI (its process group, by PID) after this long. Default 60 s. */
  readonly timeoutMs?: number
  /** `--model` (e.g. `sonnet`, `claude-haiku-4-5`). Default is the CLI's own (claude-opus-5-5 in 2.1.330). */
  readonly model?: string
  /** Extra CLI args appended after the defaults. */
  readonly extraArgs?: ReadonlyArray<string>
  /** Extra env vars, merged over the defaults (e.g. `{ CLAUDE_CODE_MAX_RETRIES: "2" }`). */
  readonly env?: Readonly<Record<string, string>>
}

export interface RunClaudeResult {
  readonly exitCode: number
  readonly stdout: string
  readonly stderr: string
  /** Parsed stdout (`--output-format json` result object), or `undefined` if stdout was not JSON. */
  readonly json: unknown
  readonly timedOut: boolean
}

/** The env that keeps the CLI offline: only `baseUrl` is contacted. */
export const offlineEnv = (opts: { baseUrl: string; home: string }): Record<string, string> => ({
  PATH: process.env["PATH"] ?? "/usr/local/bin:/usr/bin:/bin",
  HOME: opts.home,
  CLAUDE_CONFIG_DIR: path.join(opts.home, ".claude"),
  TMPDIR: os.tmpdir(),
  LANG: "C.UTF-8",
  ANTHROPIC_BASE_URL: opts.baseUrl,
  ANTHROPIC_API_KEY: "sk-ant-test-not-a-real-key",
  // No telemetry / error reporting / auto-update / feature flags, no `HEAD /api/hello` preflight.
  CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
  DISABLE_AUTOUPDATER: "1",
  DISABLE_TELEMETRY: "1",
  DISABLE_ERROR_REPORTING: "1",
  // A 5xx/529 is otherwise retried with backoff for minutes; tests want the error at once.
  CLAUDE_CODE_MAX_RETRIES: "0"
})

/**
 * Run `claude -p <prompt> --output-format json` against `baseUrl` with an
 * isolated, throwaway config dir. The parent env is NOT inherited (so no
 * ANTHROPIC_* / CLAUDE_* / CI vars of the developer leak in); pass `env` to add.
 */
export const runClaude = async (opts: RunClaudeOptions): Promise<RunClaudeResult> => {
  const bin = await ensureClaudeCli()
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "ccproxy-claude-home-"))
  try {
    const args = ["-p", opts.prompt, "--output-format", "json"]
    if (opts.allowedTools !== undefined && opts.allowedTools.length > 0) {
      args.push("--allowedTools", opts.allowedTools.join(","))
    }
    if (opts.model !== undefined) args.push("--model", opts.model)
    if (opts.extraArgs !== undefined) args.push(...opts.extraArgs)
    const env = { ...offlineEnv({ baseUrl: opts.baseUrl, home }), ...opts.env }
    // stdin must be closed ("ignore"): with an open pipe the CLI waits ~3 s for piped input.
    const result = await exec(bin, args, { cwd: opts.cwd, env, timeoutMs: opts.timeoutMs ?? 60_000 })
    let json: unknown = undefined
    try {
      json = JSON.parse(result.stdout)
    } catch {
      json = undefined
    }
    return { exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr, json, timedOut: result.timedOut }
  } finally {
    fs.rmSync(home, { recursive: true, force: true })
  }
}
