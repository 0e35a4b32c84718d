/**
 * Generated and mutated request bodies for the HTTP fuzz suite (bodies.test.ts), as fast-check arbitraries.
 *
 * Sources: the Claude Code fixtures, a few minimal bodies (plain, streaming, with a tool round trip, a
 * count_tokens body), valid requests from `arbitraries.ts`, and raw junk. Mutations:
 *
 * - structural, on the parsed value at a random path: wrong types, deleted keys, arrays where objects belong,
 *   unknown or malformed block types, NaN-ish numbers (valid JSON like 1e999 and invalid like NaN), `__proto__`
 *   and `constructor` keys, nesting 10,000 levels deep in tool input, input_schema, content, system or anywhere,
 *   strings of 16-64 KB (lone surrogates, multi-byte, escapes, words);
 * - on the bytes: truncation at a random offset, invalid UTF-8, flipped bytes, duplicate keys, trailing garbage,
 *   a BOM, an empty or whitespace-only body;
 * - on the request: odd or missing content-type, a lying content-encoding, a chunked upload, query strings,
 *   count_tokens instead of messages;
 * - and a fixed set of large bodies (`largeCases`): 4 MB and 11 M-character strings, 33 MB, 100,000 messages,
 *   1,000,000 levels of nesting.
 *
 * Deep and huge values are never built as JS values here (JSON.stringify overflows near 5,000 levels): the
 * mutated value holds a placeholder string, written out as the raw JSON text by `serialise`. Sources are never
 * changed: a mutation copies only the containers on its path, and unchanged subtrees serialise from a cache.
 */
import fc from "fast-check"
import { readFileSync } from "node:fs"
import { messagesRequest } from "./arbitraries.ts"

export interface FuzzCase {
  /** What was done, e.g. `first-turn deep-objects@tools.3.input_schema`; digits in paths are kept for repro. */
  readonly label: string
  /** Mutation kind alone, for grouping failures. */
  readonly kind: string
  readonly path: "/v1/messages" | "/v1/messages/count_tokens"
  readonly query: string
  readonly headers: Record<string, string>
  readonly body: Uint8Array
  /** Send as a chunked upload in pieces of this size (no content-length). */
  readonly chunked: number | undefined
}

type Path = ReadonlyArray<string | number>
type Json = any

// ---------------------------------------------------------------------------------------------------------------
// Sources
// ---------------------------------------------------------------------------------------------------------------

const fixture = (name: string): Json =>
  JSON.parse(readFileSync(new URL(`../fixtures/claude-code/${name}.request.json`, import.meta.url), "utf8"))

const MINIMAL = { model: "claude-sonnet-4-6", max_tokens: 10, messages: [{ role: "user", content: "hi" }] }

const WITH_TOOLS = {
  model: "claude-haiku-4-5",
  max_tokens: 256,
  system: [{ type: "text", text: "You are terse.", cache_control: { type: "ephemeral" } }],
  tools: [{
    name: "Read",
    description: "Read a file",
    input_schema: { type: "object", properties: { file_path: { type: "string" } }, required: ["file_path"] }
  }],
  tool_choice: { type: "auto" },
  messages: [
    { role: "user", content: [{ type: "text", text: "read /a" }] },
    { role: "assistant", content: [{ type: "tool_use", id: "toolu_1", name: "Read", input: { file_path: "/a" } }] },
    {
      role: "user",
      content: [{ type: "tool_result", tool_use_id: "toolu_1", content: [{ type: "text", text: "contents" }], is_error: false }]
    }
  ]
}

const COUNT_TOKENS = {
  model: "claude-sonnet-4-6",
  system: "count me",
  tools: WITH_TOOLS.tools,
  messages: WITH_TOOLS.messages
}

interface Source {
  readonly name: string
  readonly value: Json
  /** Every path in the value (the root is []). */
  readonly paths: ReadonlyArray<Path>
  readonly countTokens: boolean
}

const pathsOf = (value: Json, at: Path = [], out: Array<Path> = []): Array<Path> => {
  out.push(at)
  if (Array.isArray(value)) value.forEach((item, i) => pathsOf(item, [...at, i], out))
  else if (typeof value === "object" && value !== null) for (const key of Object.keys(value)) pathsOf(value[key], [...at, key], out)
  return out
}

/** Values may share objects (generated ones do): mutations copy what they change, so sharing is harmless. */
const source = (name: string, value: Json, countTokens = false): Source => ({ name, value, paths: pathsOf(value), countTokens })

const FIXED_SOURCES: ReadonlyArray<Source> = [
  source("first-turn", fixture("first-turn")),
  source("tool-turn-2", fixture("tool-turn-2")),
  source("minimal", MINIMAL),
  source("minimal-stream", { ...MINIMAL, stream: true }),
  source("with-tools", WITH_TOOLS),
  source("with-tools-stream", { ...WITH_TOOLS, stream: true }),
  source("count-tokens", COUNT_TOKENS, true)
]

const generatedSource: fc.Arbitrary<Source> = messagesRequest.map((value) => source("generated", value))

/**
 * Weights: the fixtures (50 KB each) are the costly source, and count_tokens runs the tokenizer; minimal bodies
 * make most of the count. About 10 % of bodies are fixtures, about 12 % go to count_tokens.
 */
const anySource: fc.Arbitrary<Source> = fc.oneof(
  { weight: 2, arbitrary: fc.constantFrom(FIXED_SOURCES[0]!, FIXED_SOURCES[1]!) },
  { weight: 10, arbitrary: fc.constantFrom(...FIXED_SOURCES.slice(2, 6)) },
  { weight: 1, arbitrary: fc.constant(FIXED_SOURCES[6]!) },
  { weight: 4, arbitrary: generatedSource }
)

// ---------------------------------------------------------------------------------------------------------------
// Raw JSON text that must not be built as a value
// ---------------------------------------------------------------------------------------------------------------

export const DEPTH = 10_000

const deepTexts = {
  arrays: (n: number) => "[".repeat(n) + "]".repeat(n),
  objects: (n: number) => "{\"a\":".repeat(n) + "1" + "}".repeat(n),
  mixed: (n: number) => "[{\"a\":".repeat(n / 2) + "null" + "}]".repeat(n / 2),
  "text-blocks": (n: number) => "[{\"type\":\"text\",\"text\":\"x\",\"extra\":".repeat(n) + "null" + "}]".repeat(n),
  "tool-results": (n: number) => "[{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_1\",\"content\":".repeat(n) + "\"x\"" + "}]".repeat(n),
  "search-results": (n: number) => "[{\"type\":\"search_result\",\"title\":\"t\",\"source\":\"s\",\"content\":".repeat(n) + "[]" + "}]".repeat(n),
  "json-schema": (n: number) => "{\"type\":\"object\",\"properties\":{\"p\":".repeat(n) + "{\"type\":\"string\"}" + "}}".repeat(n)
} as const
type DeepKind = keyof typeof deepTexts

/** Memoised: the same few texts are spliced into thousands of bodies. */
const memo = <K extends string>(make: Record<K, (n: number) => string>) => {
  const cache = new Map<string, string>()
  return (kind: K, n: number): string => {
    const key = `${kind}/${n}`
    let text = cache.get(key)
    if (text === undefined) cache.set(key, text = make[kind](n))
    return text
  }
}
const deepText = memo(deepTexts)

/** Cheap shapes (a few bytes a level) more often than the verbose block-shaped ones (40-65 bytes a level). */
const deepShape: fc.Arbitrary<DeepKind> = fc.oneof(
  { weight: 9, arbitrary: fc.constantFrom<DeepKind>("arrays", "objects", "mixed") },
  { weight: 1, arbitrary: fc.constantFrom<DeepKind>("text-blocks", "tool-results", "search-results", "json-schema") }
)

/** Huge JSON string literals (quotes included). */
const hugeTexts = {
  ascii: (n: number) => `"${"a".repeat(n)}"`,
  words: (n: number) => `"${"lorem ipsum ".repeat(Math.ceil(n / 12)).slice(0, n)}"`,
  "two-byte": (n: number) => `"${"é".repeat(n / 2)}"`,
  emoji: (n: number) => `"${"😀".repeat(n / 4)}"`,
  "lone-surrogates": (n: number) => `"${"\\ud800x".repeat(n / 7)}"`,
  escapes: (n: number) => `"${"\\n\\t\\\"\\\\".repeat(n / 8)}"`,
  "base64-image": (n: number) => `"${"QUJD".repeat(n / 4)}"`
} as const
type HugeKind = keyof typeof hugeTexts
const hugeText = memo(hugeTexts)

/** Number literals, valid JSON or not. */
const NUMBERISH = [
  "NaN", "Infinity", "-Infinity", "1e999", "-1e999", "-0", "1e-400", "9007199254740993", "1e21", "-1", "0",
  "1.5", "00", "0x10", ".5", "5.", "+1", "1_000", "4294967296", "-2147483649", "1E+2"
]

const WRONG_TYPES: ReadonlyArray<Json> = [
  null, true, false, 0, -1, 1.5, 1e308, -1e308, 2 ** 53 + 1, "", "x", "🙂", "null", "[]", "{}", [], [null], [[]],
  [1, "a", null], {}, { type: null }, { type: 5 }, { "": "" }, { 0: 1 }
]

const BLOCKS: ReadonlyArray<Json> = [
  { type: "no_such_block" },
  { type: "" },
  { type: 5 },
  { type: null },
  {},
  { type: "text" },
  { type: "text", text: 5 },
  { type: "tool_use" },
  { type: "tool_use", id: "toolu_x", name: "Read" },
  { type: "tool_use", id: "toolu_x", name: "", input: "not an object" },
  { type: "tool_result" },
  { type: "tool_result", tool_use_id: "nobody", content: [{ type: "tool_result", tool_use_id: "x" }] },
  { type: "tool_result", tool_use_id: "nobody", content: { not: "an array" } },
  { type: "image", source: { type: "base64" } },
  { type: "image", source: { type: "file", file_id: "file_1" } },
  { type: "image", source: { type: "base64", media_type: "image/png", data: "%%%not base64%%%" } },
  { type: "document", source: { type: "url", url: "https://example.com/x.pdf" } },
  { type: "document", source: { type: "base64", media_type: "application/pdf", data: "JVBERi0=" } },
  { type: "document", source: { type: "content", content: [{ type: "text", text: "inline" }, 5, null] } },
  { type: "thinking" },
  { type: "thinking", thinking: "hmm", signature: 5 },
  { type: "redacted_thinking", data: "x" },
  { type: "server_tool_use", id: "srvtoolu_1", name: "web_search", input: {} },
  { type: "web_search_tool_result", tool_use_id: "srvtoolu_1", content: { type: "web_search_tool_result_error" } },
  { type: "search_result", title: 5, source: null, content: "not an array" },
  { type: "search_result", title: "t", source: "s", content: [null, 1, "x", { type: "text", text: "ok" }] },
  { type: "tool_reference", tool_name: "Bash" },
  { type: "container_upload", file_id: "f" },
  { type: "mcp_tool_use", id: "m", name: "x", server_name: "s", input: {} }
]

/** Members that must be own keys of a parsed object; spliced as raw text (a JS object literal would not keep them). */
const PROTO_MEMBERS = [
  "\"__proto__\":{\"polluted\":\"yes\"}",
  "\"constructor\":{\"prototype\":{\"polluted\":\"yes\"}}",
  "\"__proto__\":{\"max_tokens\":\"x\",\"messages\":5,\"polluted\":\"yes\"}",
  "\"toString\":\"not a function\",\"valueOf\":5,\"hasOwnProperty\":null"
]

// ---------------------------------------------------------------------------------------------------------------
// Structural mutations
// ---------------------------------------------------------------------------------------------------------------

/**
 * One body being mutated. Sources are shared and never changed: a mutation copies the containers on its path
 * (copy-on-write), so everything off the mutated paths is still the source's own objects, whose JSON text is
 * cached (`serialise`). Raw JSON that must not be built as a value (deep, huge, NaN) is held as a placeholder
 * string, written out in place by `serialise`.
 */
interface Tree {
  root: Json
  /** Containers this body owns (copies), as opposed to the source's shared ones. */
  readonly own: WeakSet<object>
  /** Placeholder string value → raw JSON text. */
  readonly raw: Map<string, string>
  /** Placeholder key → raw object members (`"k":v,...`) that replace the `"key":<value>` member. */
  readonly rawMembers: Map<string, string>
}

const isContainer = (value: unknown): value is Record<string | number, Json> => typeof value === "object" && value !== null
const DELETE = Symbol("delete")

let placeholderCounter = 0
const placeholder = () => `\u0001fuzz${placeholderCounter++}\u0001`

const rawValue = (tree: Tree, rawJson: string): string => {
  const key = placeholder()
  tree.raw.set(key, rawJson)
  return key
}

/** A container a mutation built: this body's own, so its contents are serialised (and its placeholders resolved). */
const owned = <T extends object>(tree: Tree, container: T): T => {
  tree.own.add(container)
  return container
}

const ownCopy = (tree: Tree, value: Record<string | number, Json>): Record<string | number, Json> => {
  if (tree.own.has(value)) return value
  const copy = Array.isArray(value) ? value.slice() : { ...value }
  tree.own.add(copy)
  return copy
}

/** Replaces the value at `path` with `f(value)` (DELETE removes it), copying the containers on the way. */
const update = (tree: Tree, path: Path, f: (value: Json) => Json | typeof DELETE): void => {
  if (path.length === 0) {
    const next = f(tree.root)
    tree.root = next === DELETE ? undefined : next
    return
  }
  if (!isContainer(tree.root)) return
  tree.root = ownCopy(tree, tree.root)
  let parent = tree.root
  for (const key of path.slice(0, -1)) {
    const child = parent[key]
    if (!isContainer(child)) return // an earlier mutation changed the shape: this one has nothing to act on
    parent = parent[key] = ownCopy(tree, child)
  }
  const last = path[path.length - 1]!
  const next = f(parent[last])
  if (next !== DELETE) parent[last] = next
  else if (Array.isArray(parent) && typeof last === "number") parent.splice(last, 1)
  else delete parent[last]
}

const textCache = new WeakMap<object, string>()

/** The body's JSON text: cached text for shared subtrees, raw texts in place of their placeholders. */
const serialise = (tree: Tree, value: Json = tree.root): string => {
  if (typeof value === "string") return tree.raw.get(value) ?? JSON.stringify(value)
  if (!isContainer(value)) return value === undefined ? "" : JSON.stringify(value)
  if (!tree.own.has(value)) {
    let text = textCache.get(value)
    if (text === undefined) textCache.set(value, text = JSON.stringify(value))
    return text
  }
  if (Array.isArray(value)) return `[${value.map((item) => serialise(tree, item === undefined ? null : item)).join(",")}]`
  const members: Array<string> = []
  for (const key of Object.keys(value)) {
    const raw = tree.rawMembers.get(key)
    if (raw !== undefined) members.push(raw)
    else if (value[key] !== undefined) members.push(`${JSON.stringify(key)}:${serialise(tree, value[key])}`)
  }
  return `{${members.join(",")}}`
}

const joined = (path: Path) => path.join(".")

const pathsCache = new WeakMap<Source, Map<RegExp, ReadonlyArray<Path>>>()

/** Paths in a source matching a pattern on the dotted path, or all paths when none match (memoised). */
const pathsLike = (src: Source, pattern: RegExp): ReadonlyArray<Path> => {
  let bySource = pathsCache.get(src)
  if (bySource === undefined) pathsCache.set(src, bySource = new Map())
  let found = bySource.get(pattern)
  if (found === undefined) {
    const matching = src.paths.filter((p) => pattern.test(joined(p)))
    bySource.set(pattern, found = matching.length > 0 ? matching : src.paths)
  }
  return found
}

const DEEP_TARGETS = {
  "tool-input": /^messages\.\d+\.content\.\d+\.input$/,
  "input-schema": /^tools\.\d+\.input_schema(\.properties\.[^.]+)?$/,
  content: /^(messages\.\d+\.content(\.\d+\.content)?|system)$/,
  anywhere: /./
} as const

interface Mutation {
  readonly kind: string
  readonly where: string
  readonly apply: (tree: Tree) => void
}

const pick = <T>(items: ReadonlyArray<T>) => fc.constantFrom(...items)

const ANY_PATH = /./
const atPath = (src: Source, pattern: RegExp = ANY_PATH) => {
  const paths = pathsLike(src, pattern)
  return fc.nat({ max: Math.max(0, paths.length - 1) }).map((i) => paths[i] ?? [])
}

const SLOT_PATTERN = /(^|\.)content$|^system$|^messages\.\d+$/
const NUMBER_PATTERN = /(^|\.)(max_tokens|temperature|top_p|top_k|budget_tokens)$/
const STRING_PATTERN = /(^|\.)(text|content|description|data|input|system|model|name|id|tool_use_id)$/

const structuralCache = new WeakMap<Source, fc.Arbitrary<Mutation>>()

/** The mutations of one source (built once per fixed source). */
const structural = (src: Source): fc.Arbitrary<Mutation> => {
  let arbitrary = structuralCache.get(src)
  if (arbitrary === undefined) structuralCache.set(src, arbitrary = makeStructural(src))
  return arbitrary
}

const makeStructural = (src: Source): fc.Arbitrary<Mutation> =>
  fc.oneof(
    {
      weight: 6,
      arbitrary: fc.tuple(atPath(src), pick(WRONG_TYPES)).map(([path, value]): Mutation => ({
        kind: "wrong-type",
        where: joined(path),
        apply: (tree) => update(tree, path, () => value)
      }))
    },
    {
      weight: 3,
      arbitrary: atPath(src).map((path): Mutation => ({
        kind: "delete",
        where: joined(path),
        apply: (tree) => update(tree, path, () => DELETE)
      }))
    },
    {
      weight: 2,
      arbitrary: atPath(src).map((path): Mutation => ({
        kind: "array-for-object",
        where: joined(path),
        apply: (tree) =>
          update(tree, path, (value) =>
            owned(tree, isContainer(value) && !Array.isArray(value) && path.length % 2 === 0 ? Object.values(value) : [value]))
      }))
    },
    {
      weight: 4,
      arbitrary: fc.tuple(atPath(src, SLOT_PATTERN), pick(BLOCKS), fc.boolean()).map(
        ([path, block, replace]): Mutation => ({
          kind: "odd-block",
          where: `${joined(path)}:${JSON.stringify(block).slice(0, 40)}`,
          apply: (tree) => update(tree, path, (value) => owned(tree, Array.isArray(value) && !replace ? [...value, block] : [block]))
        })
      )
    },
    {
      weight: 3,
      arbitrary: fc.tuple(atPath(src, NUMBER_PATTERN), pick(NUMBERISH)).map(([path, literal]): Mutation => ({
        kind: "numberish",
        where: `${joined(path)}=${literal}`,
        apply: (tree) => update(tree, path, () => rawValue(tree, literal))
      }))
    },
    {
      weight: 1,
      arbitrary: fc.tuple(atPath(src), pick(PROTO_MEMBERS)).map(([path, members]): Mutation => ({
        kind: "proto-keys",
        where: joined(path),
        apply: (tree) =>
          update(tree, path, (value) => {
            if (!isContainer(value) || Array.isArray(value)) return rawValue(tree, `{${members}}`)
            // Spliced as text so `__proto__` is an own key of the parsed body, as a client would send it.
            const key = placeholder()
            tree.rawMembers.set(key, members)
            return owned(tree, { ...value, [key]: 0 })
          })
      }))
    },
    {
      weight: 2,
      arbitrary: fc.tuple(
        pick(Object.keys(DEEP_TARGETS) as Array<keyof typeof DEEP_TARGETS>),
        deepShape,
        fc.nat()
      ).map(([target, shape, n]): Mutation => {
        const candidates = pathsLike(src, DEEP_TARGETS[target])
        const path = candidates[n % candidates.length] ?? []
        return {
          kind: `deep-${shape}@${target}`,
          where: `${joined(path)} depth ${DEPTH}`,
          apply: (tree) => update(tree, path, () => rawValue(tree, deepText(shape, DEPTH)))
        }
      })
    },
    {
      weight: 2,
      arbitrary: fc.tuple(
        atPath(src, STRING_PATTERN),
        pick(Object.keys(hugeTexts) as Array<HugeKind>),
        fc.constantFrom(16 * 1024, 64 * 1024)
      ).map(([path, shape, bytes]): Mutation => {
        // Text with spaces is what the tokenizer works hardest on (BPE per word); 8 KB of it is plenty here.
        const size = shape === "words" ? 8 * 1024 : bytes
        return {
          kind: `huge-${shape}`,
          where: `${joined(path)} ${size}`,
          apply: (tree) => update(tree, path, () => rawValue(tree, hugeText(shape, size)))
        }
      })
    }
  )

// ---------------------------------------------------------------------------------------------------------------
// Byte-level mutations
// ---------------------------------------------------------------------------------------------------------------

const INVALID_UTF8: ReadonlyArray<ReadonlyArray<number>> = [
  [0xff],
  [0xc3, 0x28],
  [0xe2, 0x82],
  [0xed, 0xa0, 0x80], // an encoded surrogate
  [0xc0, 0xaf], // overlong "/"
  [0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
  [0x80, 0x80, 0x80],
  [0x00]
]

type ByteMutation = { readonly kind: string; readonly apply: (bytes: Buffer) => Buffer }

const insertAt = (bytes: Buffer, at: number, insert: ReadonlyArray<number> | Buffer) =>
  Buffer.concat([bytes.subarray(0, at), Buffer.from(insert as Array<number>), bytes.subarray(at)])

/** Offset inside a JSON string: just after some `"` (falls back to a plain offset). */
const insideString = (bytes: Buffer, fraction: number) => {
  const at = Math.floor(bytes.length * fraction)
  const quote = bytes.indexOf(0x22, at)
  return quote < 0 ? at : quote + 1
}

const byteMutation: fc.Arbitrary<ByteMutation> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.double({ min: 0, max: 1, noNaN: true }).map((f): ByteMutation => ({
      kind: "truncate",
      apply: (b) => b.subarray(0, Math.floor(b.length * f))
    }))
  },
  {
    weight: 4,
    arbitrary: fc.tuple(pick(INVALID_UTF8), fc.double({ min: 0, max: 1, noNaN: true }), fc.boolean()).map(([seq, f, inString]): ByteMutation => ({
      kind: "invalid-utf8",
      apply: (b) => insertAt(b, inString ? insideString(b, f) : Math.floor(b.length * f), seq)
    }))
  },
  {
    weight: 2,
    arbitrary: fc.array(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 5 })
      .map((flips): ByteMutation => ({
        kind: "flip-bytes",
        apply: (b) => {
          const copy = Buffer.from(b)
          for (const [f, x] of flips) if (copy.length > 0) copy[Math.floor(f * (copy.length - 1))]! ^= x
          return copy
        }
      }))
  },
  {
    weight: 3,
    arbitrary: fc.tuple(
      pick(["model", "max_tokens", "messages", "stream", "system", "tools", "metadata"]),
      pick(["null", "5", "\"x\"", "[]", "{}", "true", "[{\"role\":\"user\",\"content\":\"dup\"}]"]),
      fc.boolean()
    ).map(([key, value, first]): ByteMutation => ({
      kind: "duplicate-key",
      apply: (b) => {
        const text = b.toString("latin1")
        const open = text.indexOf("{")
        const close = text.lastIndexOf("}")
        if (open < 0 || close < 0) return b
        return first
          ? insertAt(b, open + 1, Buffer.from(`"${key}":${value},`))
          : insertAt(b, close, Buffer.from(`,"${key}":${value}`))
      }
    }))
  },
  {
    weight: 1,
    arbitrary: pick(["role", "type", "content", "text", "input"]).map((key): ByteMutation => ({
      kind: "duplicate-nested-key",
      apply: (b) => {
        const text = b.toString("latin1")
        const at = text.indexOf(`"${key}":`)
        return at < 0 ? b : insertAt(b, at, Buffer.from(`"${key}":{"dup":[1,2]},`))
      }
    }))
  },
  {
    weight: 1,
    arbitrary: pick([" trailing", "}", "{}", "\u0000", ",", "]", " \n\t "]).map((tail): ByteMutation => ({
      kind: "trailing-bytes",
      apply: (b) => Buffer.concat([b, Buffer.from(tail)])
    }))
  },
  {
    weight: 1,
    arbitrary: pick([[0xef, 0xbb, 0xbf], [0xfe, 0xff], [0xff, 0xfe], [0x20, 0x0a], [0x00]]).map((prefix): ByteMutation => ({
      kind: "prefix-bytes",
      apply: (b) => insertAt(b, 0, prefix)
    }))
  }
)

// ---------------------------------------------------------------------------------------------------------------
// Headers, paths, whole cases
// ---------------------------------------------------------------------------------------------------------------

const JSON_HEADERS = { "content-type": "application/json" }

const oddHeaders: fc.Arbitrary<{ kind: string; headers: Record<string, string> }> = pick([
  { kind: "no-content-type", headers: {} },
  { kind: "text-plain", headers: { "content-type": "text/plain" } },
  { kind: "form", headers: { "content-type": "application/x-www-form-urlencoded" } },
  { kind: "multipart", headers: { "content-type": "multipart/form-data; boundary=zzz" } },
  { kind: "utf16", headers: { "content-type": "application/json; charset=utf-16le" } },
  { kind: "latin1", headers: { "content-type": "application/json; charset=iso-8859-1" } },
  { kind: "jsonx", headers: { "content-type": "application/jsonx" } },
  { kind: "empty-content-type", headers: { "content-type": "" } },
  { kind: "gzip-lie", headers: { "content-type": "application/json", "content-encoding": "gzip" } },
  { kind: "br-lie", headers: { "content-type": "application/json", "content-encoding": "br" } },
  { kind: "odd-anthropic-headers", headers: { "content-type": "application/json", "anthropic-version": "0000", "anthropic-beta": ",,,", "x-api-key": "" } }
])

const QUERIES = ["", "", "", "?beta=true", "?beta=%ZZ", "?a=1&a=2&beta=false", `?${"x".repeat(4000)}=1`]

const mutatedCase: fc.Arbitrary<FuzzCase> = anySource.chain((src) =>
  fc.record({
    // Mostly 1-3 mutations; a body left as it was now and then (the happy path costs the most and teaches least).
    mutations: fc.oneof(
      { weight: 1, arbitrary: fc.constant([]) },
      { weight: 9, arbitrary: fc.array(structural(src), { minLength: 1, maxLength: 3 }) }
    ),
    bytes: fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: byteMutation }),
    headers: fc.oneof({ weight: 8, arbitrary: fc.constant({ kind: "", headers: JSON_HEADERS }) }, { weight: 1, arbitrary: oddHeaders }),
    query: pick(QUERIES),
    countTokens: fc.oneof({ weight: 14, arbitrary: fc.constant(src.countTokens) }, { weight: 1, arbitrary: fc.constant(!src.countTokens) }),
    chunked: fc.oneof({ weight: 19, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 4096 }) })
  }).map(({ mutations, bytes, headers, query, countTokens, chunked }): FuzzCase => {
    const tree: Tree = { root: src.value, own: new WeakSet(), raw: new Map(), rawMembers: new Map() }
    const wheres: Array<string> = []
    const kinds: Array<string> = []
    for (const mutation of mutations) {
      mutation.apply(tree)
      wheres.push(`${mutation.kind}@${mutation.where}`)
      kinds.push(mutation.kind.replace(/@.*/, ""))
    }
    let body: Buffer = Buffer.from(serialise(tree))
    if (bytes) {
      body = bytes.apply(body)
      wheres.push(bytes.kind)
      kinds.push(bytes.kind)
    }
    if (headers.kind) kinds.push(headers.kind)
    if (chunked !== undefined) kinds.push("chunked")
    return {
      label: `${src.name} ${wheres.join(" + ") || "unchanged"}${headers.kind ? ` [${headers.kind}]` : ""}${query ? ` ${query.slice(0, 30)}` : ""}${chunked ? ` chunked/${chunked}` : ""}`,
      kind: `${src.name}:${kinds.join("+") || "unchanged"}`,
      path: countTokens ? "/v1/messages/count_tokens" : "/v1/messages",
      query,
      headers: headers.headers,
      body,
      chunked
    }
  })
)

/** Bodies that are not mutations of a request at all. */
const junkCase: fc.Arbitrary<FuzzCase> = fc.tuple(
  fc.oneof(
    fc.constant({ kind: "empty", body: Buffer.alloc(0) }),
    pick([" ", "\n\n", "null", "0", "\"string\"", "[]", "[{}]", "true", "{}", "{\"\":\"\"}"]).map((t) => ({ kind: "tiny", body: Buffer.from(t) })),
    fc.jsonValue({ maxDepth: 4 }).map((v) => ({ kind: "random-json", body: Buffer.from(JSON.stringify(v) ?? "") })),
    fc.uint8Array({ maxLength: 2048 }).map((b) => ({ kind: "random-bytes", body: Buffer.from(b) })),
    fc.string({ unit: "binary", maxLength: 512 }).map((s) => ({ kind: "random-text", body: Buffer.from(s) })),
    deepShape.map((shape) => ({ kind: `deep-unknown-field-${shape}`, body: Buffer.from(`{"model":"claude-sonnet-4-6","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"x":${deepText(shape, DEPTH)}}`) }))
  ),
  fc.oneof({ weight: 7, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) })
).map(([{ kind, body }, countTokens]): FuzzCase => ({
  label: `junk ${kind}: ${body.subarray(0, 60).toString("latin1")}`,
  kind: `junk:${kind}`,
  path: countTokens ? "/v1/messages/count_tokens" : "/v1/messages",
  query: "",
  headers: JSON_HEADERS,
  body,
  chunked: undefined
}))

export const fuzzCase: fc.Arbitrary<FuzzCase> = fc.oneof(
  { weight: 9, arbitrary: mutatedCase },
  { weight: 1, arbitrary: junkCase }
)

/**
 * The few very large bodies, run once per suite rather than sampled (each costs tens to hundreds of milliseconds):
 * strings of 4 MB (one-byte, two-byte, lone surrogates) and of 11 M characters (over the string limit), 1 MB of
 * words to count, a body just over the 32 MB limit, 100,000 messages, and 1,000,000 levels of nesting in content,
 * tool input and a tool's schema (count_tokens).
 */
export const largeCases = (): Array<FuzzCase> => {
  const text = (name: string, raw: string, path: FuzzCase["path"] = "/v1/messages"): FuzzCase => ({
    label: `large ${name}`,
    kind: `large:${name}`,
    path,
    query: "",
    headers: JSON_HEADERS,
    body: Buffer.from(raw),
    chunked: undefined
  })
  const withContent = (literal: string, extra = "") =>
    `{"model":"claude-sonnet-4-6","max_tokens":10${extra},"messages":[{"role":"user","content":${literal}}]}`
  const MB = 1024 * 1024
  return [
    text("4MB-ascii", withContent(hugeTexts.ascii(4 * MB))),
    text("4MB-two-byte-stream", withContent(hugeTexts["two-byte"](4 * MB), ",\"stream\":true")),
    text("4MB-lone-surrogates", withContent(hugeTexts["lone-surrogates"](4 * MB))),
    text("1MB-words-count-tokens", withContent(hugeTexts.words(MB)), "/v1/messages/count_tokens"),
    text("11M-chars", withContent(hugeTexts.ascii(11 * MB))),
    text("33MB-over-the-limit", withContent(hugeTexts.ascii(33 * MB))),
    text("100k-messages", `{"model":"claude-sonnet-4-6","max_tokens":10,"messages":[${Array(100_000).fill("{\"role\":\"user\",\"content\":\"hi\"}").join(",")}]}`),
    text("1M-deep-content", withContent(deepTexts.arrays(1_000_000))),
    text("1M-deep-tool-input", `{"model":"claude-sonnet-4-6","max_tokens":10,"messages":[{"role":"user","content":"x"},{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"f","input":${deepTexts.arrays(1_000_000)}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":"ok"}]}]}`),
    text("1M-deep-count-tokens", `{"model":"claude-sonnet-4-6","messages":[{"role":"user","content":"x"}],"tools":[{"name":"f","input_schema":{"properties":${deepTexts.arrays(1_000_000)}}}]}`, "/v1/messages/count_tokens")
  ]
}
