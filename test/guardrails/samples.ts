/** Bodies for the guardrail tests: what Claude Code really sends, and pathological nesting. */
import * as Fs from "node:fs"
import * as Path from "node:path"
import { loadBodies } from "../../bench/bodies.ts"

const root = Path.resolve(import.meta.dirname, "../..")
const fixtures = Path.join(root, "test/fixtures/claude-code")

/** [name, JSON text] of every captured Claude Code request and both bench bodies. */
export const claudeCodeBodies = (): Array<readonly [string, string]> => {
  const bench = loadBodies(root)
  return [
    ["bench firstTurn", bench.firstTurn],
    ["bench longSession", bench.longSession],
    ...Fs.readdirSync(fixtures)
      .filter((name) => name.endsWith(".json"))
      .map((name) => [name, Fs.readFileSync(Path.join(fixtures, name), "utf8")] as const)
  ]
}

/** `levels` objects nested inside each other, `{"a":{"a":…{}}}`, built without recursion. */
export const nested = (levels: number): Record<string, unknown> => {
  let value: Record<string, unknown> = {}
  for (let i = 1; i < levels; i++) value = { a: value }
  return value
}
