/** Runs the command line: help, version and usage errors here, everything else by the command named. */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Effect from "effect/Effect"
import { parseArgs } from "./args.ts"
import type { Command, Invocation } from "./command.ts"
import { COMMANDS } from "./commands.ts"
import { commandHelp, usageText } from "./help.ts"
import { packageVersion } from "./version.ts"

/** Exit code of a usage error, as most Unix tools have it. */
const USAGE = 2

const runCommand = (command: Command, invocation: Invocation): void => {
  const main = Effect.promise(command.load).pipe(
    Effect.flatMap((run) => run(invocation)),
    Effect.map((code) => {
      process.exitCode = code
    })
  )
  if (!command.ownsSignals) return NodeRuntime.runMain(main)
  // No signal handlers of Effect's here: the command installs its own.
  Effect.runPromise(main).catch((defect: unknown) => {
    process.stderr.write(`ccproxy: ${defect instanceof Error ? defect.stack ?? defect.message : String(defect)}\n`)
    process.exitCode = 1
  })
}

export const runCli = (argv: ReadonlyArray<string>): void => {
  const parsed = parseArgs(argv, COMMANDS)
  switch (parsed._tag) {
    case "Help":
      process.stdout.write(parsed.command === undefined ? usageText(COMMANDS) : commandHelp(parsed.command))
      return
    case "Version":
      process.stdout.write(`${packageVersion()}\n`)
      return
    case "Usage":
      process.stderr.write(`ccproxy: ${parsed.problem}\n\n${parsed.command === undefined ? usageText(COMMANDS) : commandHelp(parsed.command)}`)
      process.exitCode = USAGE
      return
    case "Run":
      return runCommand(parsed.command, parsed.invocation)
  }
}
