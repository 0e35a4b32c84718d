/**
 * The client goes away: before the response headers, after the first event, mid-stream, and mid-way through a
 * non-streamed answer. Each time the upstream request must be aborted at once (its socket closed by the proxy),
 * no timer may be left running, every permit must be back, and the request is logged as 499.
 */
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { type FaultContext, Faulty, faultHarness, sseData, SSE_HEADERS, textChunk } from "../support/faulty-upstream.ts"
import { Harness } from "../support/harness.ts"
import { expectNoLeaks, leakBaseline, waitUntil } from "../support/leaks.ts"
import { type HangUp, jsonBody, post, streamBody } from "./client.ts"

const ENV = {
  UPSTREAM_MAX_RETRIES: "0",
  UPSTREAM_IDLE_TIMEOUT: "2 seconds",
  UPSTREAM_FIRST_BYTE_TIMEOUT: "10 seconds",
  PING_INTERVAL: "200 millis"
}

/** An upstream that streams a token every 50 ms for 10 s: only a hang-up ends it early. */
const endlessStream = async (ctx: FaultContext) => {
  await ctx.head(200, SSE_HEADERS)
  for (let i = 0; i < 200 && !ctx.signal.aborted; i++) {
    await ctx.body(sseData(textChunk(`tok${i} `)))
    await ctx.sleep(50)
  }
}

interface Scenario {
  readonly name: string
  readonly body: string
  readonly setup: (upstream: Faulty["Service"]) => void
  readonly hangUp: (upstream: Faulty["Service"]) => HangUp
}

const scenarios: ReadonlyArray<Scenario> = [
  {
    name: "stream: hang-up before the response headers (upstream still thinking)",
    body: streamBody(),
    setup: (u) => u.enqueue((ctx) => ctx.sleep(10_000)),
    hangUp: (u) => ({ at: "before-headers", when: () => u.requests.length > 0 })
  },
  {
    name: "json: hang-up before the response headers (upstream still thinking)",
    body: jsonBody(),
    setup: (u) => u.enqueue((ctx) => ctx.sleep(10_000)),
    hangUp: (u) => ({ at: "before-headers", when: () => u.requests.length > 0 })
  },
  {
    name: "stream: hang-up right after the first event (message_start), upstream silent",
    body: streamBody(),
    setup: (u) =>
      u.enqueue(async (ctx) => {
        await ctx.head(200, SSE_HEADERS)
        await ctx.sleep(10_000)
      }),
    hangUp: () => ({ at: "after-first-event" })
  },
  {
    name: "stream: hang-up right after the first event, upstream streaming",
    body: streamBody(),
    setup: (u) => u.enqueue(endlessStream),
    hangUp: () => ({ at: "after-first-event" })
  },
  {
    name: "stream: hang-up mid-stream (after 3 text deltas)",
    body: streamBody(),
    setup: (u) => u.enqueue(endlessStream),
    hangUp: () => ({ at: "mid-stream", afterDeltas: 3 })
  },
  {
    name: "json: hang-up while the upstream is half-way through its JSON answer",
    body: jsonBody(),
    setup: (u) =>
      u.enqueue(async (ctx) => {
        await ctx.head(200, { "content-type": "application/json" }, { length: 1000 })
        await ctx.body("{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"hal")
        await ctx.sleep(10_000)
      }),
    hangUp: () => ({ at: "after-ms", ms: 300 })
  }
]

layer(faultHarness(ENV), { excludeTestServices: true })("client hang-ups", (it) => {
  /** Runs the scenario up to the hang-up; returns the time the client hung up. */
  const run = (scenario: Scenario) =>
    Effect.gen(function*() {
      const upstream = yield* Faulty
      const proxy = yield* Harness
      upstream.reset()
      proxy.logs.length = 0
      scenario.setup(upstream)
      const reply = yield* Effect.promise(() => post(proxy.url, scenario.body, { hangUp: scenario.hangUp(upstream) }))
      expect(reply.hungUp).toBe(true)
      return { upstream, proxy, hungUpAt: Date.now() }
    })

  for (const scenario of scenarios) {
    it.effect(`${scenario.name}: the upstream request is aborted, nothing leaks`, () =>
      Effect.gen(function*() {
        const baseline = yield* leakBaseline
        const { upstream, proxy, hungUpAt } = yield* run(scenario)
        // The proxy closes the upstream request promptly, not when the upstream would have finished (10 s).
        const closed = yield* Effect.promise(() => waitUntil(() => upstream.openSockets() === 0, 1_500))
        expect(closed, "upstream socket closed within 1.5 s of the hang-up").toBe(true)
        expect(Date.now() - hungUpAt).toBeLessThan(1_500)
        expect(upstream.closedByClient()).toBe(1)
        yield* expectNoLeaks(baseline, upstream, proxy)
      }), 20_000)

    it.effect(`${scenario.name}: one log line, status 499`, () =>
      Effect.gen(function*() {
        const { upstream, proxy } = yield* run(scenario)
        yield* Effect.promise(() => upstream.drained(1_500))
        const logged = yield* Effect.promise(() =>
          waitUntil(() => proxy.logs.some((l) => l.msg === "request" && l.status === 499), 1_000)
        )
        const lines = proxy.logs.filter((l) => l.msg === "request")
        expect(logged, `request log lines: ${JSON.stringify(lines)}`).toBe(true)
        expect(lines).toHaveLength(1)
      }), 20_000)
  }
})
