/** The command line's grammar: what runs, what is help, and what is a usage error (exit 2). */
import { describe, expect, it } from "@effect/vitest"
import { parseArgs } from "../../src/cli/args.ts"
import { COMMANDS } from "../../src/cli/commands.ts"
import { commandHelp, usageText } from "../../src/cli/help.ts"
import { baseEnv, runCli } from "../support/ccproxy-cli.ts"

const parse = (...argv: Array<string>) => parseArgs(argv, COMMANDS)
const ran = (...argv: Array<string>) => {
  const parsed = parse(...argv)
  if (parsed._tag !== "Run") throw new Error(`expected a command to run, got ${JSON.stringify(parsed)}`)
  return { name: parsed.command.name, ...parsed.invocation }
}

describe("ccproxy arguments", () => {
  it("runs the proxy without arguments", () => {
    expect(ran()).toEqual({ name: "start", flags: {}, operands: [] })
  })

  it("takes the global flags before any command", () => {
    expect(parse("--help")._tag).toBe("Help")
    expect(parse("-h")._tag).toBe("Help")
    expect(parse("--version")._tag).toBe("Version")
    expect(parse("-v")._tag).toBe("Version")
    expect(parse("--version", "status")).toMatchObject({ _tag: "Usage", problem: 'unexpected argument "status" after --version' })
  })

  it("reads a command's own flags, and nothing it did not declare", () => {
    expect(ran("status", "--json")).toEqual({ name: "status", flags: { json: true }, operands: [] })
    expect(parse("status", "--jsn")).toMatchObject({ _tag: "Usage", problem: 'unknown option "--jsn" for status' })
    expect(parse("status", "--json=yes")).toMatchObject({ _tag: "Usage", problem: "--json takes no value" })
    expect(parse("status", "extra")).toMatchObject({ _tag: "Usage", problem: 'unexpected argument "extra" for status' })
    expect(parse("start", "-x")).toMatchObject({ _tag: "Usage", problem: 'unknown option "-x" for start' })
  })

  it("names an unknown command or option in one line", () => {
    expect(parse("stats")).toMatchObject({ _tag: "Usage", problem: 'unknown command "stats"' })
    expect(parse("--port", "8080")).toMatchObject({ _tag: "Usage", problem: 'unknown option "--port"' })
    expect(parse("help", "nope")).toMatchObject({ _tag: "Usage", problem: 'unknown command "nope"' })
  })

  it("gives help for one command", () => {
    expect(parse("help", "status")).toMatchObject({ _tag: "Help", command: { name: "status" } })
    expect(parse("status", "--help")).toMatchObject({ _tag: "Help", command: { name: "status" } })
  })

  it("hands everything after `code` to claude, its --help and -p included", () => {
    expect(ran("code", "-p", "hi there", "--model", "sonnet", "--help", "--"))
      .toEqual({ name: "code", flags: {}, operands: ["-p", "hi there", "--model", "sonnet", "--help", "--"] })
  })

  it("lists every command and its flags in help", () => {
    const text = usageText(COMMANDS)
    for (const command of COMMANDS) expect(text).toContain(`\n  ${command.name}`)
    expect(text).toContain("(the default)")
    expect(commandHelp(COMMANDS.find((c) => c.name === "status")!)).toMatch(/--json +Print the raw JSON/)
  })
})

describe("ccproxy as a process", () => {
  it("prints the package's version", async () => {
    const result = await runCli(["--version"], { env: baseEnv() })
    expect(result).toMatchObject({ code: 0, stderr: "" })
    expect(result.stdout).toMatch(/^\d+\.\d+\.\d+\S*\n$/)
  })

  it("prints help on stdout with exit 0", async () => {
    const result = await runCli(["--help"], { env: baseEnv() })
    expect(result.code).toBe(0)
    expect(result.stdout).toBe(usageText(COMMANDS))
  })

  it("answers an unknown command with one line and the usage on stderr, exit 2", async () => {
    const result = await runCli(["frobnicate"], { env: baseEnv() })
    expect(result.code).toBe(2)
    expect(result.stdout).toBe("")
    expect(result.stderr).toBe(`ccproxy: unknown command "frobnicate"\n\n${usageText(COMMANDS)}`)
  })
})
