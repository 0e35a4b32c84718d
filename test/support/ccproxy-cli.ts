/**
 * Test support: run the `ccproxy` command as a user does (`bin/ccproxy.js` under the project's Node), capture its
 * output, and stop it by PID if it outlives its deadline.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Path from "node:path"

export const BIN = Path.resolve(import.meta.dirname, "../../bin/ccproxy.js")

export interface CliResult {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

export interface RunningCli {
  readonly child: ChildProcess
  /** Output so far. */
  readonly output: () => { stdout: string; stderr: string }
  readonly done: Promise<CliResult>
}

export interface CliOptions {
  /** Exactly the environment the command gets: nothing is inherited from the test process. */
  readonly env: Record<string, string>
  readonly cwd?: string
  /** SIGKILL by PID after this long. Default 60 s. */
  readonly timeoutMs?: number
  /** The launcher to run; default the repo's `bin/ccproxy.js`. */
  readonly bin?: string
}

/** Starts `node <bin> …args`. */
export const startCli = (args: ReadonlyArray<string>, options: CliOptions): RunningCli => {
  const { env, cwd, timeoutMs = 60_000, bin = BIN } = options
  // stdin closed: Claude Code waits ~3 s for piped input on an open pipe.
  const child = spawn(process.execPath, [bin, ...args], { env, cwd, stdio: ["ignore", "pipe", "pipe"] })
  let stdout = ""
  let stderr = ""
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs)
  const done = new Promise<CliResult>((resolve) =>
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    }))
  return { child, output: () => ({ stdout, stderr }), done }
}

export const runCli = (args: ReadonlyArray<string>, options: CliOptions): Promise<CliResult> => startCli(args, options).done

/** The minimal environment of a user's shell: PATH (with the project's Node first) and HOME. */
export const baseEnv = (): { PATH: string; HOME: string } => ({
  PATH: `${Path.dirname(process.execPath)}${Path.delimiter}${process.env["PATH"] ?? ""}`,
  HOME: process.env["HOME"] ?? "/tmp"
})

/** A port nothing listens on right now (the OS picks it; it is released before we return). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = Net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as Net.AddressInfo
      server.close(() => resolve(port))
    })
  })

/** Whether something accepts TCP connections on 127.0.0.1:port. */
export const listening = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = Net.connect(port, "127.0.0.1")
    socket.once("connect", () => {
      socket.destroy()
      resolve(true)
    })
    socket.once("error", () => resolve(false))
  })

/**
 * PIDs of the proxies `ccproxy code` started in the background for PORT=port, found by their environment in /proc
 * (Linux): what "the proxy is gone" is checked against, beyond its port being closed.
 */
export const backgroundProxies = (port: number): Array<number> => {
  const pids: Array<number> = []
  for (const entry of Fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    let environ: Array<string>
    try {
      environ = Fs.readFileSync(`/proc/${entry}/environ`, "utf8").split("\0")
    } catch {
      continue // gone meanwhile, or not ours to read
    }
    if (environ.includes("CCPROXY_BACKGROUND=1") && environ.includes(`PORT=${port}`)) pids.push(Number(entry))
  }
  return pids
}
