/**
 * The bench's child processes: spawned with an IPC channel (so each one exits when the bench goes away, even if
 * the bench is killed), tracked by PID, and stopped by PID only (SIGTERM, then SIGKILL) on the way out, on Ctrl-C
 * and on errors. Nothing here ever signals a process the bench did not start.
 */
import { spawn, type ChildProcess } from "node:child_process"
import type { FromChild, ToChild } from "./ipc.ts"

export interface Child {
  readonly name: string
  readonly pid: number
  readonly process: ChildProcess
  /** Sends a request over IPC and waits for the answer with the same id. */
  readonly call: <T extends FromChild["type"]>(message: DistributiveOmit<ToChild, "id">, answer: T) => Promise<Extract<FromChild, { type: T }>>
  /** Last lines of stderr, for error reports. */
  readonly stderrTail: () => string
  readonly stop: () => Promise<void>
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never

const live = new Map<number, ChildProcess>()

export interface SpawnOptions {
  readonly args: ReadonlyArray<string>
  readonly env: Record<string, string>
  readonly cwd: string
  /** Called with each stdout chunk (the proxy logs there); stdout is always drained so the child never blocks. */
  readonly onStdout?: (chunk: string) => void
}

let nextId = 1

export const spawnChild = (name: string, options: SpawnOptions): Child => {
  const proc = spawn(process.execPath, [...options.args], {
    cwd: options.cwd,
    env: options.env,
    stdio: ["ignore", "pipe", "pipe", "ipc"]
  })
  if (proc.pid === undefined) throw new Error(`${name}: could not start`)
  const pid = proc.pid
  live.set(pid, proc)
  let stderr = ""
  proc.stderr!.setEncoding("utf8")
  proc.stderr!.on("data", (chunk: string) => {
    stderr = (stderr + chunk).slice(-8_000)
  })
  proc.stdout!.setEncoding("utf8")
  proc.stdout!.on("data", (chunk: string) => options.onStdout?.(chunk))
  let stopping = false
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()))
  proc.once("exit", () => live.delete(pid))

  const pending = new Map<number, (message: FromChild) => void>()
  proc.on("message", (raw) => {
    const message = raw as FromChild
    if ("id" in message) {
      const resolve = pending.get(message.id)
      pending.delete(message.id)
      resolve?.(message)
    }
  })
  proc.on("exit", (code, signal) => {
    for (const resolve of pending.values()) resolve({ type: "ok", id: -1 })
    pending.clear()
    if (!stopping) process.stderr.write(`bench: ${name} (pid ${pid}) exited early: code ${code} signal ${signal}\n${stderr}\n`)
  })

  const call: Child["call"] = (message, answer) =>
    new Promise((resolve, reject) => {
      const id = nextId++
      const timer = setTimeout(() => {
        pending.delete(id)
        reject(new Error(`${name}: no answer to ${message.type} within 60 s`))
      }, 60_000)
      pending.set(id, (reply) => {
        clearTimeout(timer)
        if (reply.type !== answer) reject(new Error(`${name}: expected ${answer}, got ${reply.type} (exited?)`))
        else resolve(reply as Extract<FromChild, { type: typeof answer }>)
      })
      proc.send({ ...message, id })
    })

  const stop = async () => {
    if (!live.has(pid)) return
    stopping = true
    proc.kill("SIGTERM")
    const timer = setTimeout(() => {
      if (live.has(pid)) proc.kill("SIGKILL")
    }, 3_000)
    await exited
    clearTimeout(timer)
  }

  const child: Child = { name, pid, process: proc, call, stderrTail: () => stderr, stop }
  registry.add(child)
  proc.once("exit", () => registry.delete(child))
  return child
}

const registry = new Set<Child>()

/** Stops every child still running (SIGTERM, SIGKILL after 3 s), each by its PID. */
export const stopAll = async (): Promise<void> => {
  await Promise.all([...registry].map((child) => child.stop()))
}

/** Waits for the child's `ready` message (its listening port). */
export const waitReady = (child: Child, timeoutMs = 30_000): Promise<number> =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${child.name} not ready after ${timeoutMs} ms\n${child.stderrTail()}`)), timeoutMs)
    const onMessage = (raw: unknown) => {
      const message = raw as FromChild
      if (message.type === "ready") {
        clearTimeout(timer)
        child.process.off("message", onMessage)
        resolve(message.port)
      }
    }
    child.process.on("message", onMessage)
    child.process.once("exit", () => {
      clearTimeout(timer)
      reject(new Error(`${child.name} exited before it was ready\n${child.stderrTail()}`))
    })
  })

/** Synchronous last resort (process 'exit'): SIGKILL whatever is still running, by PID. */
export const killAllNow = () => {
  for (const proc of live.values()) {
    try {
      proc.kill("SIGKILL")
    } catch {
      // already gone
    }
  }
}

export const liveChildren = () => live.size
