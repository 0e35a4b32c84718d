/**
 * A reply transformer: words from a list are replaced in the model's text on its way to the client, both in
 * streamed replies (as the text deltas pass) and in whole (non-streamed) ones.
 *
 * In ccproxy.json:
 *
 *   "stages": [{ "module": "./stages/redact-words.ts", "options": { "words": ["Project Falcon"], "replacement": "[redacted]" } }]
 *
 * With no before/after it sits just before the core, so it sees the reply as converted from the upstream, before
 * the cache stores it: a cached answer is stored redacted. Matching ignores case and does not look for word
 * boundaries (a listed word inside a longer one is replaced too): for redaction, too much beats too little.
 *
 * Only text is rewritten; thinking and tool input pass untouched.
 */
import type { Anthropic, ProxyReply, Stage } from "ccproxy"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"

interface Options {
  readonly words: ReadonlyArray<string>
  readonly replacement: string
}

const readOptions = (options: unknown): Options => {
  const { words, replacement = "[redacted]" } = (options ?? {}) as { readonly words?: unknown; readonly replacement?: unknown }
  if (!Array.isArray(words) || words.length === 0 || !words.every((word) => typeof word === "string" && word !== "")) {
    throw new Error("options.words must be a list of non-empty strings")
  }
  if (typeof replacement !== "string") throw new Error("options.replacement must be a string")
  return { words, replacement }
}

export const make = (options: unknown): Stage => {
  const redactor = makeRedactor(readOptions(options))
  return {
    name: "redact-words",
    wrap: (next) => (request) => Effect.map(next(request), (reply) => redactReply(reply, redactor))
  }
}

/** A reply has two forms; a transformer that handled only streams would let whole messages through unredacted. */
const redactReply = (reply: ProxyReply, redactor: Redactor): ProxyReply =>
  reply._tag === "Message"
    ? {
      ...reply,
      message: {
        ...reply.message,
        content: reply.message.content.map((block) => (block.type === "text" ? { ...block, text: redactor.redact(block.text) } : block))
      }
    }
    : { ...reply, events: redactEvents(reply.events, redactor) }

/**
 * The streamed form. A word may arrive split over two deltas ("Project Fal" + "con"), so each text block holds back
 * the end of its text that could still be the start of a word, and sends it with the block's next delta or just
 * before the block stops. The state is one map per stream (`mapAccum` makes it when the stream starts).
 */
const redactEvents = <E, R>(events: Stream.Stream<Anthropic.StreamEvent, E, R>, redactor: Redactor) =>
  Stream.mapAccum(events, () => new Map<number, string>(), (held, event): readonly [Map<number, string>, ReadonlyArray<Anthropic.StreamEvent>] => {
    if (event.type === "content_block_start" && event.content_block.type === "text") {
      // The opening text (usually empty) goes through the same hold-back as the deltas.
      held.set(event.index, event.content_block.text)
      return [held, [{ ...event, content_block: { ...event.content_block, text: "" } }]]
    }
    if (event.type === "content_block_delta" && event.delta.type === "text_delta" && held.has(event.index)) {
      const { ready, rest } = redactor.split(held.get(event.index)! + event.delta.text)
      held.set(event.index, rest)
      return [held, ready === "" ? [] : [{ ...event, delta: { type: "text_delta", text: ready } }]]
    }
    if (event.type === "content_block_stop" && held.has(event.index)) {
      const rest = redactor.redact(held.get(event.index)!)
      held.delete(event.index)
      const flush: Array<Anthropic.StreamEvent> = rest === "" ? [] : [{ type: "content_block_delta", index: event.index, delta: { type: "text_delta", text: rest } }]
      return [held, [...flush, event]]
    }
    return [held, [event]]
  })

interface Redactor {
  /** The text with every listed word replaced. */
  readonly redact: (text: string) => string
  /** Text received so far → what can be sent now (redacted) and what must wait for more text. */
  readonly split: (text: string) => { readonly ready: string; readonly rest: string }
}

const makeRedactor = ({ words, replacement }: Options): Redactor => {
  // Longest first, so that of two listed words where one begins the other, the longer one is replaced whole.
  const sorted = [...words].sort((a, b) => b.length - a.length)
  const lowered = sorted.map((word) => word.toLowerCase())
  const pattern = new RegExp(sorted.map((word) => word.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|"), "gi")
  const longest = sorted[0]!.length

  const redact = (text: string) => text.replace(pattern, replacement)

  /** Could `tail` be the beginning of a listed word that the next text completes? */
  const startsAWord = (tail: string) => {
    const lower = tail.toLowerCase()
    return lowered.some((word) => word.length > lower.length && word.startsWith(lower))
  }

  const split = (text: string) => {
    const matches = Array.from(text.matchAll(pattern), (match) => ({ start: match.index, end: match.index + match[0].length }))
    // Hold back from the earliest position whose tail could begin a word. A match found in the text that this cut
    // would split is sent whole (redacted) instead, and the search goes on after it.
    let from = Math.max(0, text.length - longest + 1)
    let cut = text.length
    for (;;) {
      cut = text.length
      for (let at = from; at < text.length; at++) {
        if (startsAWord(text.slice(at))) {
          cut = at
          break
        }
      }
      const across = matches.find((match) => match.start < cut && match.end > cut)
      if (across === undefined) break
      from = across.end
    }
    return { ready: redact(text.slice(0, cut)), rest: text.slice(cut) }
  }

  return { redact, split }
}
