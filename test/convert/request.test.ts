import { describe, expect, it } from "@effect/vitest"
import { Result, Schema } from "effect"
import { readFileSync } from "node:fs"
import type { Provider } from "../../src/convert/models.ts"
import { type Converted, type Target, toChatRequest } from "../../src/convert/request.ts"
import { clientToolName } from "../../src/convert/tool-calls.ts"
import type { InvalidRequest } from "../../src/errors.ts"
import { MessagesRequest } from "../../src/protocol/anthropic.ts"
import type * as A from "../../src/protocol/anthropic.ts"
import type * as O from "../../src/protocol/openai.ts"

// ---------------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------------

const OPENAI: Target = { model: "gpt-4o", provider: "openai" }
const target = (model: string, provider: Provider = "openai"): Target => ({ model, provider })

const body = (fields: Partial<A.MessagesRequest> = {}): A.MessagesRequest => ({
  model: "claude-sonnet-4-5",
  max_tokens: 1024,
  messages: [{ role: "user", content: "hi" }],
  ...fields
})

const convert = (req: A.MessagesRequest, to: Target = OPENAI): Converted => {
  const result = toChatRequest(req, to)
  if (Result.isFailure(result)) throw new Error(`expected success, got: ${result.failure.message}`)
  return result.success
}

const rejection = (req: A.MessagesRequest, to: Target = OPENAI): InvalidRequest => {
  const result = toChatRequest(req, to)
  if (Result.isSuccess(result)) throw new Error(`expected InvalidRequest, got ${JSON.stringify(result.success.request)}`)
  expect(result.failure._tag).toBe("InvalidRequest")
  return result.failure
}

const messagesOf = (req: A.MessagesRequest, to: Target = OPENAI): Array<O.ChatMessage> => convert(req, to).request.messages

const toolUse = (id: string, name = "Read", input: unknown = { file_path: "/a" }): A.ContentBlock => ({
  type: "tool_use",
  id,
  name,
  input
})
const toolResult = (id: string, content?: A.ToolResultBlock["content"], extra: Record<string, unknown> = {}): A.ContentBlock => ({
  type: "tool_result",
  tool_use_id: id,
  ...(content === undefined ? {} : { content }),
  ...extra
})
const text = (value: string, extra: Record<string, unknown> = {}): A.ContentBlock => ({ type: "text", text: value, ...extra })
const pngBase64 = (data = "iVBORw0KGgo="): A.ContentBlock => ({
  type: "image",
  source: { type: "base64", media_type: "image/png", data }
})
const tool = (name: string, extra: Record<string, unknown> = {}): A.Tool => ({
  name,
  description: `${name} tool`,
  input_schema: { type: "object", properties: { x: { type: "string" } }, required: ["x"] },
  ...extra
})

/** A conversation whose assistant turn calls tools, answered by `answer`. */
const afterToolCalls = (calls: ReadonlyArray<A.ContentBlock>, answer: A.Message["content"]): A.MessagesRequest =>
  body({
    messages: [
      { role: "user", content: "go" },
      { role: "assistant", content: [...calls] },
      { role: "user", content: answer }
    ]
  })

// ---------------------------------------------------------------------------------------------------------------
// System prompt
// ---------------------------------------------------------------------------------------------------------------

describe("system", () => {
  it("a string becomes one leading system message", () => {
    expect(messagesOf(body({ system: "Be brief." }))).toEqual([
      { role: "system", content: "Be brief." },
      { role: "user", content: "hi" }
    ])
  })

  it("text blocks are joined with a blank line; cache_control is not carried over", () => {
    const [first] = messagesOf(
      body({ system: [text("Part one."), text("Part two.", { cache_control: { type: "ephemeral" } })] as Array<A.TextBlock> })
    )
    expect(first).toEqual({ role: "system", content: "Part one.\n\nPart two." })
  })

  it("strips Claude Code's per-request attribution block", () => {
    const converted = convert(
      body({
        system: [
          text("x-anthropic-billing-header: cc_version=2.1.330.821; cc_entrypoint=sdk-cli; cch=1a2b3;"),
          text("You are Claude Code.", { cache_control: { type: "ephemeral" } })
        ] as Array<A.TextBlock>
      })
    )
    expect(converted.request.messages[0]).toEqual({ role: "system", content: "You are Claude Code." })
    expect(converted.notes.some((note) => note.includes("billing-header"))).toBe(true)
  })

  it("strips the attribution line inside a string system prompt", () => {
    const [first] = messagesOf(body({ system: "x-anthropic-billing-header: cc_version=1; cch=ff;\nYou are Claude Code." }))
    expect(first).toEqual({ role: "system", content: "You are Claude Code." })
  })

  it("an empty system prompt sends no system message", () => {
    expect(messagesOf(body({ system: "" }))[0]?.role).toBe("user")
    expect(messagesOf(body({ system: [] }))[0]?.role).toBe("user")
  })

  it("a mid-conversation system message stays in place", () => {
    const messages = messagesOf(
      body({
        system: "top",
        messages: [
          { role: "user", content: "a" },
          { role: "system", content: [text("# Environment", { cache_control: { type: "ephemeral" } })] },
          { role: "assistant", content: "b" },
          { role: "system", content: "plain string" },
          { role: "user", content: "c" }
        ]
      })
    )
    expect(messages).toEqual([
      { role: "system", content: "top" },
      { role: "user", content: "a" },
      { role: "system", content: "# Environment" },
      { role: "assistant", content: "b" },
      { role: "system", content: "plain string" },
      { role: "user", content: "c" }
    ])
  })

  it("for self-hosted upstreams, system text moves to the one leading system message", () => {
    const request = body({
      system: "top",
      messages: [
        { role: "user", content: "a" },
        { role: "system", content: "# Environment" },
        { role: "user", content: [text("b"), { type: "image", source: { type: "url", url: "https://x/y.png" } }] },
        { role: "assistant", content: "c" }
      ]
    })
    for (const provider of ["generic", "ollama"] as const) {
      const converted = convert(request, target("qwen3-coder", provider))
      expect(converted.request.messages).toEqual([
        { role: "system", content: "top\n\n# Environment" },
        {
          role: "user",
          content: [
            { type: "text", text: "a" },
            { type: "text", text: "b" },
            { type: "image_url", image_url: { url: "https://x/y.png" } }
          ]
        },
        { role: "assistant", content: "c" }
      ])
      expect([...converted.notes].join()).toContain("moved mid-conversation system messages")
    }
  })
})

// ---------------------------------------------------------------------------------------------------------------
// User content
// ---------------------------------------------------------------------------------------------------------------

describe("user content", () => {
  it("text-only turns become string content, blocks merged with a blank line", () => {
    const messages = messagesOf(
      body({ messages: [{ role: "user", content: [text("<system-reminder>r</system-reminder>"), text("question")] }] })
    )
    expect(messages).toEqual([{ role: "user", content: "<system-reminder>r</system-reminder>\n\nquestion" }])
  })

  it("an image-only message has array content, never a bare object (SEED bug)", () => {
    const [message] = messagesOf(body({ messages: [{ role: "user", content: [pngBase64("AAAA")] }] }))
    expect(message).toEqual({
      role: "user",
      content: [{ type: "image_url", image_url: { url: "data:image/png;base64,AAAA" } }]
    })
  })

  it("URL images are accepted (SEED bug: 422)", () => {
    const [message] = messagesOf(
      body({ messages: [{ role: "user", content: [{ type: "image", source: { type: "url", url: "https://x.test/a.png" } }] }] })
    )
    expect(message).toEqual({ role: "user", content: [{ type: "image_url", image_url: { url: "https://x.test/a.png" } }] })
  })

  it("URL images to ollama are sent with a note (ollama wants data URLs)", () => {
    const converted = convert(
      body({ messages: [{ role: "user", content: [{ type: "image", source: { type: "url", url: "https://x.test/a.png" } }] }] }),
      target("llava", "ollama")
    )
    expect(converted.notes.some((note) => note.includes("ollama"))).toBe(true)
  })

  it("Files API images are refused", () => {
    const error = rejection(
      body({ messages: [{ role: "user", content: [{ type: "image", source: { type: "file", file_id: "file_1" } }] }] })
    )
    expect(error.message).toContain("file_id")
  })

  it("text and images keep their order; adjacent text merges", () => {
    const [message] = messagesOf(
      body({ messages: [{ role: "user", content: [text("look"), text("here:"), pngBase64("AA"), text("thanks")] }] })
    )
    expect(message).toEqual({
      role: "user",
      content: [
        { type: "text", text: "look\n\nhere:" },
        { type: "image_url", image_url: { url: "data:image/png;base64,AA" } },
        { type: "text", text: "thanks" }
      ]
    })
  })

  it("empty and blank text blocks are skipped; a message left empty is dropped", () => {
    const messages = messagesOf(
      body({
        messages: [
          { role: "user", content: [text(""), text("  \n")] },
          { role: "assistant", content: "" },
          { role: "user", content: [text(""), text("real")] }
        ]
      })
    )
    expect(messages).toEqual([{ role: "user", content: "real" }])
  })

  it("a request that ends up with no messages at all is refused", () => {
    expect(rejection(body({ messages: [{ role: "user", content: "" }] })).message).toContain("messages")
  })
})

describe("documents", () => {
  const doc = (source: Record<string, unknown>, extra: Record<string, unknown> = {}): A.MessagesRequest =>
    body({ messages: [{ role: "user", content: [{ type: "document", source, ...extra } as A.ContentBlock, text("summarise")] }] })
  const pdf = { type: "base64", media_type: "application/pdf", data: "JVBERi0x" }

  it("plain-text documents are inlined, prefixed with their title", () => {
    const [message] = messagesOf(doc({ type: "text", media_type: "text/plain", data: "The body." }, { title: "Notes", citations: { enabled: true } }))
    expect(message).toEqual({ role: "user", content: "Notes\n\nThe body.\n\nsummarise" })
  })

  it("content-source documents are inlined", () => {
    const [fromString] = messagesOf(doc({ type: "content", content: "Inline." }))
    expect(fromString).toEqual({ role: "user", content: "Inline.\n\nsummarise" })
    const [fromBlocks] = messagesOf(doc({ type: "content", content: [{ type: "text", text: "A" }, { type: "text", text: "B" }] }))
    expect(fromBlocks).toEqual({ role: "user", content: "A\nB\n\nsummarise" })
  })

  it.each(["openai", "openrouter"] as const)("base64 PDFs become file parts for %s", (provider) => {
    const [message] = messagesOf(doc(pdf, { title: "report" }), target("gpt-4o", provider))
    expect(message).toEqual({
      role: "user",
      content: [
        { type: "file", file: { filename: "report.pdf", file_data: "data:application/pdf;base64,JVBERi0x" } },
        { type: "text", text: "summarise" }
      ]
    })
  })

  it.each(["deepseek", "xai", "gemini", "ollama", "generic"] as const)("base64 PDFs are refused for %s, naming it", (provider) => {
    const error = rejection(doc(pdf), target("some-model", provider))
    expect(error.message).toContain(`"${provider}"`)
    expect(error.message).toContain("PDF")
  })

  it("URL documents go to OpenRouter (it fetches them) and are refused elsewhere", () => {
    const source = { type: "url", url: "https://x.test/a.pdf" }
    const [message] = messagesOf(doc(source), target("openai/gpt-4o", "openrouter"))
    expect(message).toEqual({
      role: "user",
      content: [{ type: "file", file: { filename: "document.pdf", file_data: "https://x.test/a.pdf" } }, { type: "text", text: "summarise" }]
    })
    expect(rejection(doc(source)).message).toContain("URL")
  })

  it("Files API documents are refused", () => {
    expect(rejection(doc({ type: "file", file_id: "file_1" })).message).toContain("file_id")
  })
})

// ---------------------------------------------------------------------------------------------------------------
// Assistant turns
// ---------------------------------------------------------------------------------------------------------------

describe("assistant turns", () => {
  it("tool_use becomes tool_calls: id verbatim, arguments a JSON string, content null", () => {
    const messages = messagesOf(afterToolCalls([toolUse("toolu_01ABC", "Read", { file_path: "/a", limit: 5 })], [toolResult("toolu_01ABC", "ok")]))
    expect(messages[1]).toEqual({
      role: "assistant",
      content: null,
      tool_calls: [{ id: "toolu_01ABC", type: "function", function: { name: "Read", arguments: '{"file_path":"/a","limit":5}' } }]
    })
  })

  it("assistant text is joined with a blank line and kept next to tool calls", () => {
    const messages = messagesOf(afterToolCalls([text("First."), text("Second."), toolUse("t1")], [toolResult("t1", "ok")]))
    expect(messages[1]).toMatchObject({ role: "assistant", content: "First.\n\nSecond." })
  })

  it("thinking is dropped for plain OpenAI, with a note", () => {
    const converted = convert(
      body({
        messages: [
          { role: "user", content: "q" },
          {
            role: "assistant",
            content: [
              { type: "thinking", thinking: "hmm", signature: "sig" },
              { type: "redacted_thinking", data: "xyz" },
              text("answer")
            ]
          },
          { role: "user", content: "more" }
        ]
      })
    )
    expect(converted.request.messages[1]).toEqual({ role: "assistant", content: "answer" })
    expect(converted.notes.some((note) => note.includes("thinking"))).toBe(true)
  })

  it("an assistant turn of only thinking is dropped for plain OpenAI", () => {
    const messages = messagesOf(
      body({
        messages: [
          { role: "user", content: "q" },
          { role: "assistant", content: [{ type: "thinking", thinking: "hmm", signature: "sig" }] },
          { role: "user", content: "again" }
        ]
      })
    )
    expect(messages).toEqual([
      { role: "user", content: "q" },
      { role: "user", content: "again" }
    ])
  })

  it("DeepSeek keeps thinking as reasoning_content (mandatory on tool-call turns), \"\" when there is none", () => {
    const messages = messagesOf(
      body({
        messages: [
          { role: "user", content: "q" },
          { role: "assistant", content: [{ type: "thinking", thinking: "Let me read it.", signature: "s" }, toolUse("call_1")] },
          { role: "user", content: [toolResult("call_1", "data")] },
          { role: "assistant", content: [toolUse("call_2")] },
          { role: "user", content: [toolResult("call_2", "more")] }
        ]
      }),
      target("deepseek-reasoner", "deepseek")
    )
    expect(messages[1]).toEqual({
      role: "assistant",
      content: null,
      tool_calls: [{ id: "call_1", type: "function", function: { name: "Read", arguments: '{"file_path":"/a"}' } }],
      reasoning_content: "Let me read it."
    })
    expect(messages[3]).toMatchObject({ role: "assistant", reasoning_content: "" })
  })

  it("a trailing assistant message (prefill) stays last", () => {
    const messages = messagesOf(
      body({ messages: [{ role: "user", content: "Write JSON" }, { role: "assistant", content: "{" }] })
    )
    expect(messages).toEqual([
      { role: "user", content: "Write JSON" },
      { role: "assistant", content: "{" }
    ])
  })
})

// ---------------------------------------------------------------------------------------------------------------
// Tool results
// ---------------------------------------------------------------------------------------------------------------

describe("tool results", () => {
  it("a string result becomes a tool message with exactly that content (SEED bug: Python repr)", () => {
    const messages = messagesOf(afterToolCalls([toolUse("toolu_3")], [toolResult("toolu_3", "CCC")]))
    expect(messages[2]).toEqual({ role: "tool", tool_call_id: "toolu_3", content: "CCC" })
  })

  it("parallel results then text: two tool messages, then the user text; tool_calls kept (SEED bug)", () => {
    const messages = messagesOf(
      afterToolCalls(
        [toolUse("toolu_1", "Read"), toolUse("toolu_2", "Grep", { pattern: "x" })],
        [toolResult("toolu_1", "AAA"), toolResult("toolu_2", "BBB"), text("<system-reminder>keep going</system-reminder>")]
      )
    )
    expect(messages).toEqual([
      { role: "user", content: "go" },
      {
        role: "assistant",
        content: null,
        tool_calls: [
          { id: "toolu_1", type: "function", function: { name: "Read", arguments: '{"file_path":"/a"}' } },
          { id: "toolu_2", type: "function", function: { name: "Grep", arguments: '{"pattern":"x"}' } }
        ]
      },
      { role: "tool", tool_call_id: "toolu_1", content: "AAA" },
      { role: "tool", tool_call_id: "toolu_2", content: "BBB" },
      { role: "user", content: "<system-reminder>keep going</system-reminder>" }
    ])
  })

  it("user text before the results still comes after the tool messages", () => {
    const messages = messagesOf(afterToolCalls([toolUse("t1")], [text("note"), toolResult("t1", "ok")]))
    expect(messages.slice(2)).toEqual([
      { role: "tool", tool_call_id: "t1", content: "ok" },
      { role: "user", content: "note" }
    ])
  })

  it("block results join their text with newlines; missing or null content is an empty string", () => {
    const messages = messagesOf(
      afterToolCalls(
        [toolUse("a"), toolUse("b"), toolUse("c")],
        [toolResult("a", [text("line 1"), text("line 2")] as Array<A.ToolResultContentBlock>), toolResult("b"), toolResult("c", null)]
      )
    )
    expect(messages.slice(2)).toEqual([
      { role: "tool", tool_call_id: "a", content: "line 1\nline 2" },
      { role: "tool", tool_call_id: "b", content: "" },
      { role: "tool", tool_call_id: "c", content: "" }
    ])
  })

  it("ToolSearch's tool_reference blocks become one \"Tool loaded: X\" line each (upstream tool name)", () => {
    const reference = (name: string) => ({ type: "tool_reference", tool_name: name }) as A.ToolResultContentBlock
    const converted = convert(
      {
        ...afterToolCalls(
          [toolUse("search", "ToolSearch", { query: "github" })],
          [toolResult("search", [reference("mcp__github__create.issue"), reference("WebFetch")])]
        ),
        tools: [tool("ToolSearch"), tool("mcp__github__create.issue"), tool("WebFetch")]
      }
    )
    const upstreamName = converted.request.tools?.[1]?.function.name
    expect(upstreamName).not.toBe("mcp__github__create.issue")
    expect(converted.request.messages[2]).toEqual({
      role: "tool",
      tool_call_id: "search",
      content: `Tool loaded: ${upstreamName}\nTool loaded: WebFetch`
    })
  })

  it("is_error results are marked for the model", () => {
    const messages = messagesOf(
      afterToolCalls([toolUse("a"), toolUse("b")], [toolResult("a", "permission denied", { is_error: true }), toolResult("b", undefined, { is_error: true })])
    )
    expect(messages.slice(2)).toEqual([
      { role: "tool", tool_call_id: "a", content: "Error: permission denied" },
      { role: "tool", tool_call_id: "b", content: "Error" }
    ])
  })

  it("images in results move to one user message after the tool messages, before the user's own content", () => {
    const messages = messagesOf(
      afterToolCalls(
        [toolUse("shot", "Screenshot", {}), toolUse("read", "Read")],
        [
          toolResult("shot", [text("screen"), pngBase64("IMG")] as Array<A.ToolResultContentBlock>),
          toolResult("read", "file text"),
          text("what do you see?"),
          pngBase64("MINE")
        ]
      )
    )
    expect(messages.slice(2)).toEqual([
      { role: "tool", tool_call_id: "shot", content: "screen\n(1 attachment(s) follow in the next user message)" },
      { role: "tool", tool_call_id: "read", content: "file text" },
      {
        role: "user",
        content: [
          { type: "text", text: "Attachments from the result of tool call shot (Screenshot):" },
          { type: "image_url", image_url: { url: "data:image/png;base64,IMG" } },
          { type: "text", text: "what do you see?" },
          { type: "image_url", image_url: { url: "data:image/png;base64,MINE" } }
        ]
      }
    ])
  })

  it("a PDF in a result moves to the user message as a file part", () => {
    const pdfBlock = { type: "document", source: { type: "base64", media_type: "application/pdf", data: "JVBE" } }
    const messages = messagesOf(afterToolCalls([toolUse("r")], [toolResult("r", [pdfBlock] as Array<A.ToolResultContentBlock>)]))
    expect(messages[2]).toEqual({ role: "tool", tool_call_id: "r", content: "(1 attachment(s) follow in the next user message)" })
    expect(messages[3]).toMatchObject({ role: "user", content: [{ type: "text" }, { type: "file" }] })
  })

  it("consecutive user turns are merged, so results split over them still follow the assistant", () => {
    const messages = messagesOf(
      body({
        messages: [
          { role: "user", content: "go" },
          { role: "assistant", content: [toolUse("a"), toolUse("b")] },
          { role: "user", content: [toolResult("a", "A"), text("between")] },
          { role: "user", content: [toolResult("b", "B")] }
        ]
      })
    )
    expect(messages.slice(2)).toEqual([
      { role: "tool", tool_call_id: "a", content: "A" },
      { role: "tool", tool_call_id: "b", content: "B" },
      { role: "user", content: "between" }
    ])
  })
})

describe("orphans", () => {
  const placeholder = (id: string) => ({ role: "tool", tool_call_id: id, content: expect.stringContaining("no result") })

  it("a tool call without a result gets a placeholder result, before the user's text", () => {
    const converted = convert(afterToolCalls([toolUse("a"), toolUse("b")], [toolResult("a", "A"), text("continue")]))
    expect(converted.request.messages.slice(2)).toEqual([
      { role: "tool", tool_call_id: "a", content: "A" },
      placeholder("b"),
      { role: "user", content: "continue" }
    ])
    expect(converted.notes.some((note) => note.includes("placeholder"))).toBe(true)
  })

  it("a tool call followed by another assistant turn or by nothing gets a placeholder", () => {
    const messages = messagesOf(
      body({
        messages: [
          { role: "user", content: "go" },
          { role: "assistant", content: [toolUse("a")] },
          { role: "assistant", content: [text("and then")] }
        ]
      })
    )
    // consecutive assistant turns merge (as Anthropic does), so "a" ends the conversation unanswered
    expect(messages.slice(1)).toEqual([
      { role: "assistant", content: "and then", tool_calls: [expect.objectContaining({ id: "a" })] },
      placeholder("a")
    ])
  })

  it("a tool call followed by a system message is closed before it", () => {
    const messages = messagesOf(
      body({
        messages: [
          { role: "user", content: "go" },
          { role: "assistant", content: [toolUse("a")] },
          { role: "system", content: "note" },
          { role: "user", content: [toolResult("a", "late")] }
        ]
      })
    )
    expect(messages.slice(2)).toEqual([
      placeholder("a"),
      { role: "system", content: "note" },
      { role: "user", content: "Tool result a:\nlate" }
    ])
  })

  it("a result with no matching tool call becomes user text, not a tool message", () => {
    const converted = convert(afterToolCalls([toolUse("a")], [toolResult("a", "A"), toolResult("ghost", "G", { is_error: true })]))
    expect(converted.request.messages.slice(2)).toEqual([
      { role: "tool", tool_call_id: "a", content: "A" },
      { role: "user", content: "Tool result ghost:\nError: G" }
    ])
    expect(converted.notes.some((note) => note.includes("ghost"))).toBe(true)
  })

  it("a second result for the same call becomes user text", () => {
    const messages = messagesOf(afterToolCalls([toolUse("a")], [toolResult("a", "first"), toolResult("a", "again")]))
    expect(messages.slice(2)).toEqual([
      { role: "tool", tool_call_id: "a", content: "first" },
      { role: "user", content: "Tool result a:\nagain" }
    ])
  })

  it("a result in the very first message has nothing to answer", () => {
    const messages = messagesOf(body({ messages: [{ role: "user", content: [toolResult("x", "X")] }] }))
    expect(messages).toEqual([{ role: "user", content: "Tool result x:\nX" }])
  })
})

// ---------------------------------------------------------------------------------------------------------------
// Tools and tool_choice
// ---------------------------------------------------------------------------------------------------------------

describe("tools", () => {
  it("become function tools; Anthropic-only tool fields are dropped", () => {
    const converted = convert(
      body({
        tools: [
          tool("Read", {
            cache_control: { type: "ephemeral" },
            defer_loading: true,
            eager_input_streaming: true,
            input_examples: [{ x: "1" }],
            allowed_callers: ["direct"],
            strict: true,
            type: "custom"
          })
        ]
      })
    )
    expect(converted.request.tools).toEqual([
      {
        type: "function",
        function: {
          name: "Read",
          description: "Read tool",
          parameters: { type: "object", properties: { x: { type: "string" } }, required: ["x"] }
        }
      }
    ])
  })

  it("a tool without description or schema gets an empty object schema and no description", () => {
    const converted = convert(body({ tools: [{ name: "Ping" }] }))
    expect(converted.request.tools).toEqual([{ type: "function", function: { name: "Ping", parameters: { type: "object", properties: {} } } }])
  })

  it("Anthropic-defined tools are dropped with a note", () => {
    const converted = convert(
      body({
        tools: [
          tool("Read"),
          { type: "web_search_20250305", name: "web_search", max_uses: 5 },
          { type: "web_fetch_20250910", name: "web_fetch" },
          { type: "code_execution_20250825", name: "code_execution" },
          { type: "tool_search_tool_regex_20251119", name: "tool_search_tool_regex" },
          { type: "bash_20250124", name: "bash" },
          { type: "text_editor_20250728", name: "str_replace_based_edit_tool" }
        ]
      })
    )
    expect(converted.request.tools?.map((t) => t.function.name)).toEqual(["Read"])
    expect(converted.notes.filter((note) => note.startsWith("dropped tool "))).toHaveLength(6)
  })

  it("when every tool was dropped, tools, tool_choice and parallel_tool_calls are all omitted", () => {
    const { request } = convert(
      body({
        tools: [{ type: "web_search_20250305", name: "web_search" }],
        tool_choice: { type: "tool", name: "web_search", disable_parallel_tool_use: true }
      })
    )
    expect(request).not.toHaveProperty("tools")
    expect(request).not.toHaveProperty("tool_choice")
    expect(request).not.toHaveProperty("parallel_tool_calls")
  })

  it("more than 128 tools is refused with a clear message; 128 is fine", () => {
    const tools = (n: number) => Array.from({ length: n }, (_, i) => tool(`t${i}`))
    expect(convert(body({ tools: tools(128) })).request.tools).toHaveLength(128)
    const error = rejection(body({ tools: tools(129) }))
    expect(error.message).toContain("129")
    expect(error.message).toContain("128")
  })

  it("server tools do not count towards the 128 limit", () => {
    const tools = [...Array.from({ length: 128 }, (_, i) => tool(`t${i}`)), { type: "web_search_20250305", name: "web_search" }]
    expect(convert(body({ tools })).request.tools).toHaveLength(128)
  })
})

describe("tool names", () => {
  const longName = `mcp__${"very_long_server_name_".repeat(4)}__do_the_thing`

  it("invalid characters become _, everywhere the name appears, with a reverse map", () => {
    const converted = convert(
      body({
        tools: [tool("mcp.server/search"), tool("Read")],
        tool_choice: { type: "tool", name: "mcp.server/search" },
        messages: [
          { role: "user", content: "go" },
          { role: "assistant", content: [toolUse("t1", "mcp.server/search", { q: "x" })] },
          { role: "user", content: [toolResult("t1", "found")] }
        ]
      })
    )
    const { request, toolNames } = converted
    expect(request.tools?.map((t) => t.function.name)).toEqual(["mcp_server_search", "Read"])
    expect(request.tool_choice).toEqual({ type: "function", function: { name: "mcp_server_search" } })
    expect(request.messages[1]).toMatchObject({ tool_calls: [{ function: { name: "mcp_server_search" } }] })
    expect(toolNames.get("mcp_server_search")).toBe("mcp.server/search")
    expect(toolNames.has("Read")).toBe(false) // unchanged names map to themselves without an entry
    expect(clientToolName(toolNames, "Read")).toBe("Read")
  })

  it("long names become a 55-character prefix, _ and an 8-character hash, deterministically", () => {
    const first = convert(body({ tools: [tool(longName)] }))
    const second = convert(body({ tools: [tool("other"), tool(longName)] }))
    const name = first.request.tools?.[0]?.function.name ?? ""
    expect(name).toMatch(/^[a-zA-Z0-9_-]{64}$/)
    expect(name.slice(0, 55)).toBe(longName.slice(0, 55))
    expect(name).toMatch(/_[0-9a-f]{8}$/)
    expect(second.request.tools?.[1]?.function.name).toBe(name)
    expect(first.toolNames.get(name)).toBe(longName)
  })

  it("collisions are resolved: valid names keep themselves, renamed ones get a hash", () => {
    const { request, toolNames } = convert(body({ tools: [tool("a.b"), tool("a_b"), tool("a b")] }))
    const names = request.tools?.map((t) => t.function.name) ?? []
    expect(names[1]).toBe("a_b")
    expect(new Set(names).size).toBe(3)
    for (const name of names) expect(name).toMatch(/^[a-zA-Z0-9_-]{1,64}$/)
    expect(names.map((n) => clientToolName(toolNames, n))).toEqual(["a.b", "a_b", "a b"])
  })

  it("long names sharing a prefix stay distinct", () => {
    const { request } = convert(body({ tools: [tool(`${longName}_one`), tool(`${longName}_two`)] }))
    const [one, two] = request.tools?.map((t) => t.function.name) ?? []
    expect(one).not.toBe(two)
  })
})

describe("tool_choice", () => {
  const withTools = (choice: A.ToolChoice | undefined) =>
    body({ tools: [tool("Read")], ...(choice === undefined ? {} : { tool_choice: choice }) })

  it.each([
    [{ type: "auto" }, "auto"],
    [{ type: "any" }, "required"],
    [{ type: "none" }, "none"], // SEED bug: 422
    [{ type: "tool", name: "Read" }, { type: "function", function: { name: "Read" } }]
  ] as const)("%j → %j", (choice, expected) => {
    expect(convert(withTools(choice)).request.tool_choice).toEqual(expected)
  })

  it("absent stays absent (SEED bug: always added auto)", () => {
    const { request } = convert(withTools(undefined))
    expect(request).not.toHaveProperty("tool_choice")
    expect(request).not.toHaveProperty("parallel_tool_calls")
  })

  it("disable_parallel_tool_use → parallel_tool_calls: false", () => {
    const { request } = convert(withTools({ type: "auto", disable_parallel_tool_use: true }))
    expect(request.parallel_tool_calls).toBe(false)
    expect(request.tool_choice).toBe("auto")
  })

  it("ollama gets no tool_choice, with a note", () => {
    const converted = convert(withTools({ type: "any" }), target("qwen3-coder:30b", "ollama"))
    expect(converted.request).not.toHaveProperty("tool_choice")
    expect(converted.request.tools).toHaveLength(1)
    expect(converted.notes.some((note) => note.includes("ollama"))).toBe(true)
  })

  it("forcing a dropped server tool drops tool_choice but keeps the other tools", () => {
    const converted = convert(
      body({ tools: [tool("Read"), { type: "web_search_20250305", name: "web_search" }], tool_choice: { type: "tool", name: "web_search" } })
    )
    expect(converted.request.tools).toHaveLength(1)
    expect(converted.request).not.toHaveProperty("tool_choice")
  })

  it("forcing a tool that is not declared is refused", () => {
    expect(rejection(withTools({ type: "tool", name: "Nope" })).message).toContain("Nope")
  })
})

// ---------------------------------------------------------------------------------------------------------------
// Limits, sampling, reasoning, misc
// ---------------------------------------------------------------------------------------------------------------

describe("output limit", () => {
  it.each([
    ["x-ai/grok-4-fast", "openai", 100, "max_tokens", 100], // SEED bug: replaced by the 30720 cap
    ["x-ai/grok-4-fast", "generic", 100000, "max_tokens", 30720],
    ["qwen/qwen3-30b-a3b-thinking-2507", "generic", 100, "max_tokens", 100],
    ["gpt-5", "openai", 32000, "max_completion_tokens", 32000], // SEED bug: no limit for reasoning targets
    ["gpt-5", "openai", 200000, "max_completion_tokens", 128000],
    ["o3", "openai", 150000, "max_completion_tokens", 100000],
    ["deepseek-chat", "deepseek", 32000, "max_tokens", 8192],
    ["llama3.1:8b", "ollama", 128000, "max_tokens", 128000],
    ["openai/gpt-5", "openrouter", 32000, "max_tokens", 32000]
  ] as const)("%s (%s): %i → %s %i", (model, provider, requested, field, expected) => {
    const { request } = convert(body({ max_tokens: requested }), target(model, provider))
    expect(request[field]).toBe(expected)
    expect(request).not.toHaveProperty(field === "max_tokens" ? "max_completion_tokens" : "max_tokens")
  })

  it("max_tokens 0 (cache pre-warm) is sent as 1", () => {
    const converted = convert(body({ max_tokens: 0 }))
    expect(converted.request.max_tokens).toBe(1)
    expect(converted.notes.some((note) => note.includes("max_tokens 0"))).toBe(true)
  })
})

describe("sampling", () => {
  it("temperature and top_p pass to plain chat models; top_k never does", () => {
    const converted = convert(body({ temperature: 0.2, top_p: 0.9, top_k: 40 }))
    expect(converted.request.temperature).toBe(0.2)
    expect(converted.request.top_p).toBe(0.9)
    expect(converted.request).not.toHaveProperty("top_k")
    expect(converted.notes.some((note) => note.includes("top_k"))).toBe(true)
  })

  it("temperature 0 is kept (not mistaken for absent)", () => {
    expect(convert(body({ temperature: 0 })).request.temperature).toBe(0)
  })

  it.each(["gpt-5", "o3", "deepseek-reasoner", "qwen/qwen3-235b-a22b-thinking-2507", "grok-3-mini"])(
    "%s gets no temperature or top_p",
    (model) => {
      const { request } = convert(body({ temperature: 1, top_p: 0.9 }), target(model))
      expect(request).not.toHaveProperty("temperature")
      expect(request).not.toHaveProperty("top_p")
    }
  )

  it("stop_sequences → stop, at most four", () => {
    expect(convert(body({ stop_sequences: ["A", "B"] })).request.stop).toEqual(["A", "B"])
    const converted = convert(body({ stop_sequences: ["1", "2", "3", "4", "5", "6"] }))
    expect(converted.request.stop).toEqual(["1", "2", "3", "4"])
    expect(converted.notes.some((note) => note.includes("first 4"))).toBe(true)
  })

  it("an empty stop list is omitted", () => {
    expect(convert(body({ stop_sequences: [] })).request).not.toHaveProperty("stop")
  })

  it.each([
    ["o3", "openai"],
    ["gpt-5", "openai"],
    ["grok-4", "xai"],
    ["grok-code-fast-1", "xai"]
  ] as const)("%s (%s) gets no stop", (model, provider) => {
    expect(convert(body({ stop_sequences: ["END"] }), target(model, provider)).request).not.toHaveProperty("stop")
  })
})

describe("reasoning", () => {
  const thinkingBudget = (budget: number): Partial<A.MessagesRequest> => ({
    max_tokens: 64000,
    thinking: { type: "enabled", budget_tokens: budget }
  })

  it.each([
    [1024, "low"],
    [4095, "low"],
    [4096, "medium"],
    [16383, "medium"],
    [16384, "high"],
    [31999, "high"]
  ] as const)("budget %i → %s", (budget, effort) => {
    expect(convert(body(thinkingBudget(budget)), target("gpt-5")).request.reasoning_effort).toBe(effort)
  })

  it.each([
    ["gpt-5", "low", "low"],
    ["gpt-5", "xhigh", "high"],
    ["gpt-5", "max", "high"],
    ["gpt-5.2", "max", "xhigh"],
    ["o3", "medium", "medium"],
    ["grok-3-mini", "medium", "high"],
    ["deepseek-reasoner", "max", "max"]
  ] as const)("%s: adaptive + effort %s → %s", (model, effort, expected) => {
    const { request } = convert(body({ thinking: { type: "adaptive" }, output_config: { effort } }), target(model))
    expect(request.reasoning_effort).toBe(expected)
  })

  it("adaptive without an effort → medium", () => {
    expect(convert(body({ thinking: { type: "adaptive" } }), target("gpt-5")).request.reasoning_effort).toBe("medium")
  })

  it("output_config.effort without thinking still sets the effort", () => {
    expect(convert(body({ output_config: { effort: "low" } }), target("o4-mini")).request.reasoning_effort).toBe("low")
  })

  it("thinking disabled is accepted and sends nothing (SEED bug: 422)", () => {
    const { request } = convert(body({ thinking: { type: "disabled" }, output_config: { effort: "high" } }), target("gpt-5"))
    expect(request).not.toHaveProperty("reasoning_effort")
    expect(request).not.toHaveProperty("reasoning")
  })

  it("a model that takes no reasoning_effort gets none, with a note", () => {
    const converted = convert(body(thinkingBudget(8000)), target("gpt-4o"))
    expect(converted.request).not.toHaveProperty("reasoning_effort")
    expect(converted.notes.some((note) => note.includes("thinking"))).toBe(true)
  })

  it("DeepSeek reasoner gets reasoning_effort", () => {
    expect(convert(body(thinkingBudget(20000)), target("deepseek-reasoner", "deepseek")).request.reasoning_effort).toBe("high")
  })

  it("OpenRouter gets a reasoning object with the exact budget and no reasoning_effort", () => {
    const { request } = convert(body(thinkingBudget(8000)), target("openai/gpt-5", "openrouter"))
    expect(request.reasoning).toEqual({ max_tokens: 8000 })
    expect(request).not.toHaveProperty("reasoning_effort")
  })

  it("OpenRouter adaptive → reasoning.effort, unclamped", () => {
    const { request } = convert(body({ thinking: { type: "adaptive" }, output_config: { effort: "xhigh" } }), target("openai/gpt-5", "openrouter"))
    expect(request.reasoning).toEqual({ effort: "xhigh" })
  })

  it("OpenRouter grok-4-fast with thinking gets reasoning (SEED bug: nothing was sent)", () => {
    const { request } = convert(body(thinkingBudget(4000)), target("x-ai/grok-4-fast", "openrouter"))
    expect(request.reasoning).toEqual({ max_tokens: 4000 })
  })

  it("OpenRouter: the budget stays below a max_tokens lowered by the output cap", () => {
    const { request } = convert(body({ max_tokens: 40000, thinking: { type: "enabled", budget_tokens: 31999 } }), target("x-ai/grok-code-fast-1", "openrouter"))
    expect(request.max_tokens).toBe(10000)
    expect(request.reasoning).toEqual({ max_tokens: 9999 })
  })
})

describe("user and stream", () => {
  it("metadata.user_id → a short stable hash", () => {
    const userId = JSON.stringify({ device_id: "d".repeat(64), account_uuid: "", session_id: "00000000-0000-4000-8000-000000000000" })
    const first = convert(body({ metadata: { user_id: userId } })).request.user
    expect(first).toMatch(/^u_[0-9a-f]{32}$/)
    expect(convert(body({ metadata: { user_id: userId } })).request.user).toBe(first)
    expect(convert(body({ metadata: { user_id: "someone-else" } })).request.user).not.toBe(first)
    expect(convert(body()).request).not.toHaveProperty("user")
  })

  it.each(["gemini", "ollama"] as const)("%s gets no user (it does not take the field)", (provider) => {
    const converted = convert(body({ metadata: { user_id: "someone" } }), target("gemini-2.5-flash", provider))
    expect(converted.request).not.toHaveProperty("user")
    expect(converted.notes.some((note) => note.includes("user_id"))).toBe(true)
  })

  it("stream: true asks for usage in the stream", () => {
    const { request } = convert(body({ stream: true }))
    expect(request.stream).toBe(true)
    expect(request.stream_options).toEqual({ include_usage: true })
  })

  it("non-streaming requests carry neither stream nor stream_options", () => {
    const { request } = convert(body({ stream: false }))
    expect(request).not.toHaveProperty("stream")
    expect(request).not.toHaveProperty("stream_options")
  })
})

// ---------------------------------------------------------------------------------------------------------------
// Nothing Anthropic-only reaches the upstream
// ---------------------------------------------------------------------------------------------------------------

const ANTHROPIC_ONLY_KEYS = [
  "cache_control",
  "context_management",
  "output_config",
  "thinking",
  "metadata",
  "container",
  "mcp_servers",
  "service_tier",
  "citations",
  "top_k",
  "stop_sequences",
  "budget_tokens",
  "signature",
  "defer_loading",
  "eager_input_streaming",
  "input_examples",
  "allowed_callers",
  "strict",
  "inference_geo",
  "speed",
  "disable_parallel_tool_use",
  "is_error",
  "tool_use_id",
  "input_schema",
  "display"
]

/**
 * Every object key in the request, except inside tool schemas (the client's own JSON Schema, passed on as is) and
 * inside OpenRouter's reasoning_details (its own items, whose `signature` is OpenRouter's field).
 */
const keysOf = (value: unknown, keys = new Set<string>()): Set<string> => {
  if (Array.isArray(value)) for (const item of value) keysOf(item, keys)
  else if (typeof value === "object" && value !== null) {
    for (const [key, inner] of Object.entries(value)) {
      keys.add(key)
      if (key !== "parameters" && key !== "reasoning_details") keysOf(inner, keys)
    }
  }
  return keys
}

const expectNoAnthropicKeys = (request: O.ChatRequest) => {
  const keys = keysOf(JSON.parse(JSON.stringify(request)))
  for (const key of ANTHROPIC_ONLY_KEYS) expect(keys.has(key), `"${key}" leaked into ${[...keys].join(",")}`).toBe(false)
}

const ephemeral = { cache_control: { type: "ephemeral", ttl: "1h" } }

/** As much Anthropic-only surface as Claude Code (and the API) can put in one body. */
const maximalBody = (): A.MessagesRequest => ({
  model: "claude-opus-4-7",
  max_tokens: 32000,
  stream: true,
  temperature: 1,
  top_p: 0.99,
  top_k: 5,
  stop_sequences: ["</done>"],
  system: [
    text("x-anthropic-billing-header: cc_version=2.1.330.821; cc_entrypoint=cli; cch=abcde;"),
    text("You are Claude Code.", ephemeral),
    text("Main prompt.", { ...ephemeral, citations: null })
  ] as Array<A.TextBlock>,
  tools: [
    tool("Bash", { ...ephemeral, strict: true, eager_input_streaming: true, input_examples: [{ x: "ls" }], allowed_callers: ["direct"] }),
    tool("mcp__srv__deferred.tool", { defer_loading: true }),
    { type: "web_search_20250305", name: "web_search", max_uses: 3, allowed_domains: ["x.test"], ...ephemeral },
    { type: "bash_20250124", name: "bash" }
  ],
  tool_choice: { type: "auto", disable_parallel_tool_use: true },
  thinking: { type: "enabled", budget_tokens: 8000, display: "summarized" },
  output_config: { effort: "high", format: { type: "json_schema", schema: {} } },
  metadata: { user_id: '{"device_id":"abc","account_uuid":"","session_id":"s"}' },
  context_management: { edits: [{ type: "clear_thinking_20251015", keep: "all" }] },
  container: { id: "cntr_1", skills: [] },
  mcp_servers: [{ type: "url", name: "srv", url: "https://mcp.test", authorization_token: "secret" }],
  service_tier: "auto",
  inference_geo: "us",
  speed: "fast",
  cache_control: { type: "ephemeral" },
  messages: [
    {
      role: "user",
      content: [
        text("<system-reminder>ctx</system-reminder>", ephemeral),
        { type: "image", source: { type: "base64", media_type: "image/png", data: "AA" }, ...ephemeral },
        { type: "document", source: { type: "text", media_type: "text/plain", data: "doc" }, title: "T", citations: { enabled: true }, ...ephemeral },
        text("Do it")
      ]
    },
    { role: "system", content: [text("# Environment", ephemeral)], output_config: { effort: "medium" } },
    {
      role: "assistant",
      content: [
        { type: "thinking", thinking: "plan", signature: "sig", ...ephemeral },
        { type: "redacted_thinking", data: "opaque" },
        { type: "server_tool_use", id: "srvtoolu_1", name: "web_search", input: { query: "q" } },
        { type: "web_search_tool_result", tool_use_id: "srvtoolu_1", content: [] },
        text("Running.", { citations: [{ type: "char_location" }] }),
        { type: "tool_use", id: "toolu_1", name: "Bash", input: { x: "ls" }, caller: { type: "direct" }, ...ephemeral },
        { type: "tool_use", id: "toolu_2", name: "mcp__srv__deferred.tool", input: {} }
      ]
    },
    {
      role: "user",
      content: [
        { type: "tool_result", tool_use_id: "toolu_1", is_error: false, content: [text("out", ephemeral), pngBase64()], ...ephemeral },
        { type: "tool_result", tool_use_id: "toolu_2", is_error: true, content: "boom" },
        { type: "tool_reference", tool_name: "x" },
        text("<system-reminder>later</system-reminder>", ephemeral)
      ]
    }
  ]
})

describe("allow-list", () => {
  it.each(["openai", "openrouter", "deepseek", "xai", "gemini", "ollama", "generic"] as const)(
    "no Anthropic-only key reaches a %s upstream",
    (provider) => {
      const model = provider === "openrouter" ? "anthropic/claude-sonnet-4.5" : "gpt-5"
      expectNoAnthropicKeys(convert(maximalBody(), target(model, provider)).request)
    }
  )

  it("OpenRouter → Claude gets the history's thinking as reasoning_details, nothing Anthropic-only around it", () => {
    const { request } = convert(maximalBody(), target("anthropic/claude-sonnet-4.5", "openrouter"))
    const assistant = request.messages.find((m) => m.role === "assistant")
    expect(assistant?.role === "assistant" && assistant.reasoning_details).toEqual([
      { type: "reasoning.text", text: "plan", signature: "sig", format: "anthropic-claude-v1" },
      { type: "reasoning.encrypted", data: "opaque", format: "anthropic-claude-v1" }
    ])
  })

  it("the maximal body converts into a well-formed conversation", () => {
    const { request, toolNames } = convert(maximalBody(), target("gpt-5"))
    expect(request.messages.map((m) => m.role)).toEqual(["system", "user", "system", "assistant", "tool", "tool", "user"])
    expect(request.messages[0]).toEqual({ role: "system", content: "You are Claude Code.\n\nMain prompt." })
    expect(request.messages[3]).toMatchObject({ content: "Running.", tool_calls: [{ id: "toolu_1" }, { id: "toolu_2" }] })
    expect(request.messages[5]).toEqual({ role: "tool", tool_call_id: "toolu_2", content: "Error: boom" })
    expect(request.tools?.map((t) => t.function.name)).toEqual(["Bash", "mcp__srv__deferred_tool"])
    expect(toolNames.get("mcp__srv__deferred_tool")).toBe("mcp__srv__deferred.tool")
    expect(request.parallel_tool_calls).toBe(false)
    expect(request.reasoning_effort).toBe("high")
    expect(request.max_completion_tokens).toBe(32000)
  })
})

// ---------------------------------------------------------------------------------------------------------------
// Real Claude Code bodies (captured from the CLI: test/fixtures/claude-code/NOTES.md)
// ---------------------------------------------------------------------------------------------------------------

const fixture = (name: string): A.MessagesRequest =>
  Schema.decodeUnknownSync(MessagesRequest)(
    JSON.parse(readFileSync(new URL(`../fixtures/claude-code/${name}`, import.meta.url), "utf8"))
  )

describe("Claude Code fixtures", () => {
  it("first turn → gpt-5", () => {
    const { request, notes } = convert(fixture("first-turn.request.json"), target("gpt-5"))
    expectNoAnthropicKeys(request)
    const [system, user, environment] = request.messages
    expect(system?.role).toBe("system")
    expect(system?.content).toMatch(/^You are a Claude agent/)
    expect(JSON.stringify(request)).not.toContain("x-anthropic-billing-header")
    expect(user?.role).toBe("user")
    expect(typeof user?.content).toBe("string")
    expect(user?.content).toContain("<system-reminder>")
    expect(environment).toMatchObject({ role: "system", content: expect.stringMatching(/^# Environment/) })
    expect(request.messages).toHaveLength(3)
    expect(request.tools).toHaveLength(12)
    for (const t of request.tools ?? []) expect(t.function.name).toMatch(/^[a-zA-Z0-9_-]{1,64}$/)
    expect(request.max_completion_tokens).toBe(128000)
    expect(request.reasoning_effort).toBe("medium")
    expect(request.stream_options).toEqual({ include_usage: true })
    expect(request.user).toMatch(/^u_[0-9a-f]{32}$/)
    expect(request).not.toHaveProperty("tool_choice")
    expect(notes.length).toBeGreaterThan(0)
  })

  it("tool turn → deepseek: the Bash call is answered right after the assistant turn", () => {
    const { request } = convert(fixture("tool-turn-2.request.json"), target("deepseek-reasoner", "deepseek"))
    expectNoAnthropicKeys(request)
    expect(request.messages.map((m) => m.role)).toEqual(["system", "user", "system", "assistant", "tool"])
    expect(request.messages[3]).toEqual({
      role: "assistant",
      content: null,
      tool_calls: [
        {
          id: "toolu_01TEST",
          type: "function",
          function: { name: "Bash", arguments: '{"command":"echo hi > out.txt","description":"write file"}' }
        }
      ],
      reasoning_content: ""
    })
    expect(request.messages[4]).toEqual({ role: "tool", tool_call_id: "toolu_01TEST", content: "(Bash completed with no output)" })
    expect(request.max_tokens).toBe(65536)
    expect(request.reasoning_effort).toBe("medium")
  })
})
