/** The help texts, generated from the command descriptions so they never drift from what the parser accepts. */
import type { Command, Flag } from "./command.ts"

const pad = (rows: ReadonlyArray<readonly [string, string]>): Array<string> => {
  const width = Math.max(...rows.map(([left]) => left.length))
  return rows.map(([left, right]) => `  ${left.padEnd(width)}  ${right}`)
}

const flagLabel = (flag: Flag): string =>
  `${flag.short === undefined ? "    " : `-${flag.short}, `}--${flag.name}${flag.value === undefined ? "" : ` ${flag.value}`}`

const line = (command: Command): string => `ccproxy ${command.name}${command.synopsis === "" ? "" : ` ${command.synopsis}`}`

/** `ccproxy --help`: every command, the default first. */
export const usageText = (commands: ReadonlyArray<Command>): string =>
  [
    "Usage: ccproxy [command] [arguments]",
    "",
    "The Anthropic Messages API in front of an OpenAI-compatible Chat Completions upstream. Settings come from",
    "the environment and an optional .env file in the working directory (see the README).",
    "",
    "Commands:",
    ...pad([
      ...commands.map((command, i) => [
        `${command.name}${command.synopsis === "" ? "" : ` ${command.synopsis}`}`,
        i === 0 ? `${command.summary} (the default)` : command.summary
      ] as const),
      ["help [command]", "Show this help, or a command's"]
    ]),
    "",
    "Options:",
    ...pad([["-h, --help", "Show this help"], ["-v, --version", "Print the version"]]),
    ""
  ].join("\n")

/** `ccproxy help <command>` and `ccproxy <command> --help`. */
export const commandHelp = (command: Command): string =>
  [
    `Usage: ${line(command)}`,
    "",
    command.summary + ".",
    ...(command.details === undefined ? [] : ["", ...command.details]),
    ...(command.flags === undefined || command.flags.length === 0
      ? []
      : ["", "Options:", ...pad(command.flags.map((flag) => [flagLabel(flag), flag.description]))]),
    ""
  ].join("\n")
