/**
 * While the upstream thinks, nothing in the pipeline keeps the request's body or its conversion: a Claude Code turn
 * is ~125 KB of objects once parsed and converted, and a proxy that held them for every request in flight made the
 * young-generation GC copy twice the bytes (see `handOff` in stage.ts). Checked with weak references across a forced
 * GC, through every default stage, on the real HTTP path.
 */
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"
import type { Stage } from "../../src/pipeline/stage.ts"
import { Harness, harness } from "../support/harness.ts"

setFlagsFromString("--expose-gc")
const gc = runInNewContext("gc") as () => void

const watched: Array<WeakRef<object>> = []

/** Notes what it sees without keeping it: only weak references leave the stage. */
const probe = (what: "body" | "conversion"): Stage => ({
  name: `probe-${what}`,
  wrap: (next) => (request) => {
    const target = what === "body" ? request.body : request.conversion?.request
    if (target !== undefined) watched.push(new WeakRef(target))
    return next(request)
  }
})

const completion = JSON.stringify({
  id: "chatcmpl-1",
  object: "chat.completion",
  model: "gpt-test",
  choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }],
  usage: { prompt_tokens: 10, completion_tokens: 1, total_tokens: 11 }
})

const body = JSON.stringify({
  model: "claude-sonnet-4-6",
  max_tokens: 10,
  messages: [{ role: "user", content: "x".repeat(50_000) }]
})

const stages = [
  { stage: probe("body"), before: "logging" },
  { stage: probe("conversion"), after: "conversion" }
]

const slowCompletion = () => ({
  name: "slow",
  response: { status: 200, headers: { "content-type": "application/json" }, chunks: [{ delayMs: 800, text: completion }] }
}) as never

const post = (url: string) =>
  Effect.promise(() =>
    fetch(`${url}/v1/messages`, { method: "POST", headers: { "content-type": "application/json" }, body }).then((r) => r.status))

const pause = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))

describe("retention", () => {
  layer(harness({ UPSTREAM_MAX_RETRIES: "0" }, { stages }), { excludeTestServices: true })("every default stage", (it) => {
    it.effect("the body and its conversion can be collected while the upstream answers", () =>
      Effect.gen(function*() {
        const { url, upstream } = yield* Harness
        // Headers at once, the completion 800 ms later: the request waits on the upstream meanwhile.
        upstream.enqueue({
          name: "slow",
          response: { status: 200, headers: { "content-type": "application/json" }, chunks: [{ delayMs: 800, text: completion }] }
        } as never)
        watched.length = 0
        const reply = yield* Effect.forkChild(Effect.promise(() =>
          fetch(`${url}/v1/messages`, { method: "POST", headers: { "content-type": "application/json" }, body }).then((r) => r.status)))
        yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 400)))
        expect(watched).toHaveLength(2)
        gc()
        expect(watched.map((ref) => ref.deref() === undefined)).toEqual([true, true])
        expect(yield* Fiber.join(reply)).toBe(200)
      }))
  })

  layer(harness({ UPSTREAM_MAX_RETRIES: "0", CACHE: "on" }, { stages }), { excludeTestServices: true })("CACHE=on", (it) => {
    it.effect("a request that joins another's call in flight does not keep its own body either", () =>
      Effect.gen(function*() {
        const { url, upstream } = yield* Harness
        upstream.enqueue(slowCompletion())
        watched.length = 0
        const first = yield* Effect.forkChild(post(url))
        yield* pause(150)
        const second = yield* Effect.forkChild(post(url))
        yield* pause(250)
        expect(watched).toHaveLength(4)
        gc()
        expect(watched.map((ref) => ref.deref() === undefined)).toEqual([true, true, true, true])
        expect([yield* Fiber.join(first), yield* Fiber.join(second)]).toEqual([200, 200])
        expect(upstream.requests).toHaveLength(1)
      }))
  })
})
