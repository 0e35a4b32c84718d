/**
 * What a `ccproxy` subcommand is: its name, its help, the flags it takes, and how to load the code that runs it.
 * The dispatcher (`run.ts`) parses the arguments against this description, so a command never sees a flag it did not
 * declare, and `ccproxy help <command>` is generated from the same description. The code is imported only when the
 * command runs: `ccproxy --help` or `status` need not load the whole proxy.
 */
import type * as Effect from "effect/Effect"

export interface Flag {
  /** Long name without dashes: `json` is `--json`. */
  readonly name: string
  /** One letter: `j` is `-j`. */
  readonly short?: string
  /** Set when the flag takes a value (`--file <path>`, `--file=<path>`): the placeholder shown in help. */
  readonly value?: string
  readonly description: string
}

export interface Invocation {
  /** The flags given: `true` for a switch, the text for a flag that takes a value. */
  readonly flags: Readonly<Record<string, string | true>>
  /** The remaining arguments; for a pass-through command, every argument after its name, untouched. */
  readonly operands: ReadonlyArray<string>
}

/** What a command finishes with: the process exit code (0 success, 1 failure, 2 usage; `code` passes claude's on). */
export type ExitCode = number

export interface Command {
  readonly name: string
  /** Arguments as shown in help after `ccproxy <name>`, e.g. `[--json]` or `[claude arguments…]`. */
  readonly synopsis: string
  /** One line for the command list. */
  readonly summary: string
  /** More lines for `ccproxy help <name>`. */
  readonly details?: ReadonlyArray<string>
  readonly flags?: ReadonlyArray<Flag>
  /** Most operands the command takes (default 0); extra ones are a usage error. */
  readonly maxOperands?: number
  /** Every argument after the name goes to the command unparsed (`code` hands them to claude, `--help` included). */
  readonly passThrough?: boolean
  /**
   * The command handles SIGINT/SIGTERM itself (`code` forwards them to claude and waits for it). Otherwise it runs
   * under `NodeRuntime.runMain`, where a signal interrupts it, which runs its finalizers: the proxy's graceful stop.
   */
  readonly ownsSignals?: boolean
  /** The command's module, imported when it runs (`() => import("./x.ts").then((m) => m.main)`). */
  readonly load: () => Promise<CommandMain>
}

/** Runs the command; reports its own problems on stderr and never fails. */
export type CommandMain = (invocation: Invocation) => Effect.Effect<ExitCode>
