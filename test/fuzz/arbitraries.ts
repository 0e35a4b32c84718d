/**
 * fast-check arbitraries for valid Anthropic Messages requests, built around tool_use / tool_result
 * conversations the way Claude Code sends them: tool calls answered in any order, partly or not at all,
 * results that answer nothing, consecutive same-role turns, `system` turns mid-conversation, cache_control
 * everywhere, thinking blocks, images, unknown block types, and the Anthropic-only top-level fields.
 *
 * Tool-use ids are unique across a request (as Anthropic requires); tool names are drawn from a pool that mixes
 * valid OpenAI function names with ones that must be renamed (spaces, dots, MCP-style `mcp__x__y`, > 64 chars).
 */
import fc from "fast-check"
import type * as A from "../../src/protocol/anthropic.ts"

export const TOOL_NAMES = [
  "Bash",
  "Read",
  "Edit",
  "mcp__github__create_issue",
  "web.search",
  "tool with spaces",
  "ünïcödé",
  "x".repeat(80),
  "y".repeat(70) + ".z",
  "a-b_c",
  "Bash_",
  "Bash "
] as const

/** Text that is sometimes blank, sometimes multi-line or non-ASCII; never one of our sentinels. */
const text = fc.oneof(
  { weight: 6, arbitrary: fc.string({ minLength: 1, maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: "grapheme", maxLength: 30 }) },
  { weight: 1, arbitrary: fc.constantFrom("", " ", "\n", "line one\nline two") }
)

const cacheControl = fc.option(fc.constant({ type: "ephemeral" }), { nil: undefined })

const withCache = <T extends object>(block: T, cache: { type: string } | undefined): T =>
  cache === undefined ? block : { ...block, cache_control: cache }

const textBlock: fc.Arbitrary<A.ContentBlock> = fc.tuple(text, cacheControl).map(([t, cache]) =>
  withCache({ type: "text" as const, text: t }, cache)
)

const imageBlock: fc.Arbitrary<A.ContentBlock> = fc.constantFrom<A.ContentBlock>(
  { type: "image", source: { type: "base64", media_type: "image/png", data: "iVBORw0KGgo=" } },
  { type: "image", source: { type: "url", url: "https://example.com/a.png" } }
)

const unknownBlock: fc.Arbitrary<A.ContentBlock> = fc.constantFrom<A.ContentBlock>(
  { type: "server_tool_use", id: "srvtoolu_1", name: "web_search", input: { query: "q" } },
  { type: "web_search_tool_result", tool_use_id: "srvtoolu_1", content: [] },
  { type: "container_upload", file_id: "file_1" },
  { type: "search_result", title: "T", source: "https://s", content: [{ type: "text", text: "found" }] }
)

const thinkingBlock: fc.Arbitrary<A.ContentBlock> = fc.oneof(
  text.map((t): A.ContentBlock => ({ type: "thinking", thinking: t, signature: "sig" })),
  fc.constant<A.ContentBlock>({ type: "redacted_thinking", data: "opaque" })
)

const toolInput = fc.oneof(
  { weight: 5, arbitrary: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 4 }) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>({}, "raw string input", null) }
)

const toolResultContent = fc.oneof(
  fc.constant(undefined),
  text,
  fc.array(fc.oneof({ weight: 4, arbitrary: textBlock }, { weight: 1, arbitrary: imageBlock }), { maxLength: 3 }),
  fc.constant([{ type: "tool_reference", tool_name: "Bash" }])
)

/** One exchange: the assistant calls some tools; the user answers a subset, in any order, maybe twice. */
interface ExchangeSpec {
  readonly lead: ReadonlyArray<A.ContentBlock>
  readonly calls: ReadonlyArray<{ readonly name: string; readonly input: unknown }>
  readonly answered: ReadonlyArray<boolean>
  readonly order: ReadonlyArray<number>
  readonly duplicateFirst: boolean
  readonly orphan: boolean
  readonly results: ReadonlyArray<{ content: unknown; isError: boolean | undefined; cache: { type: string } | undefined }>
  readonly after: ReadonlyArray<A.ContentBlock>
  readonly systemTurn: string | undefined
  readonly splitUser: boolean
}

const exchange: fc.Arbitrary<ExchangeSpec> = fc.integer({ min: 0, max: 4 }).chain((n) =>
  fc.record({
    lead: fc.array(fc.oneof({ weight: 3, arbitrary: textBlock }, { weight: 1, arbitrary: thinkingBlock }), { maxLength: 2 }),
    calls: fc.array(fc.record({ name: fc.constantFrom(...TOOL_NAMES), input: toolInput }), { minLength: n, maxLength: n }),
    answered: fc.array(fc.boolean(), { minLength: n, maxLength: n }),
    order: fc.shuffledSubarray([...Array(n).keys()], { minLength: n, maxLength: n }),
    duplicateFirst: fc.boolean(),
    orphan: fc.boolean(),
    results: fc.array(
      fc.record({
        content: toolResultContent,
        isError: fc.option(fc.boolean(), { nil: undefined }),
        cache: cacheControl
      }),
      { minLength: n, maxLength: n }
    ),
    after: fc.array(fc.oneof({ weight: 4, arbitrary: textBlock }, { weight: 1, arbitrary: imageBlock }, { weight: 1, arbitrary: unknownBlock }), { maxLength: 2 }),
    systemTurn: fc.option(text, { nil: undefined }),
    splitUser: fc.boolean()
  })
)

/** A conversation: a first user turn, then exchanges; ids are unique within the request. */
const conversation: fc.Arbitrary<Array<A.Message>> = fc.tuple(
  fc.array(textBlock, { minLength: 1, maxLength: 2 }),
  fc.array(exchange, { maxLength: 5 }),
  fc.boolean(),
  fc.boolean()
).map(([first, exchanges, stringFirst, trailingAssistant]) => {
  let n = 0
  const messages: Array<A.Message> = [
    // Something to answer: a conversation of blank text only is refused, as Anthropic refuses it.
    { role: "user", content: stringFirst ? "first question" : [{ type: "text", text: "first question" }, ...first] }
  ]
  for (const spec of exchanges) {
    const ids = spec.calls.map(() => `toolu_${n++}`)
    const assistant: Array<A.ContentBlock> = [
      ...spec.lead,
      ...spec.calls.map((call, i): A.ContentBlock => ({ type: "tool_use", id: ids[i]!, name: call.name, input: call.input }))
    ]
    if (assistant.length === 0) assistant.push({ type: "text", text: "ok" })
    messages.push({ role: "assistant", content: assistant })
    if (spec.systemTurn !== undefined) messages.push({ role: "system", content: spec.systemTurn })
    const results: Array<A.ContentBlock> = []
    for (const i of spec.order) {
      if (!spec.answered[i]) continue
      const result = spec.results[i]!
      results.push(withCache({
        type: "tool_result" as const,
        tool_use_id: ids[i]!,
        ...(result.content === undefined ? {} : { content: result.content as A.ToolResultBlock["content"] }),
        ...(result.isError === undefined ? {} : { is_error: result.isError })
      }, result.cache))
    }
    if (spec.duplicateFirst && results.length > 0) results.push(results[0]!)
    if (spec.orphan) results.push({ type: "tool_result", tool_use_id: `toolu_orphan_${n++}`, content: "stray" })
    const user = [...results, ...spec.after]
    if (user.length === 0) user.push({ type: "text", text: "go on" })
    if (spec.splitUser && user.length > 1) {
      const half = Math.ceil(user.length / 2)
      messages.push({ role: "user", content: user.slice(0, half) }, { role: "user", content: user.slice(half) })
    } else {
      messages.push({ role: "user", content: user })
    }
  }
  if (trailingAssistant) messages.push({ role: "assistant", content: [{ type: "text", text: "Prefill" }] })
  return messages
})

const BILLING = "x-anthropic-billing-header: cc_version=2.1.330.abc; cc_entrypoint=sdk-cli;"

const system = fc.option(
  fc.oneof(
    text,
    fc.array(fc.tuple(fc.oneof(text, fc.constant(BILLING)), cacheControl).map(([t, cache]) =>
      withCache({ type: "text" as const, text: t }, cache)
    ), { maxLength: 4 })
  ),
  { nil: undefined }
)

const tool = (name: string) =>
  fc.record({ description: fc.option(text, { nil: undefined }), cache: cacheControl, defer: fc.boolean() }).map(
    ({ description, cache, defer }): A.Tool => ({
      name,
      ...(description === undefined ? {} : { description }),
      input_schema: { type: "object", properties: { arg: { type: "string" } }, $schema: "https://json-schema.org/draft/2020-12/schema" },
      ...(cache === undefined ? {} : { cache_control: cache }),
      ...(defer ? { defer_loading: true } : {})
    })
  )

const tools = fc.subarray([...TOOL_NAMES]).chain((names) =>
  fc.tuple(
    fc.tuple(...names.map(tool)),
    fc.boolean()
  ).map(([list, withServerTool]) => [
    ...list,
    ...(withServerTool ? [{ name: "web_search", type: "web_search_20250305", max_uses: 3 } as A.Tool] : [])
  ])
)

const thinking = fc.option(
  fc.oneof(
    fc.integer({ min: 1024, max: 30_000 }).map((budget): A.Thinking => ({ type: "enabled", budget_tokens: budget })),
    fc.constant<A.Thinking>({ type: "adaptive" }),
    fc.constant<A.Thinking>({ type: "disabled" })
  ),
  { nil: undefined }
)

/** A valid request (one the schema accepts), with every Anthropic-only field a client may send. */
export const messagesRequest: fc.Arbitrary<A.MessagesRequest> = fc.record({
  model: fc.constantFrom("claude-sonnet-4-6", "claude-opus-5-5", "claude-haiku-4-5"),
  max_tokens: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 200_000 })),
  messages: conversation,
  system,
  tools: fc.option(tools, { nil: undefined }),
  thinking,
  stream: fc.option(fc.boolean(), { nil: undefined }),
  temperature: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }),
  top_p: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }),
  top_k: fc.option(fc.integer({ min: 1, max: 500 }), { nil: undefined }),
  stop_sequences: fc.option(fc.array(fc.string({ maxLength: 5 }), { maxLength: 6 }), { nil: undefined }),
  user_id: fc.option(fc.string({ maxLength: 40 }), { nil: undefined }),
  effort: fc.option(fc.constantFrom("low", "medium", "high", "max", "bogus"), { nil: undefined }),
  extras: fc.boolean()
}).map((r): A.MessagesRequest => {
  const body: Record<string, unknown> = {
    model: r.model,
    // As the validation stage demands: max_tokens above the thinking budget.
    max_tokens: r.thinking?.type === "enabled" ? Math.max(r.max_tokens, r.thinking.budget_tokens + 1) : r.max_tokens,
    messages: r.messages
  }
  if (r.system !== undefined) body.system = r.system
  if (r.tools !== undefined) body.tools = r.tools
  if (r.thinking !== undefined) body.thinking = r.thinking
  if (r.stream !== undefined) body.stream = r.stream
  if (r.temperature !== undefined) body.temperature = r.temperature
  if (r.top_p !== undefined) body.top_p = r.top_p
  if (r.top_k !== undefined) body.top_k = r.top_k
  if (r.stop_sequences !== undefined) body.stop_sequences = r.stop_sequences
  if (r.user_id !== undefined) body.metadata = { user_id: r.user_id }
  if (r.effort !== undefined) body.output_config = { effort: r.effort }
  if (r.tools?.length) body.tool_choice = { type: "auto", disable_parallel_tool_use: r.extras }
  if (r.extras) {
    body.anthropic_version = "2023-06-01"
    body.anthropic_beta = ["interleaved-thinking-2025-05-14"]
    body.context_management = { edits: [{ type: "clear_thinking_20251015", keep: "all" }] }
    body.service_tier = "auto"
    body.container = "container_1"
    body.mcp_servers = [{ type: "url", url: "https://mcp.example.com", name: "x" }]
  }
  return body as A.MessagesRequest
})
