/**
 * The stage contract, through real HTTP: a resource a stage takes in the request scope is released exactly once
 * however the reply ends; stages are built from services; a stage's own `Effect.log` lands in the proxy's log;
 * library routes are served behind the same edge.
 */
import { describe, expect, it, layer } from "@effect/vitest"
import { Context, Effect, Fiber, Layer } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import { InvalidRequest } from "../../src/errors.ts"
import type { Stage } from "../../src/pipeline/stage.ts"
import { sseCassette } from "../../src/upstream/cassette.ts"
import { Harness, harness } from "../support/harness.ts"
import { jsonCassette } from "../support/scripted-upstream.ts"

const textChunk = (content: string) => ({ choices: [{ index: 0, delta: { content }, finish_reason: null }] })
const finishChunk = { choices: [{ index: 0, delta: {}, finish_reason: "stop" }] }
const body = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ model: "claude-sonnet-4-6", max_tokens: 10, messages: [{ role: "user", content: "hi" }], ...extra })

const post = (url: string, text: string, signal?: AbortSignal) =>
  Effect.promise(async () => {
    const response = await fetch(url, { method: "POST", body: text, headers: { "content-type": "application/json" }, signal: signal ?? null })
    return { status: response.status, headers: response.headers, body: await response.text() }
  })

const sleep = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))

/** Waits until `check` holds, for at most `ms`. */
const eventually = (check: () => boolean, ms = 2_000) =>
  Effect.promise(async () => {
    const until = Date.now() + ms
    while (!check() && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 5))
  })

/** A service a user stage depends on: counts what it hands out and takes back. */
class Leases extends Context.Service<Leases, { taken: number; returned: number; log: Array<string> }>()("test/Leases") {}
const leases = { taken: 0, returned: 0, log: [] as Array<string> }

/** Holds a lease from the request until the reply's last byte: the shape of a limiter permit. */
const leaseStage: Effect.Effect<Stage, never, Leases> = Effect.map(Effect.service(Leases), (counter) => ({
  name: "lease",
  wrap: (next) => (request) =>
    Effect.andThen(
      Effect.acquireRelease(
        Effect.sync(() => counter.taken++),
        () => Effect.sync(() => counter.returned++)
      ),
      Effect.andThen(Effect.log("lease taken", { lease_for: request.id }), next(request))
    )
}))

/** Refuses without calling the upstream: a short-circuit answer. */
const refuseStage: Stage = {
  name: "refuse",
  wrap: (next) => (request) =>
    JSON.stringify(request.body.messages).includes("REFUSE") ? Effect.fail(new InvalidRequest({ message: "refused by stage" })) : next(request)
}

const routes = HttpRouter.add("GET", "/custom/ping", HttpServerResponse.jsonUnsafe({ pong: true }))

const stages = [
  { stage: Effect.provide(leaseStage, Layer.succeed(Leases, leases)), after: "routing" },
  { stage: refuseStage, before: "routing" }
]

layer(harness({ UPSTREAM_MAX_RETRIES: "0" }, { stages, routes }), { excludeTestServices: true })("stage contract", (it) => {
  const settled = () => leases.taken === leases.returned

  it.effect("a lease is held for a whole stream and released once it ends", () =>
    Effect.gen(function*() {
      const { url, upstream } = yield* Harness
      upstream.enqueue(sseCassette("slow", [textChunk("a"), textChunk("b"), finishChunk], { delayMs: 60 }))
      const before = { ...leases }
      const reply = post(`${url}/v1/messages`, body({ stream: true }))
      const fiber = yield* Effect.forkChild(reply)
      yield* eventually(() => leases.taken > before.taken)
      yield* sleep(50)
      expect(leases.returned).toBe(before.returned) // still streaming
      const res = yield* Fiber.join(fiber)
      expect(res.body).toContain("message_stop")
      yield* eventually(settled)
      expect(leases.taken - before.taken).toBe(1)
      expect(leases.returned - before.returned).toBe(1)
    }))

  it.effect("released once for a JSON reply, an upstream error, and a client that hangs up mid-stream or before any byte", () =>
    Effect.gen(function*() {
      const { url, upstream } = yield* Harness
      const before = { ...leases }
      upstream.enqueue(jsonCassette({ choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }] }))
      expect((yield* post(`${url}/v1/messages`, body())).status).toBe(200)
      upstream.enqueue(jsonCassette({ error: { message: "bad" } }, 400))
      expect((yield* post(`${url}/v1/messages`, body())).status).toBe(400)

      // Mid-stream: the client reads the first event, then leaves.
      upstream.enqueue(sseCassette("long", [textChunk("a"), textChunk("b"), textChunk("c"), finishChunk], { delayMs: 200 }))
      const abort = new AbortController()
      yield* Effect.promise(async () => {
        const response = await fetch(`${url}/v1/messages`, {
          method: "POST",
          body: body({ stream: true }),
          headers: { "content-type": "application/json" },
          signal: abort.signal
        })
        const reader = response.body!.getReader()
        await reader.read()
        abort.abort()
      })
      // Before any byte: the upstream has not answered yet when the client leaves.
      upstream.enqueue(sseCassette("late", [textChunk("a"), finishChunk], { delayMs: 300 }))
      const early = new AbortController()
      setTimeout(() => early.abort(), 50)
      yield* post(`${url}/v1/messages`, body({ stream: true }), early.signal).pipe(Effect.ignore, Effect.catchDefect(() => Effect.void))
      yield* eventually(() => leases.returned - before.returned === 4)
      expect(leases.taken - before.taken).toBe(4)
      expect(leases.returned - before.returned).toBe(4)
    }))

  it.effect("a short-circuit stage answers without the upstream, and its error is Anthropic-shaped", () =>
    Effect.gen(function*() {
      const { url, upstream } = yield* Harness
      const res = yield* post(`${url}/v1/messages`, JSON.stringify({ model: "claude-sonnet-4-6", max_tokens: 10, messages: [{ role: "user", content: "REFUSE" }] }))
      expect(res.status).toBe(400)
      expect(JSON.parse(res.body)).toMatchObject({ type: "error", error: { type: "invalid_request_error", message: "refused by stage" } })
      yield* sleep(50)
      expect(upstream.requests.some((r) => JSON.stringify(r.body).includes("REFUSE"))).toBe(false)
    }))

  it.effect("a user stage's Effect.log lands in the proxy's JSON log with the proxy's fields", () =>
    Effect.gen(function*() {
      const { url, upstream, logs } = yield* Harness
      upstream.enqueue(jsonCassette({ choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }] }))
      const res = yield* post(`${url}/v1/messages`, body())
      const id = res.headers.get("request-id")
      const line = logs.find((l) => l.msg === "lease taken" && l.lease_for === id)
      expect(line).toMatchObject({ level: "info", time: expect.any(String) })
    }))

  it.effect("library routes are served behind the same edge: request id, Anthropic 404/405", () =>
    Effect.gen(function*() {
      const { url } = yield* Harness
      const ok = yield* Effect.promise(() => fetch(`${url}/custom/ping`))
      expect(ok.status).toBe(200)
      expect(ok.headers.get("request-id")).toMatch(/^req_/)
      expect(yield* Effect.promise(() => ok.json())).toEqual({ pong: true })
      const missing = yield* Effect.promise(() => fetch(`${url}/custom/nope`))
      expect(missing.status).toBe(404)
      expect((yield* Effect.promise(() => missing.json())).error.type).toBe("not_found_error")
      const wrong = yield* Effect.promise(() => fetch(`${url}/v1/messages/count_tokens`))
      expect(wrong.status).toBe(405)
      expect(wrong.headers.get("allow")).toBe("POST")
    }))
})

describe("stage order", () => {
  it("an unknown anchor is reported at start with the known names", async () => {
    const { arrange } = await import("../../src/pipeline/pipeline.ts")
    expect(() => arrange([{ name: "a", wrap: (n) => n }], [{ stage: { name: "x", wrap: (n) => n }, after: "nope" }])).toThrow(
      /no stage named "nope" \(have a\)/
    )
  })
})
