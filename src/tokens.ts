/**
 * Local token counting for `/v1/messages/count_tokens`. The encoder (o200k_base, the GPT-4o/GPT-5 vocabulary) is
 * built once, on the first count: it takes ~0.7 s of CPU and ~70 MB of heap (~135 MB of RSS), which a proxy that is
 * never asked to count should not carry. Counting never calls the upstream and is not on the proxy's hot path.
 */
import * as Context from "effect/Context"
import * as Layer from "effect/Layer"
import { Tiktoken } from "js-tiktoken/lite"
import type { TiktokenBPE } from "js-tiktoken/lite"
import { createRequire } from "node:module"
import type { CountTokensRequest, Message, Tool } from "./protocol/anthropic.ts"
import { imageTokens, pdfTokens } from "./tokens/media.ts"

export interface TokenizerShape {
  readonly countText: (text: string) => number
  readonly countRequest: (request: CountTokensRequest) => number
}

/** Chat formats add a few tokens around every message and the tool list; these mirror OpenAI's accounting. */
const PER_MESSAGE = 3
const PER_TOOL = 8
const TOOLS_OVERHEAD = 12

/**
 * BPE merging is quadratic in the length of one pre-token, and a long run without whitespace (base64, minified
 * code) is a single pre-token. Such runs are estimated at 3 characters per token instead of being encoded.
 */
const LONG_RUN = /\S{2000,}/g

const encodeCount = (encoder: Tiktoken, text: string): number => {
  if (text.length < 2000) return encoder.encode(text).length
  let total = 0
  let last = 0
  for (const match of text.matchAll(LONG_RUN)) {
    total += encoder.encode(text.slice(last, match.index)).length + Math.ceil(match[0].length / 3)
    last = match.index + match[0].length
  }
  return total + encoder.encode(text.slice(last)).length
}

/**
 * Claude Code calls count_tokens many times in a row with mostly the same system prompt, tools and history, and
 * counting runs on the event loop. Counts of longer texts are kept in an LRU bounded by total characters.
 */
const CACHE_MIN_CHARS = 256
const CACHE_MAX_CHARS = 32 * 1024 * 1024

const makeCounter = (encoder: Tiktoken) => {
  const cache = new Map<string, number>()
  let cachedChars = 0
  return (text: string): number => {
    if (text.length < CACHE_MIN_CHARS) return text.length === 0 ? 0 : encoder.encode(text).length
    const hit = cache.get(text)
    if (hit !== undefined) {
      cache.delete(text)
      cache.set(text, hit)
      return hit
    }
    const count = encodeCount(encoder, text)
    if (text.length <= CACHE_MAX_CHARS / 4) {
      cache.set(text, count)
      cachedChars += text.length
      for (const oldest of cache.keys()) {
        if (cachedChars <= CACHE_MAX_CHARS) break
        cache.delete(oldest)
        cachedChars -= oldest.length
      }
    }
    return count
  }
}

const json = (value: unknown): string => (value === undefined ? "" : JSON.stringify(value) ?? "")

type Block = Exclude<Message["content"], string>[number]

const countBlocks = (countText: (text: string) => number) => {
  const block = (b: Block): number => {
    switch (b.type) {
      case "text":
        return countText((b as { text: string }).text)
      case "image":
        return imageTokens((b as { source: { type: string; data?: string } }).source)
      case "document": {
        const source = (b as { source: { type: string; media_type?: string; data?: unknown; content?: unknown } }).source
        if (source.type === "base64" && typeof source.data === "string") return pdfTokens(source.data)
        if (source.type === "text" && typeof source.data === "string") return countText(source.data)
        return countText(json(source.content ?? source))
      }
      case "tool_use": {
        const use = b as { name: string; input: unknown }
        return countText(use.name) + countText(json(use.input))
      }
      case "tool_result": {
        const result = b as { content?: unknown }
        if (typeof result.content === "string") return countText(result.content) + PER_MESSAGE
        if (Array.isArray(result.content)) return result.content.reduce((n: number, c: Block) => n + block(c), PER_MESSAGE)
        return PER_MESSAGE
      }
      case "thinking":
        return countText((b as { thinking: string }).thinking)
      case "redacted_thinking":
        return Math.ceil((b as { data: string }).data.length / 4)
      default:
        return countText(json(b))
    }
  }
  return block
}

export const makeTokenizer = (encoder: Tiktoken): TokenizerShape => {
  const countText = makeCounter(encoder)
  const countBlock = countBlocks(countText)
  const countMessage = (message: Message): number =>
    PER_MESSAGE +
    (typeof message.content === "string"
      ? countText(message.content)
      : message.content.reduce((n, b) => n + countBlock(b), 0))
  const countTool = (tool: Tool): number =>
    PER_TOOL + countText(tool.name) + countText(tool.description ?? "") + countText(json(tool.input_schema))
  return {
    countText,
    countRequest: (request) => {
      const system = request.system === undefined
        ? 0
        : typeof request.system === "string"
        ? countText(request.system)
        : request.system.reduce((n, b) => n + countText(b.text), 0)
      const tools = request.tools?.length ? TOOLS_OVERHEAD + request.tools.reduce((n, t) => n + countTool(t), 0) : 0
      return system + tools + request.messages.reduce((n, m) => n + countMessage(m), 0)
    }
  }
}

/** The o200k ranks (a few MB of text), loaded with the encoder rather than at start. */
const loadRanks = (): TiktokenBPE => createRequire(import.meta.url)("js-tiktoken/ranks/o200k_base") as TiktokenBPE

/** Builds the encoder on first use, then reuses it. */
export const makeLazyTokenizer = (): TokenizerShape => {
  let built: TokenizerShape | undefined
  const get = () => (built ??= makeTokenizer(new Tiktoken(loadRanks())))
  return {
    countText: (text) => get().countText(text),
    countRequest: (request) => get().countRequest(request)
  }
}

export class Tokenizer extends Context.Service<Tokenizer, TokenizerShape>()("ccproxy/Tokenizer") {
  static readonly layer = Layer.sync(this, makeLazyTokenizer)
}
