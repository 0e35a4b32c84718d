/**
 * WORKERS=2 through the real command (`bin/ccproxy.js start`) against a scripted upstream, PORT=0: both workers
 * answer on the one port; /metrics from either has both workers' series; SIGHUP reaches both; a worker killed by
 * PID is replaced while the other serves; SIGTERM lets a stream in flight finish, then every process exits. And the
 * two ways a start fails: a bad config, and every worker failing to listen (one line each, exit 1).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Http from "node:http"
import * as Net from "node:net"
import { sseCassette } from "../../src/upstream/cassette.ts"
import { jsonBody, post, sseEvents, streamBody, streamText } from "../fault/client.ts"
import { baseEnv, runCli, startCli } from "../support/ccproxy-cli.ts"
import { jsonCassette, startScriptedUpstream } from "../support/scripted-upstream.ts"

const completion = jsonCassette({
  id: "chatcmpl-cluster",
  object: "chat.completion",
  choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }],
  usage: { prompt_tokens: 3, completion_tokens: 1 }
})

type Line = Record<string, unknown>

const lines = (stdout: string): Array<Line> =>
  stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Line)

const until = async <A>(find: () => A | undefined, what: string, ms = 20_000): Promise<A> => {
  const deadline = Date.now() + ms
  for (;;) {
    const found = find()
    if (found !== undefined) return found
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

/** A GET on a connection of its own, so the primary may hand it to either worker. */
const get = (url: string): Promise<string> =>
  new Promise((resolve, reject) => {
    Http.get(url, { agent: false }, (response) => {
      let body = ""
      response.setEncoding("utf8").on("data", (chunk: string) => (body += chunk)).on("end", () => resolve(body))
    }).on("error", reject)
  })

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** The "listening" line of each worker so far, by slot: the latest (a replacement logs anew). */
const workerPids = (stdout: string): Map<number, number> =>
  new Map(lines(stdout).filter((l) => l.msg === "listening" && typeof l.worker === "number").map((l) => [l.worker as number, l.pid as number]))

describe("WORKERS=2", () => {
  it.live("two workers on one port: requests, metrics, SIGHUP, a worker killed and replaced, SIGTERM", () =>
    Effect.promise(async () => {
      const upstream = await startScriptedUpstream()
      const env = { ...baseEnv(), WORKERS: "2", PORT: "0", OPENAI_BASE_URL: upstream.url, OPENAI_API_KEY: "sk-cluster-0123456789" }
      const proxy = startCli(["start"], { env, timeoutMs: 60_000 })
      const primary = proxy.child.pid!
      try {
        const stdout = () => proxy.output().stdout
        await until(() => lines(stdout()).find((l) => l.msg === "workers listening"), "both workers to listen")
        const first = workerPids(stdout())
        expect([...first.keys()].sort()).toEqual([1, 2])
        const addresses = new Set(lines(stdout()).filter((l) => l.msg === "listening").map((l) => l.address))
        expect(addresses.size).toBe(1) // the primary's line and both workers': one port, PORT=0 notwithstanding
        const url = [...addresses][0] as string

        // Each request on a connection of its own: round robin hands them to both workers.
        for (let i = 0; i < 40; i++) upstream.enqueue(completion)
        const replies = await Promise.all(Array.from({ length: 6 }, () => post(url, jsonBody())))
        expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200])
        const served = () => new Set(lines(stdout()).filter((l) => l.msg === "request").map((l) => l.worker))
        await until(() => served().size === 2 ? true : undefined, "request lines of both workers")
        expect([...served()].sort()).toEqual([1, 2])

        // Whichever worker answers /metrics, it has both workers' series, each family described once.
        for (let i = 0; i < 3; i++) {
          const text = await get(`${url}/metrics`)
          expect(text).toMatch(/^ccproxy_requests_total\{worker="1",/m)
          expect(text).toMatch(/^ccproxy_requests_total\{worker="2",/m)
          expect(text.match(/^# TYPE ccproxy_requests_total /gm)).toHaveLength(1)
          expect(text).toContain('ccproxy_worker_up{worker="1"} 1\nccproxy_worker_up{worker="2"} 1\n')
        }
        // /health names the primary as whom to signal, and the worker that answered.
        const health = JSON.parse(await get(`${url}/health`))
        expect(health.pid).toBe(primary)
        expect([1, 2]).toContain(health.worker.id)

        // SIGHUP to the primary: both workers reload, and say so.
        process.kill(primary, "SIGHUP")
        const reloaded = () => new Set(lines(stdout()).filter((l) => l.msg === "config reloaded").map((l) => l.worker))
        await until(() => reloaded().size === 2 ? true : undefined, "both workers to reload")

        // Worker 1 killed by PID: the other keeps answering meanwhile, and slot 1 gets a new process.
        const victim = first.get(1)!
        process.kill(victim, "SIGKILL")
        // Connections the primary hands out between the kill and its noticing can be lost with the worker (Node's
        // round robin): the claim is about the time after, while the replacement starts.
        await until(() => lines(stdout()).find((l) => l.msg === "worker exited; replacing it"), "the primary to see worker 1 die")
        const during = await Promise.all(Array.from({ length: 3 }, () => post(url, jsonBody())))
        expect(during.map((r) => r.status)).toEqual([200, 200, 200])
        const replacement = await until(() => {
          const pid = workerPids(stdout()).get(1)
          return pid !== undefined && pid !== victim ? pid : undefined
        }, "worker 1 to be replaced")
        expect(alive(victim)).toBe(false)
        expect(lines(stdout()).find((l) => l.msg === "worker exited; replacing it")).toMatchObject({ worker: 1, pid: victim, exit: "SIGKILL" })
        const after = await Promise.all(Array.from({ length: 4 }, () => post(url, jsonBody())))
        expect(after.map((r) => r.status)).toEqual([200, 200, 200, 200])

        // SIGTERM while a stream is under way: it finishes, then the primary and both workers are gone, exit 0.
        upstream.reset()
        upstream.enqueue(sseCassette("slow", [
          { choices: [{ index: 0, delta: { role: "assistant", content: "still " } }] },
          { choices: [{ index: 0, delta: { content: "here" } }] },
          { choices: [{ index: 0, delta: {}, finish_reason: "stop" }] }
        ], { delayMs: 500 }))
        const stream = post(url, streamBody())
        await until(() => upstream.requests.length === 1 ? true : undefined, "the stream to reach the upstream")
        const pids = [primary, replacement, first.get(2)!]
        process.kill(primary, "SIGTERM")
        const finished = await stream
        expect(finished.status).toBe(200)
        expect(streamText(sseEvents(finished.text))).toBe("still here")
        const result = await proxy.done
        expect(result.code).toBe(0)
        expect(result.stderr).toBe("")
        expect(pids.filter(alive)).toEqual([])
        expect(stdout()).not.toContain("sk-cluster-0123456789")
      } finally {
        proxy.child.kill("SIGKILL")
        await upstream.close()
      }
    }), { timeout: 60_000 })

  it.live("a start that fails: a bad config is refused once by the primary; workers that cannot listen, once for all", () =>
    Effect.promise(async () => {
      const bad = await runCli(["start"], { env: { ...baseEnv(), WORKERS: "2", MAX_CONCURRENT_UPSTREAM: "1", OPENAI_API_KEY: "sk-x" }, timeoutMs: 30_000 })
      expect(bad.code).toBe(1)
      expect(bad.stderr).toBe(
        "ccproxy: invalid configuration: MAX_CONCURRENT_UPSTREAM is 1, less than one for each of the 2 workers (WORKERS): raise it or lower WORKERS\n"
      )

      // The port is taken: the primary forks both workers, neither can listen, and the primary says so once.
      const blocker = Net.createServer()
      await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve))
      const port = (blocker.address() as Net.AddressInfo).port
      try {
        const busy = await runCli(["start"], { env: { ...baseEnv(), WORKERS: "2", PORT: String(port), OPENAI_API_KEY: "sk-x" }, timeoutMs: 30_000 })
        expect(busy.code).toBe(1)
        expect(busy.stderr).toBe(`ccproxy: cannot listen: port ${port} on 127.0.0.1 is already in use (set PORT)\n`)
        expect(lines(busy.stdout).filter((l) => l.msg === "starting workers")).toHaveLength(1)
      } finally {
        blocker.close()
      }
    }), { timeout: 60_000 })
})
