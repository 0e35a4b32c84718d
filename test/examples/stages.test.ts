/**
 * The example stages in examples/stages/, configured by examples/ccproxy.json exactly as shipped (its providers'
 * base URL and key come from the environment), through a real proxy and a scripted upstream: the request rewrite
 * as the upstream receives it, the reply transformer as the client receives it, streamed and whole. The transformer
 * is also driven directly with a text split at every position, where a word straddles two deltas.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Scope, Stream } from "effect"
import * as Path from "node:path"
import { make as redactWords } from "../../examples/stages/redact-words.ts"
import type { ProxyReply, ProxyRequest } from "../../src/index.ts"
import type { StreamEvent } from "../../src/protocol/anthropic.ts"
import { sseCassette } from "../../src/upstream/cassette.ts"
import { jsonBody, post, sseEvents, streamBody, streamText } from "../fault/client.ts"
import { type ConfigProxy, readConfig, startProxy } from "../support/config-proxy.ts"
import { completionCassette, type ScriptedUpstream, startScriptedUpstream } from "../support/scripted-upstream.ts"

const EXAMPLE_CONFIG = Path.resolve(import.meta.dirname, "../../examples/ccproxy.json")

const completion = (content: string) => completionCassette(content)

/** A streamed answer whose text arrives in these pieces, one chunk each. */
const streamed = (pieces: ReadonlyArray<string>) =>
  sseCassette("example", [
    ...pieces.map((content, i) => ({ choices: [{ index: 0, delta: i === 0 ? { role: "assistant", content } : { content } }] })),
    { choices: [{ index: 0, delta: {}, finish_reason: "stop" }], usage: { prompt_tokens: 5, completion_tokens: 2 } }
  ])

describe("examples/ccproxy.json", () => {
  let upstream: ScriptedUpstream
  let proxy: ConfigProxy
  let close: () => Promise<void>

  beforeAll(async () => {
    upstream = await startScriptedUpstream()
    const started = Effect.gen(function*() {
      const config = yield* readConfig(Path.dirname(EXAMPLE_CONFIG), {
        CCPROXY_CONFIG: EXAMPLE_CONFIG,
        OPENAI_BASE_URL: upstream.url,
        OPENAI_API_KEY: "sk-example-0123456789"
      })
      return yield* startProxy(config)
    })
    // The proxy lives until afterAll closes its scope.
    const scope = Effect.runSync(Scope.make())
    proxy = await Effect.runPromise(Scope.provide(started, scope))
    close = () => Effect.runPromise(Scope.close(scope, Exit.void))
  })

  afterAll(async () => {
    await close?.()
    await upstream?.close()
  })

  const systemSent = () => {
    const messages = upstream.requests.at(-1)!.body.messages as Array<{ role: string; content: unknown }>
    const system = messages.find((message) => message.role === "system")
    return typeof system?.content === "string" ? system.content : JSON.stringify(system?.content)
  }

  it("house-style adds its line to a system prompt given as text", async () => {
    upstream.reset()
    upstream.enqueue(completion("Cheerio."))
    const reply = await post(proxy.url, jsonBody({ system: "You are terse." }))
    expect(reply.status, reply.text).toBe(200)
    expect(systemSent()).toBe("You are terse.\n\nAnswer in British English.")
  })

  it("house-style adds its line as a block to a system prompt given as blocks, and makes one when there is none", async () => {
    upstream.reset()
    upstream.enqueue(completion("One."), completion("Two."))
    const blocks = await post(proxy.url, jsonBody({ system: [{ type: "text", text: "You are Claude Code." }] }))
    expect(blocks.status, blocks.text).toBe(200)
    expect(systemSent()).toContain("You are Claude Code.")
    expect(systemSent()).toMatch(/You are Claude Code\.[\s\S]*Answer in British English\./)
    const none = await post(proxy.url, jsonBody())
    expect(none.status, none.text).toBe(200)
    expect(systemSent()).toBe("Answer in British English.")
  })

  it("redact-words rewrites a whole reply", async () => {
    upstream.reset()
    upstream.enqueue(completion("The plan for PROJECT FALCON: the password is hunter2."))
    const reply = await post(proxy.url, jsonBody())
    expect(reply.status, reply.text).toBe(200)
    expect(JSON.parse(reply.text).content[0].text).toBe("The plan for [redacted]: the password is [redacted].")
  })

  it("redact-words rewrites a streamed reply, a word split over deltas included", async () => {
    upstream.reset()
    upstream.enqueue(streamed(["The plan for Proj", "ect Fal", "con: the password is hun", "ter", "2", "."]))
    const reply = await post(proxy.url, streamBody())
    expect(reply.status, reply.text).toBe(200)
    const events = sseEvents(reply.text)
    expect(streamText(events)).toBe("The plan for [redacted]: the password is [redacted].")
    expect(events.at(-1)!.event).toBe("message_stop")
    // Nothing of a listed word reached the client in any single delta either.
    expect(reply.text).not.toMatch(/hun|Fal/)
  })
})

describe("redact-words, driven directly", () => {
  const stage = redactWords({ words: ["Project Falcon", "Falcon", "ab", "bcd"], replacement: "#" })

  const textEvents = (pieces: ReadonlyArray<string>): Array<StreamEvent> => [
    { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } },
    ...pieces.map((text): StreamEvent => ({ type: "content_block_delta", index: 0, delta: { type: "text_delta", text } })),
    { type: "content_block_stop", index: 0 }
  ]

  const streamedThrough = (pieces: ReadonlyArray<string>) =>
    Effect.gen(function*() {
      const handler = stage.wrap(() => Effect.succeed<ProxyReply>({ _tag: "Stream", events: Stream.fromIterable(textEvents(pieces)) }))
      const reply = yield* handler({} as ProxyRequest)
      if (reply._tag !== "Stream") throw new Error("expected a stream")
      const out = yield* Stream.runCollect(reply.events)
      return out.flatMap((event) => event.type === "content_block_delta" && event.delta.type === "text_delta" ? [event.delta.text] : []).join("")
    })

  it.effect("gives the same text however the reply is split into deltas", () =>
    Effect.gen(function*() {
      for (const text of ["see project falcon now", "xabcd and Falcon", "Project Falco", "bcab", "Falcon Project Falcon"]) {
        const whole = yield* streamedThrough([text])
        expect(whole).not.toMatch(/falcon|ab/i)
        for (let at = 0; at <= text.length; at++) {
          for (let second = at; second <= text.length; second++) {
            const pieces = [text.slice(0, at), text.slice(at, second), text.slice(second)]
            expect(yield* streamedThrough(pieces), JSON.stringify(pieces)).toBe(whole)
          }
        }
      }
    }))

  it("refuses options without words, at make", () => {
    expect(() => redactWords({})).toThrow("options.words must be a list of non-empty strings")
    expect(() => redactWords({ words: ["x"], replacement: 3 })).toThrow("options.replacement must be a string")
  })
})
