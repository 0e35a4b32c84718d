/**
 * Anthropic tool definitions and tool_choice → OpenAI function tools (PROTOCOL.md §I.1), and the tool-name mapping
 * the response and stream converters reverse. Pure.
 *
 * - Anthropic-defined tools (any `type` but custom) are dropped: server tools cannot run upstream, and client tools
 *   like bash_20250124 carry no schema the upstream model could follow.
 * - Names outside `^[a-zA-Z0-9_-]{1,64}$` are renamed upstream; `ToolNames` maps them back for the reply.
 * - Schemas, tool_choice and parallel calls follow the provider's request dialect (profiles.ts).
 */
import { createHash } from "node:crypto"
import type * as A from "../protocol/anthropic.ts"
import type * as O from "../protocol/openai.ts"
import { isToolUse } from "./messages.ts"
import { type Context, reject } from "./request-context.ts"
import { adaptSchema } from "./schema-dialect.ts"

/** Upstream (sanitised) tool name → the client's original name, for every tool name the request uses. */
export type ToolNames = ReadonlyMap<string, string>

export const MAX_TOOLS = 128

const isCustomTool = (tool: A.Tool): boolean => tool.type == null || tool.type === "custom"

/** The client tools the upstream can take, and the client → upstream name of every tool name the request uses. */
export const planTools = (
  req: A.MessagesRequest,
  notes: Set<string>
): { functionTools: ReadonlyArray<A.Tool>; toolNames: Map<string, string> } => {
  const clientTools = req.tools ?? []
  const functionTools = clientTools.filter(isCustomTool)
  for (const tool of clientTools.filter((tool) => !isCustomTool(tool))) {
    notes.add(`dropped tool "${tool.name}" (${tool.type}): Anthropic-defined tools cannot run on this upstream`)
  }
  if (functionTools.length > MAX_TOOLS) {
    reject(
      `tools: ${functionTools.length} tools were sent, but OpenAI-compatible upstreams accept at most ${MAX_TOOLS}. ` +
        "Disable some MCP servers or tools."
    )
  }
  const toolNames = assignToolNames([
    ...functionTools.map((tool) => tool.name),
    ...toolUseNames(req.messages),
    ...(req.tool_choice?.type === "tool" ? [req.tool_choice.name] : [])
  ])
  return { functionTools, toolNames }
}

/** Sets `tools` and `tool_choice`; a tool_choice with no tools left to choose from is dropped. */
export const setTools = (
  request: O.ChatRequest,
  req: A.MessagesRequest,
  functionTools: ReadonlyArray<A.Tool>,
  context: Context
): void => {
  if (functionTools.length > 0) {
    request.tools = functionTools.map((tool) => functionTool(tool, context))
    setToolChoice(request, req.tool_choice, req.tools ?? [], context)
    // A server that runs one call per turn unless asked (llama.cpp) is asked, unless the client said otherwise.
    if (context.profile.request.parallelToolCalls === "opt-in" && request.parallel_tool_calls === undefined) {
      request.parallel_tool_calls = true
    }
  } else if (req.tool_choice != null) {
    context.notes.add("dropped tool_choice: no tools are left to choose from")
  }
}

const toolUseNames = (messages: ReadonlyArray<A.Message>): Array<string> =>
  messages.flatMap((message) =>
    typeof message.content === "string" ? [] : message.content.filter(isToolUse).map((block) => block.name)
  )

const VALID_TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/
const MAX_TOOL_NAME = 64
const HASHED_PREFIX = 55

const shortHash = (text: string): string => createHash("sha256").update(text).digest("hex").slice(0, 8)

const withSuffix = (name: string, suffix: string): string => `${name.slice(0, MAX_TOOL_NAME - suffix.length)}${suffix}`

const sanitizeToolName = (name: string): string => {
  const cleaned = name.replace(/[^a-zA-Z0-9_-]/g, "_") || "tool"
  return cleaned.length <= MAX_TOOL_NAME ? cleaned : `${cleaned.slice(0, HASHED_PREFIX)}_${shortHash(name)}`
}

/**
 * Client name → upstream name. Valid names keep themselves and are reserved first, so a renamed tool can never take
 * the name of one that was already valid; a collision between renamed tools is broken with a hash of the original.
 */
const assignToolNames = (names: ReadonlyArray<string>): Map<string, string> => {
  const unique = [...new Set(names)]
  const taken = new Set(unique.filter((name) => VALID_TOOL_NAME.test(name)))
  const assigned = new Map<string, string>()
  for (const name of unique) {
    if (VALID_TOOL_NAME.test(name)) {
      assigned.set(name, name)
      continue
    }
    let candidate = sanitizeToolName(name)
    if (taken.has(candidate)) candidate = withSuffix(sanitizeToolName(name), `_${shortHash(name)}`)
    for (let n = 2; taken.has(candidate); n++) candidate = withSuffix(candidate, `_${n}`)
    taken.add(candidate)
    assigned.set(name, candidate)
  }
  return assigned
}

/**
 * The client → upstream map turned around, for the response and stream converters. Only renamed tools: a name
 * that crossed unchanged maps to itself anyway, and a stream keeps this map for as long as it is open.
 */
export const reverseToolNames = (names: ReadonlyMap<string, string>): ToolNames => {
  const reversed = new Map<string, string>()
  for (const [client, upstream] of names) if (client !== upstream) reversed.set(upstream, client)
  return reversed
}

/** Only name, description and schema cross over: cache_control, strict, defer_loading and the like stay behind. */
const functionTool = (tool: A.Tool, context: Context): O.FunctionTool => ({
  type: "function",
  function: {
    name: context.toolNames.get(tool.name) ?? tool.name,
    ...(tool.description != null && tool.description !== "" ? { description: tool.description } : {}),
    parameters: parametersOf(tool, context)
  }
})

const parametersOf = (tool: A.Tool, context: Context): Record<string, unknown> => {
  const schema = tool.input_schema ?? { type: "object", properties: {} }
  const adapted = adaptSchema(schema, context.profile.request.schema)
  if (adapted !== schema) context.notes.add(`removed JSON Schema keywords ${context.profile.name} rejects from tool parameters`)
  return adapted
}

const setToolChoice = (
  request: O.ChatRequest,
  choice: A.MessagesRequest["tool_choice"],
  clientTools: ReadonlyArray<A.Tool>,
  context: Context
): void => {
  if (choice == null) return
  if (choice.disable_parallel_tool_use === true) request.parallel_tool_calls = false
  if (!context.profile.request.toolChoice) {
    context.notes.add(`dropped tool_choice: ${context.profile.name} does not support it`)
    return
  }
  switch (choice.type) {
    case "auto":
      request.tool_choice = "auto"
      return
    case "any":
      request.tool_choice = "required"
      return
    case "none":
      request.tool_choice = "none"
      return
    case "tool": {
      const tool = clientTools.find((t) => t.name === choice.name)
      if (tool === undefined) return reject(`tool_choice: tool "${choice.name}" is not among the request's tools`)
      if (!isCustomTool(tool)) {
        context.notes.add(`dropped tool_choice: it forces "${choice.name}", which was dropped`)
        return
      }
      request.tool_choice = { type: "function", function: { name: context.toolNames.get(choice.name) ?? choice.name } }
      return
    }
  }
}
