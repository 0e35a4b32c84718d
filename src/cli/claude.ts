/**
 * Finding and running the Claude Code CLI for `ccproxy code`: its terminal is the user's (stdio inherited), the
 * signals sent to us go on to it, and its exit code becomes ours.
 */
import * as Effect from "effect/Effect"
import { spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"

/** `CLAUDE_PATH` names the executable; otherwise `claude` is looked up on PATH. */
export const findClaude = (env: NodeJS.ProcessEnv): string | undefined => {
  const explicit = env["CLAUDE_PATH"]?.trim()
  if (explicit) return isExecutable(explicit) ? Path.resolve(explicit) : undefined
  for (const dir of (env["PATH"] ?? "").split(Path.delimiter)) {
    if (dir === "") continue
    const candidate = Path.join(dir, process.platform === "win32" ? "claude.exe" : "claude")
    if (isExecutable(candidate)) return candidate
  }
  return undefined
}

const isExecutable = (file: string): boolean => {
  try {
    if (!Fs.statSync(file).isFile()) return false
    Fs.accessSync(file, Fs.constants.X_OK)
    return true
  } catch {
    return false
  }
}

/**
 * Signals we pass on. A Ctrl-C in the terminal already reaches claude itself (it is in our process group), and in
 * its interactive mode the terminal is raw, so Ctrl-C is a keystroke, not a signal; what we forward is what was
 * sent to ccproxy alone (`kill <pid>`, a supervisor, a closed terminal's SIGHUP). Meanwhile we do not die: we wait
 * for claude, so its exit code is ours and the proxy we started is stopped after it.
 */
const FORWARDED: ReadonlyArray<NodeJS.Signals> = ["SIGINT", "SIGTERM", "SIGHUP"]

/** The exit code a shell reports for a process ended by a signal: 128 + its number. */
const signalExit = (signal: NodeJS.Signals): number => 128 + (Os.constants.signals[signal] ?? 0)

/** Runs claude to its end and gives its exit code; fails only when it cannot be started at all. */
export const runClaude = (
  executable: string,
  args: ReadonlyArray<string>,
  env: NodeJS.ProcessEnv
): Effect.Effect<number, string> =>
  Effect.callback<number, string>((resume) => {
    const child = spawn(executable, args, { stdio: "inherit", env })
    const forward = (signal: NodeJS.Signals) => child.kill(signal)
    for (const signal of FORWARDED) process.on(signal, forward)
    const done = () => {
      for (const signal of FORWARDED) process.off(signal, forward)
    }
    child.once("error", (error) => {
      done()
      resume(Effect.fail(`cannot run ${executable}: ${error.message}`))
    })
    child.once("exit", (code, signal) => {
      done()
      resume(Effect.succeed(code ?? (signal === null ? 1 : signalExit(signal))))
    })
  })
