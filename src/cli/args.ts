/**
 * `ccproxy [--help | --version] [command] [arguments]` → what to do. Pure: no I/O, so every usage rule is a unit
 * test. Global flags come before the command; a command's flags after it.
 */
import type { Command, Invocation } from "./command.ts"

export type Parsed =
  | { readonly _tag: "Run"; readonly command: Command; readonly invocation: Invocation }
  | { readonly _tag: "Help"; readonly command?: Command | undefined }
  | { readonly _tag: "Version" }
  /** A usage error: one line naming the problem; the command, when known, for its own usage. */
  | { readonly _tag: "Usage"; readonly problem: string; readonly command?: Command | undefined }

const usage = (problem: string, command?: Command): Parsed => ({ _tag: "Usage", problem, command })

/** `commands[0]` is the default, run when no command is named. */
export const parseArgs = (argv: ReadonlyArray<string>, commands: ReadonlyArray<Command>): Parsed => {
  const find = (name: string) => commands.find((command) => command.name === name)
  const [first, ...rest] = argv
  if (first === undefined) return parseCommand(commands[0]!, [])
  if (first === "--help" || first === "-h") {
    return rest.length === 0 ? { _tag: "Help" } : usage(`unexpected argument "${rest[0]}" after ${first}`)
  }
  if (first === "--version" || first === "-v") {
    return rest.length === 0 ? { _tag: "Version" } : usage(`unexpected argument "${rest[0]}" after ${first}`)
  }
  if (first === "help") {
    if (rest.length === 0) return { _tag: "Help" }
    const command = find(rest[0]!)
    if (command === undefined) return usage(`unknown command "${rest[0]}"`)
    return rest.length === 1 ? { _tag: "Help", command } : usage(`unexpected argument "${rest[1]}"`)
  }
  if (first.startsWith("-")) return usage(`unknown option "${first}"`)
  const command = find(first)
  if (command === undefined) return usage(`unknown command "${first}"`)
  return parseCommand(command, rest)
}

const parseCommand = (command: Command, args: ReadonlyArray<string>): Parsed => {
  if (command.passThrough) return { _tag: "Run", command, invocation: { flags: {}, operands: args } }
  const flags: Record<string, string | true> = {}
  const operands: Array<string> = []
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (arg === "--") {
      operands.push(...args.slice(i + 1))
      break
    }
    if (arg === "--help" || arg === "-h") return { _tag: "Help", command }
    if (!arg.startsWith("-") || arg === "-") {
      operands.push(arg)
      continue
    }
    const long = arg.startsWith("--")
    const eq = arg.indexOf("=")
    const key = long ? arg.slice(2, eq < 0 ? undefined : eq) : arg.slice(1)
    const flag = command.flags?.find((f) => (long ? f.name === key : f.short === key))
    if (flag === undefined) return usage(`unknown option "${long ? `--${key}` : arg}" for ${command.name}`, command)
    if (flag.value === undefined) {
      if (long && eq >= 0) return usage(`--${flag.name} takes no value`, command)
      flags[flag.name] = true
    } else if (long && eq >= 0) {
      flags[flag.name] = arg.slice(eq + 1)
    } else {
      const value = args[i + 1]
      if (value === undefined) return usage(`--${flag.name} needs a value (${flag.value})`, command)
      flags[flag.name] = value
      i++
    }
  }
  const max = command.maxOperands ?? 0
  if (operands.length > max) return usage(`unexpected argument "${operands[max]}" for ${command.name}`, command)
  return { _tag: "Run", command, invocation: { flags, operands } }
}
