/**
 * The request bodies: what Claude Code really sends.
 *
 * - `firstTurn` (~49 KB): test/fixtures/claude-code/first-turn.request.json as captured from the CLI (12 tools with
 *   JSON schemas, a 3-block system prompt with cache_control, a mid-conversation `system` turn), `stream: true`.
 * - `longSession` (~500 KB): the same first turn continued by 50 tool_use/tool_result pairs, shaped like turn 2 of
 *   the CLI (tool-turn-2.request.json: the system turn's content becomes a plain string, the last block carries the
 *   cache breakpoint). Tool results are real source text (Read with `cat -n` numbering, grep-style Bash output,
 *   Edit snippets) taken from the pinned `effect` package sources, so escaping and sizes look like a real session
 *   and stay the same from run to run.
 */
import * as Fs from "node:fs"
import * as Path from "node:path"

export const LONG_SESSION_BYTES = 500_000
const PAIRS = 50

type Json = Record<string, unknown>

export interface Bodies {
  readonly firstTurn: string
  readonly longSession: string
}

/** Headers Claude Code sends with /v1/messages (test/fixtures/claude-code/NOTES.md). */
export const CLAUDE_CODE_HEADERS: Readonly<Record<string, string>> = {
  "content-type": "application/json",
  accept: "application/json",
  "user-agent": "claude-cli/2.1.330 (external, sdk-cli)",
  "x-api-key": "bench",
  "anthropic-version": "2023-06-01",
  "anthropic-beta":
    "claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27,per-turn-control-2026-07-01,mid-conversation-tool-changes-2026-07-01,thinking-token-count-2026-05-13,advanced-tool-use-2025-11-20,effort-2025-11-24",
  "anthropic-dangerous-direct-browser-access": "true",
  "x-app": "cli",
  "x-claude-code-session-id": "00000000-0000-4000-8000-000000000000",
  "x-stainless-lang": "js",
  "x-stainless-runtime": "node",
  "x-stainless-retry-count": "0",
  "x-stainless-timeout": "600"
}

/** Headers an OpenAI client (and our proxy) sends upstream. */
export const OPENAI_HEADERS: Readonly<Record<string, string>> = {
  "content-type": "application/json",
  accept: "text/event-stream",
  authorization: "Bearer bench"
}

/** Lines of source text to draw tool results from: the pinned effect sources, else this repository's own. */
const corpus = (root: string): Array<{ file: string; lines: Array<string> }> => {
  const effectSrc = Path.join(root, "node_modules/effect/src")
  const dirs = Fs.existsSync(effectSrc) ? [effectSrc] : [Path.join(root, "src"), Path.join(root, "test")]
  const files: Array<string> = []
  const walk = (dir: string) => {
    for (const entry of Fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const full = Path.join(dir, entry.name)
      if (entry.isDirectory()) walk(full)
      else if (entry.name.endsWith(".ts")) files.push(full)
    }
  }
  for (const dir of dirs) walk(dir)
  return files.slice(0, 200).map((file) => ({
    file: `/tmp/project/src/${Path.relative(dirs[0]!, file)}`,
    lines: Fs.readFileSync(file, "utf8").split("\n")
  }))
}

const toolId = (i: number) => `toolu_01Bench${String(i).padStart(4, "0")}Xq7VhN2sLpR4`

/** Takes lines from the corpus, round-robin over files, until `bytes` of text are formatted. */
const makeCursor = (sources: ReturnType<typeof corpus>) => {
  let fileIndex = 0
  return (bytes: number, format: (file: string, lineNo: number, line: string) => string) => {
    const source = sources[fileIndex++ % sources.length]!
    const out: Array<string> = []
    let size = 0
    let n = 0
    while (size < bytes) {
      const line = source.lines[n % source.lines.length]!
      const text = format(source.file, n + 1, line)
      out.push(text)
      size += text.length + 1
      n++
    }
    return { file: source.file, text: out.join("\n"), lines: n }
  }
}

const SAYINGS = [
  "Let me read the module that handles this first.",
  "I'll check where this is used before changing it.",
  "Now let me run the tests to see what fails.",
  "Looking at the implementation of this part next.",
  "Let me make the change and keep the behaviour the same.",
  "I'll search for the other call sites."
]

/** One assistant tool_use plus the user's tool_result, with about `bytes` of result text. */
const pair = (i: number, bytes: number, take: ReturnType<typeof makeCursor>): [Json, Json] => {
  const kind = i % 10 < 5 ? "Read" : i % 10 < 8 ? "Bash" : "Edit"
  let input: Json
  let result: string
  if (kind === "Read") {
    const read = take(bytes, (_file, n, line) => `${String(n).padStart(6)}\t${line}`)
    input = { file_path: read.file }
    result = read.text
  } else if (kind === "Bash") {
    const grep = take(bytes, (file, n, line) => `${file.replace("/tmp/project/", "")}:${n}:${line}`)
    input = { command: `grep -rn "Effect" src | head -${grep.lines}`, description: "Find the uses of Effect in src" }
    result = grep.text
  } else {
    const snippet = take(bytes, (_file, n, line) => `${String(n).padStart(6)}\t${line}`)
    input = { file_path: snippet.file, old_string: "const value = yield* effect", new_string: "const value = yield* Effect.orDie(effect)" }
    result = `The file ${snippet.file} has been updated. Here's the result of running \`cat -n\` on a snippet of the edited file:\n${snippet.text}`
  }
  const assistant: Json = {
    role: "assistant",
    content: [
      { type: "text", text: SAYINGS[i % SAYINGS.length] },
      { type: "tool_use", id: toolId(i), name: kind, input }
    ]
  }
  const user: Json = {
    role: "user",
    content: [{ tool_use_id: toolId(i), type: "tool_result", content: result, is_error: false }]
  }
  return [assistant, user]
}

const buildLong = (first: Json, sources: ReturnType<typeof corpus>, perPairBytes: ReadonlyArray<number>): string => {
  const body = structuredClone(first)
  const messages = body.messages as Array<Json>
  // From turn 2 on, the CLI sends the system turn's content as a plain string without a cache breakpoint.
  const systemTurn = messages[1]!
  const blocks = systemTurn.content as Array<{ text: string }>
  systemTurn.content = blocks.map((block) => block.text).join("\n")
  const take = makeCursor(sources)
  for (let i = 0; i < PAIRS; i++) messages.push(...pair(i, perPairBytes[i]!, take))
  const last = (messages.at(-1)!.content as Array<Json>).at(-1)!
  last.cache_control = { type: "ephemeral" }
  return JSON.stringify(body)
}

export const loadBodies = (root: string): Bodies => {
  const first = JSON.parse(
    Fs.readFileSync(Path.join(root, "test/fixtures/claude-code/first-turn.request.json"), "utf8")
  ) as Json
  first.stream = true
  const firstTurn = JSON.stringify(first)
  const sources = corpus(root)
  // Result sizes vary like a real session (small greps, big file reads); scale them until the body is ~500 KB.
  const weights = Array.from({ length: PAIRS }, (_, i) => [0.5, 1.6, 0.8, 1.2, 0.4, 2.0, 0.9, 0.6][i % 8]!)
  const weightSum = weights.reduce((a, b) => a + b, 0)
  let budget = LONG_SESSION_BYTES - firstTurn.length
  let longSession = ""
  for (let pass = 0; pass < 4; pass++) {
    longSession = buildLong(first, sources, weights.map((w) => Math.round((budget * w) / weightSum)))
    budget = Math.round(budget * ((LONG_SESSION_BYTES - firstTurn.length) / (longSession.length - firstTurn.length)))
  }
  return { firstTurn, longSession }
}
