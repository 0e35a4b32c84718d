/**
 * What a reload keeps: a provider whose protection settings did not change keeps its state (here, an open circuit),
 * through the real proxy; one whose settings changed starts afresh.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { jsonBody, post } from "../fault/client.ts"
import { readConfig, startProxy } from "../support/config-proxy.ts"
import { writeConfigDir } from "../support/providers-harness.ts"
import { jsonCassette, startScriptedUpstream } from "../support/scripted-upstream.ts"

const failing = jsonCassette({ error: { message: "down", type: "server_error" } }, 503)

describe("a reload and the protections' state", () => {
  it.live("an unchanged provider keeps its open circuit; a changed one starts afresh", () =>
    Effect.scoped(Effect.gen(function*() {
      const upstream = yield* Effect.acquireRelease(Effect.promise(startScriptedUpstream), (u) => Effect.promise(u.close))
      const file = (threshold: number, model: string) => ({
        providers: [
          { name: "a", base_url: upstream.url, breaker: { failure_threshold: 1 } },
          { name: "b", base_url: upstream.url, breaker: { failure_threshold: threshold } }
        ],
        routes: { default: `a,${model}`, rules: [{ match: "to-b", target: "b,m" }] }
      })
      const dir = writeConfigDir(file(1, "m1"))
      yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true })))
      const proxy = yield* startProxy(yield* readConfig(dir))
      upstream.enqueue(failing, failing)
      // An upstream 503 reaches the client as 529 overloaded_error; each opens its provider's circuit (threshold 1).
      expect((yield* Effect.promise(() => post(proxy.url, jsonBody()))).status).toBe(529)
      expect((yield* Effect.promise(() => post(proxy.url, jsonBody({ model: "to-b" })))).status).toBe(529)
      // Both circuits are open now: the next requests are refused without reaching the upstream.
      expect((yield* Effect.promise(() => post(proxy.url, jsonBody()))).status).toBe(529)
      expect(upstream.requests).toHaveLength(2)

      // A reload that changes a's route (not its protections) and b's breaker.
      Fs.writeFileSync(Path.join(dir, "ccproxy.json"), JSON.stringify(file(3, "m2")))
      yield* proxy.reload(yield* readConfig(dir))
      const health = yield* Effect.promise(() => fetch(`${proxy.url}/health`).then((r) => r.json()))
      const circuit = (name: string) => health.upstreams.find((u: { name: string }) => u.name === name)?.circuit
      expect(circuit("a")).toBe("open")
      expect(circuit("b")).toBe("closed")
      expect((yield* Effect.promise(() => post(proxy.url, jsonBody()))).status).toBe(529)
      upstream.enqueue(jsonCassette({ choices: [{ index: 0, message: { role: "assistant", content: "b again" }, finish_reason: "stop" }] }))
      const reply = yield* Effect.promise(() => post(proxy.url, jsonBody({ model: "to-b" })))
      expect(reply.status).toBe(200)
      expect(upstream.requests).toHaveLength(3)
    })), { timeout: 30_000 })
})
