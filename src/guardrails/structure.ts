/**
 * Structural limits on a request body, checked on the parsed JSON before anything else looks at it.
 *
 * Several later steps are recursive (the schema decode of nested unions, `JSON.stringify` when tool inputs and
 * schemas are serialised upstream), and a body nested ten thousand levels deep overflows their stack: a 500 where
 * the client deserves a 400. This check is a loop over an explicit stack, so it cannot overflow itself, and it runs
 * on every request, so the hot path allocates nothing per node; paths are worked out only once a limit is broken.
 */
import { LIMIT_VARIABLES } from "./variables.ts"

export interface StructureLimits {
  readonly maxMessages: number
  /** Content blocks in the whole request: messages, nested tool_result content and system blocks. */
  readonly maxContentBlocks: number
  readonly maxTools: number
  /** Containers (objects and arrays) nested inside each other, the body itself being level 1. */
  readonly maxDepth: number
  /** Longest string value or object key, in UTF-16 code units (what `.length` says). */
  readonly maxStringLength: number
}

/**
 * Far above what Claude Code sends (a 500 KB session: 102 messages, 152 blocks, 12 tools, depth 10, longest
 * string 17 K), and at or above Anthropic's own caps where those are documented (100,000 messages), so nothing a
 * real client sends is refused. Depth 64 is the one that protects: `JSON.stringify` overflows near 8,000 levels.
 * 10 M characters holds a base64 image or PDF of ~7.5 MB.
 */
export const DEFAULT_STRUCTURE_LIMITS: StructureLimits = {
  maxMessages: 100_000,
  maxContentBlocks: 200_000,
  maxTools: 10_000,
  maxDepth: 64,
  maxStringLength: 10_000_000
}

type Json = Record<string, unknown>

const isObject = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value)

/**
 * The first limit the body breaks, worded `path: problem (VARIABLE)`; undefined when it is within all of them.
 * `bytes`, the body's size when known: a body no longer than the string limit cannot hold a string or key longer
 * than it (a character takes at least a byte), so only the depth is walked then.
 */
export const checkStructure = (json: unknown, limits: StructureLimits, bytes?: number): string | undefined =>
  checkCounts(json, limits) ?? checkShape(json, limits, bytes !== undefined && bytes <= limits.maxStringLength)

// ---------------------------------------------------------------------------------------------------------------
// Counts: read off the known fields, O(messages)
// ---------------------------------------------------------------------------------------------------------------

const checkCounts = (json: unknown, limits: StructureLimits): string | undefined => {
  if (!isObject(json)) return undefined
  const { messages, tools, system } = json
  if (Array.isArray(messages) && messages.length > limits.maxMessages) {
    return `messages: ${messages.length} messages, more than ${limits.maxMessages} (${LIMIT_VARIABLES.maxMessages})`
  }
  if (Array.isArray(tools) && tools.length > limits.maxTools) {
    return `tools: ${tools.length} tools, more than ${limits.maxTools} (${LIMIT_VARIABLES.maxTools})`
  }
  const tooMany = (where: string) =>
    `${where}: more than ${limits.maxContentBlocks} content blocks in the request (${LIMIT_VARIABLES.maxContentBlocks})`
  let blocks = Array.isArray(system) ? system.length : 0
  if (blocks > limits.maxContentBlocks) return tooMany("system")
  if (!Array.isArray(messages)) return undefined
  for (let i = 0; i < messages.length; i++) {
    const content = (messages[i] as Json | undefined)?.content
    if (!Array.isArray(content)) continue
    blocks += content.length
    for (const block of content) {
      const inner = (block as Json | null | undefined)?.content
      if (Array.isArray(inner)) blocks += inner.length
    }
    if (blocks > limits.maxContentBlocks) return tooMany(`messages.${i}.content`)
  }
  return undefined
}

// ---------------------------------------------------------------------------------------------------------------
// Shape: depth and string lengths over every node, without recursion
// ---------------------------------------------------------------------------------------------------------------

/** What broke a limit: the container holding it, and the key (or index) inside that container, if any. */
interface Offence {
  readonly container: object | undefined
  readonly key: string | undefined
  readonly message: (path: string) => string
}

const checkShape = (json: unknown, limits: StructureLimits, stringsFit: boolean): string | undefined => {
  const offence = findOffence(json, limits, stringsFit)
  return offence === undefined ? undefined : offence.message(describePath(json, offence))
}

/** The key of a container's `i`th child, in `Object.keys` order (which `Object.values` follows). */
const keyAt = (container: object, i: number): string => Array.isArray(container) ? String(i) : Object.keys(container)[i]!

/**
 * The first limit broken, in `describePath`'s order. With `stringsFit` (no string can be too long) only the depth
 * is checked. Objects are read with `Object.values` (and `Object.keys` when keys are checked): one builtin call per
 * object, where `for…in` and a keyed load per field went through V8's megamorphic property lookups, 1.5 % of the
 * proxy's instructions per 49 KB request (callgrind).
 */
const findOffence = (json: unknown, limits: StructureLimits, stringsFit: boolean): Offence | undefined => {
  const { maxDepth, maxStringLength } = limits
  const tooLong = (container: object | undefined, key: string | undefined, what: string, length: number): Offence => ({
    container,
    key,
    message: (path) =>
      `${path}: ${what} of ${length} characters, longer than ${maxStringLength} (${LIMIT_VARIABLES.maxStringLength})`
  })
  if (typeof json === "string") {
    return !stringsFit && json.length > maxStringLength ? tooLong(undefined, undefined, "string", json.length) : undefined
  }
  if (typeof json !== "object" || json === null) return undefined
  // Two parallel stacks rather than one of {value, depth} pairs: no allocation per node.
  const values: Array<object> = [json]
  const depths: Array<number> = [1]
  while (values.length > 0) {
    const value = values.pop()!
    const childDepth = depths.pop()! + 1
    const isArray = Array.isArray(value)
    const children: ReadonlyArray<unknown> = isArray ? value : Object.values(value)
    const keys = stringsFit || isArray ? undefined : Object.keys(value)
    for (let i = 0; i < children.length; i++) {
      const key = keys?.[i]
      if (key !== undefined && key.length > maxStringLength) return tooLong(value, undefined, "object key", key.length)
      const child = children[i]
      if (typeof child === "string") {
        if (!stringsFit && child.length > maxStringLength) return tooLong(value, keyAt(value, i), "string", child.length)
      } else if (typeof child === "object" && child !== null) {
        if (childDepth > maxDepth) return tooDeep(value, keyAt(value, i), maxDepth)
        values.push(child)
        depths.push(childDepth)
      }
    }
  }
  return undefined
}

const tooDeep = (container: object | undefined, key: string | undefined, maxDepth: number): Offence => ({
  container,
  key,
  message: (path) => `${path}: nesting deeper than ${maxDepth} levels (${LIMIT_VARIABLES.maxDepth})`
})

// ---------------------------------------------------------------------------------------------------------------
// Paths, on the slow path only
// ---------------------------------------------------------------------------------------------------------------

/** Enough of a path to find the spot (`messages.3.content.0.input.…`); a 64-level path helps nobody. */
const MAX_SEGMENTS = 6
/** Keys are client text: clipped, so an error message stays one short line. */
const MAX_SEGMENT_LENGTH = 40

interface Trail {
  readonly value: object
  readonly parent: Trail | undefined
  readonly key: string
}

/**
 * A second walk, with parent links this time, to name the container where the first walk stopped. It visits in
 * the same order as the first, so it reaches that container after the same nodes: no deeper, no longer.
 */
const describePath = (json: unknown, offence: Offence): string => {
  if (offence.container === undefined) return "(body)"
  const stack: Array<Trail> = [{ value: json as object, parent: undefined, key: "" }]
  while (stack.length > 0) {
    const trail = stack.pop()!
    if (trail.value === offence.container) return formatPath(trail, offence.key)
    for (const key of Object.keys(trail.value)) {
      const child: unknown = (trail.value as Json)[key]
      if (typeof child === "object" && child !== null) stack.push({ value: child, parent: trail, key })
    }
  }
  return "(body)"
}

const formatPath = (trail: Trail, last: string | undefined): string => {
  const segments: Array<string> = last === undefined ? [] : [last]
  for (let t: Trail | undefined = trail; t?.parent !== undefined; t = t.parent) segments.push(t.key)
  segments.reverse()
  const shown = segments.slice(0, MAX_SEGMENTS).map((segment) =>
    segment.length > MAX_SEGMENT_LENGTH ? `${segment.slice(0, MAX_SEGMENT_LENGTH)}…` : segment
  )
  if (shown.length === 0) return "(body)"
  return segments.length > MAX_SEGMENTS ? `${shown.join(".")}.…` : shown.join(".")
}
