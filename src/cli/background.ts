/**
 * The proxy that `ccproxy code` starts for the length of a Claude Code session, both sides of it.
 *
 * - The parent runs `ccproxy start` as a child in its own process group (so a Ctrl-C in the terminal reaches claude,
 *   not the proxy under it), with an IPC channel. It stops the child by its PID, with SIGTERM (the proxy's graceful
 *   stop), when the session ends.
 * - The child, seeing `CCPROXY_BACKGROUND=1` and the channel, reports the port it listens on once it listens (so
 *   PORT=0 works, whatever LOG_LEVEL says), and stops itself when the channel closes: if the parent dies without
 *   stopping it, even by SIGKILL, no proxy is left behind.
 *
 * The child's stdout (its JSON log) is dropped, since it would land in claude's screen; LOG_FILE keeps it.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as HttpServer from "effect/http/HttpServer"
import { type ChildProcess, spawn } from "node:child_process"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

const MARKER = "CCPROXY_BACKGROUND"

interface Listening {
  readonly ccproxy: "listening"
  readonly port: number
}

const isListening = (message: unknown): message is Listening =>
  typeof message === "object" && message !== null && (message as Listening).ccproxy === "listening" &&
  typeof (message as Listening).port === "number"

/**
 * Child side: tells the parent the port, once listening, and stops with it. Does nothing unless started by
 * `startInBackground`. A single process calls it once it listens; a cluster's primary once its first worker does
 * (its workers never: their channel leads to the primary).
 */
export const announceListening = (port: number): void => {
  if (process.env[MARKER] !== "1" || process.send === undefined) return
  process.send({ ccproxy: "listening", port } satisfies Listening)
  // The signal the proxy already stops on, so this is the same graceful stop as a Ctrl-C.
  process.once("disconnect", () => process.kill(process.pid, "SIGTERM"))
}

/** Part of every single-process start: `announceListening` with the server's port. */
export const reportToParent: Layer.Layer<never, never, HttpServer.HttpServer> = Layer.effectDiscard(
  Effect.flatMap(Effect.service(HttpServer.HttpServer), (server) =>
    Effect.sync(() => announceListening(server.address._tag === "UnixPathAddress" ? 0 : server.address.port)))
)

/** Longest wait for the child to listen: loading the price list and the tokenizer takes a second or two. */
const START_TIMEOUT_MS = 30_000
/** Longer than the proxy's own 20 s for streams still in flight, after which it exits by itself. */
const STOP_TIMEOUT_MS = 25_000

/** `src/main.ts` in the repo, `dist/main.js` in an installed package: whichever this module was loaded from. */
const entryPoint = (): string => {
  const here = fileURLToPath(import.meta.url)
  return Path.join(Path.dirname(here), "..", `main${Path.extname(here)}`)
}

/** The last line the child wrote on stderr, which is where the start path puts its one-line refusals. */
const lastLine = (text: string): string | undefined => text.trim().split("\n").pop()?.replace(/^ccproxy: /, "") || undefined

const waitUntilListening = (child: ChildProcess) =>
  Effect.callback<number, string>((resume) => {
    let stderr = ""
    const onData = (chunk: Buffer) => {
      stderr += chunk.toString("utf8")
    }
    const cleanup = () => {
      clearTimeout(timer)
      child.off("message", onMessage)
      child.off("exit", onExit)
      child.off("error", onError)
      child.stderr?.off("data", onData)
      // Keep draining, so a chatty child never blocks on a full pipe.
      child.stderr?.resume()
    }
    const onMessage = (message: unknown) => {
      if (!isListening(message)) return
      cleanup()
      resume(Effect.succeed(message.port))
    }
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      cleanup()
      resume(Effect.fail(lastLine(stderr) ?? `the proxy exited before it listened (${signal ?? `exit code ${code}`})`))
    }
    const onError = (error: Error) => {
      cleanup()
      resume(Effect.fail(`cannot start the proxy: ${error.message}`))
    }
    const timer = setTimeout(() => {
      cleanup()
      resume(Effect.fail(`the proxy did not listen within ${START_TIMEOUT_MS / 1000} s`))
    }, START_TIMEOUT_MS)
    child.stderr?.on("data", onData)
    child.on("message", onMessage)
    child.once("exit", onExit)
    child.once("error", onError)
    return Effect.sync(cleanup)
  })

/** SIGTERM by PID, then SIGKILL if it is still there after `STOP_TIMEOUT_MS`. */
const stop = (child: ChildProcess) =>
  Effect.callback<void>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
    const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS)
    child.once("exit", () => {
      clearTimeout(timer)
      resume(Effect.void)
    })
    child.kill("SIGTERM")
  })

export interface BackgroundProxy {
  readonly pid: number
  readonly port: number
}

/**
 * Starts `ccproxy start` with this process's environment (and so the same configuration) and waits until it
 * listens; the scope's end stops it. Fails with the child's own one-line reason when it cannot start.
 */
export const startInBackground: Effect.Effect<BackgroundProxy, string, Scope.Scope> = Effect.acquireRelease(
  Effect.sync(() =>
    spawn(process.execPath, [entryPoint(), "start"], {
      env: { ...process.env, [MARKER]: "1" },
      stdio: ["ignore", "ignore", "pipe", "ipc"],
      detached: true
    })
  ),
  stop
).pipe(
  Effect.flatMap((child) => Effect.map(waitUntilListening(child), (port) => ({ pid: child.pid ?? 0, port })))
)
