/**
 * Two real `ccproxy start` processes on one real redis-server share their state: an RPM budget of 10 holds in total,
 * a 429's cool-down seen by one holds the other back, a circuit opened through one rejects on the other, an answer
 * cached through one is a hit through the other. Redis killed mid-run: every request is still answered (no 5xx
 * from Redis, no hang), each proxy warns once, and once Redis is back the state is shared again. A proxy started
 * while Redis is away starts on per-process state and connects when Redis comes.
 *
 * redis-server is Debian's (`apt-get install -y redis-server`, or scripts/install-test-deps.sh). Without it these
 * tests are skipped with a message saying so; with CI=true they fail instead.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { baseEnv, freePort, type RunningCli, startCli } from "../support/ccproxy-cli.ts"
import { writeConfigDir } from "../support/providers-harness.ts"
import { REDIS, type RedisServer, startRedisServer } from "../support/redis-server.ts"
import { completionCassette, jsonCassette, type ScriptedUpstream, startScriptedUpstream } from "../support/scripted-upstream.ts"

const completion = (content: string) => completionCassette(content, { prompt_tokens: 3, completion_tokens: 1 })

const serverError = () => jsonCassette({ error: { message: "boom", type: "server_error" } }, 500)

const until = async (check: () => boolean, what: string, ms = 10_000) => {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

interface Answer {
  readonly status: number
  readonly cache: string | null
  readonly millis: number
}

/** One request, with a deadline well above any Redis deadline: a hang fails the test instead of stalling it. */
const ask = async (url: string, model: string, content: string): Promise<Answer> => {
  const started = Date.now()
  const res = await fetch(`${url}/v1/messages`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model, max_tokens: 10, messages: [{ role: "user", content }] }),
    signal: AbortSignal.timeout(5_000)
  })
  await res.text()
  return { status: res.status, cache: res.headers.get("x-ccproxy-cache"), millis: Date.now() - started }
}

interface Proxy {
  readonly url: string
  readonly cli: RunningCli
  /** Log lines (JSON) so far whose `msg` starts with `text`. */
  readonly logged: (text: string) => Array<Record<string, unknown>>
}

const startProxy = async (dir: string, env: Record<string, string>, ready: string): Promise<Proxy> => {
  const port = await freePort()
  const cli = startCli(["start"], { env: { ...baseEnv(), ...env, PORT: String(port) }, cwd: dir, timeoutMs: 120_000 })
  const logged = (text: string) =>
    cli.output().stdout.split("\n").flatMap((line) => {
      try {
        const entry = JSON.parse(line) as Record<string, unknown>
        return typeof entry.msg === "string" && entry.msg.startsWith(text) ? [entry] : []
      } catch {
        return []
      }
    })
  await until(() => logged("listening").length > 0 && logged(ready).length > 0, `the proxy on port ${port} (${ready})`, 20_000)
  return { url: `http://127.0.0.1:${port}`, cli, logged }
}

const stop = async (proxy: Proxy | undefined) => {
  if (proxy === undefined || proxy.cli.child.exitCode !== null) return
  proxy.cli.child.kill("SIGTERM")
  await proxy.cli.done
}

const NAMES = [
  "an RPM of 10 holds in total across two proxies; a 429's cool-down on one holds the other back",
  "a circuit opened through one proxy rejects on the other; an answer cached through one is a hit on the other",
  "Redis killed mid-run: every request answered, one warning each; restarted: state shared again",
  "a proxy started while Redis is away serves on per-process state and connects when Redis comes"
]
REDIS.report("test/redis/shared-state.test.ts", NAMES)

describe.skipIf(!REDIS.run)(REDIS.title("shared state on Redis, two proxy processes"), () => {
  const upstreams: Record<string, ScriptedUpstream> = {}
  let redis: RedisServer | undefined
  let a: Proxy | undefined
  let b: Proxy | undefined
  const env = (url: string) => ({
    REDIS_URL: url,
    CACHE: "on",
    UPSTREAM_MAX_RETRIES: "0",
    QUEUE_TIMEOUT: "0",
    LOG_LEVEL: "info"
  })

  it.live("setup: redis-server, five scripted upstreams, two proxies", () =>
    Effect.promise(async () => {
      if (REDIS.path === undefined) throw new Error(`CI=true and ${REDIS.missing}`)
      for (const name of ["limited", "cooling", "failing", "cached", "steady"]) upstreams[name] = await startScriptedUpstream()
      redis = await startRedisServer()
      const provider = (name: string, extra: Record<string, unknown> = {}) => ({ name, base_url: upstreams[name]!.url, api_key: "sk-test-0123456789abcdef", ...extra })
      const dir = writeConfigDir({
        providers: [
          provider("limited", { rpm: 10 }),
          provider("cooling"),
          provider("failing", { breaker: { failure_threshold: 2 } }),
          provider("cached"),
          provider("steady")
        ],
        routes: { default: "steady,m" }
      })
      ;[a, b] = await Promise.all([startProxy(dir, env(redis.url), "Redis connected"), startProxy(dir, env(redis.url), "Redis connected")])
      // The password-free URL is all the proxies were given, but the log names the host, never the URL.
      expect(a.logged("Redis connected")[0]!.redis).toBe(`127.0.0.1:${redis.port}`)
    }), 30_000)

  it.live(NAMES[0]!, () =>
    Effect.promise(async () => {
      const limited = upstreams.limited!
      for (let i = 0; i < 20; i++) limited.enqueue(completion(`limited ${i}`))
      // 8 through each proxy, all at once; distinct questions, so the cache plays no part.
      const answers = await Promise.all(Array.from({ length: 16 }, (_, i) => ask((i % 2 === 0 ? a : b)!.url, "limited,m", `question ${i}`)))
      expect(limited.requests.length).toBe(10)
      expect(answers.filter((answer) => answer.status === 200)).toHaveLength(10)
      expect(answers.filter((answer) => answer.status === 429)).toHaveLength(6)
      // Each proxy on its own budget would have let its 8 through: 16. Which proxy gets the 10 is a race.

      const cooling = upstreams.cooling!
      cooling.enqueue(jsonCassette({ error: { message: "slow down", type: "rate_limit_error" } }, 429, { "retry-after": "30" }))
      cooling.enqueue(completion("too early"))
      expect((await ask(a!.url, "cooling,m", "cool 1")).status).toBe(429)
      const other = await ask(b!.url, "cooling,m", "cool 2")
      expect(other.status).toBe(429)
      expect(cooling.requests.length).toBe(1)
    }))

  it.live(NAMES[1]!, () =>
    Effect.promise(async () => {
      const failing = upstreams.failing!
      failing.enqueue(serverError(), serverError(), completion("should not be asked"))
      expect((await ask(a!.url, "failing,m", "fail 1")).status).toBeGreaterThanOrEqual(500)
      expect((await ask(a!.url, "failing,m", "fail 2")).status).toBeGreaterThanOrEqual(500)
      const rejected = await ask(b!.url, "failing,m", "fail 3")
      expect(rejected.status).toBe(529)
      expect(failing.requests.length).toBe(2)
      expect(b!.logged("request").at(-1)!.error).toMatch(/circuit breaker/)

      const cached = upstreams.cached!
      cached.enqueue(completion("cached answer"))
      expect(await ask(a!.url, "cached,m", "same question")).toMatchObject({ status: 200, cache: "miss" })
      expect(await ask(b!.url, "cached,m", "same question")).toMatchObject({ status: 200, cache: "hit" })
      expect(cached.requests.length).toBe(1)
      expect(b!.logged("request").at(-1)!.cache).toBe("hit")
    }))

  it.live(NAMES[2]!, () =>
    Effect.promise(async () => {
      const steady = upstreams.steady!
      for (let i = 0; i < 1_000; i++) steady.enqueue(completion(`steady ${i}`))
      // Requests keep coming through both proxies, every 20 ms each, while Redis dies and comes back.
      const answers: Array<Answer> = []
      let running = true
      const traffic = Promise.all([a!, b!].map(async (proxy, which) => {
        for (let i = 0; running; i++) {
          answers.push(await ask(proxy.url, "steady,m", `traffic ${which} ${i}`))
          await new Promise((resolve) => setTimeout(resolve, 20))
        }
      }))
      try {
        await new Promise((resolve) => setTimeout(resolve, 200))
        await redis!.kill()
        await until(() => a!.logged("Redis unreachable").length > 0 && b!.logged("Redis unreachable").length > 0, "both proxies to warn")
        // During the outage: the cache misses and carries on.
        upstreams.cached!.enqueue(completion("outage answer"), completion("outage answer"))
        expect(await ask(a!.url, "cached,m", "outage question")).toMatchObject({ status: 200, cache: "miss" })
        expect(await ask(b!.url, "cached,m", "outage question")).toMatchObject({ status: 200, cache: "miss" })
        await new Promise((resolve) => setTimeout(resolve, 1_000))

        await redis!.restart()
        await until(() => a!.logged("Redis reachable again").length > 0 && b!.logged("Redis reachable again").length > 0, "both proxies to resume")
        await new Promise((resolve) => setTimeout(resolve, 200))
      } finally {
        running = false
        await traffic
      }
      expect(answers.length).toBeGreaterThan(50)
      expect(answers.filter((answer) => answer.status !== 200)).toEqual([])
      // No hang: the slowest answer is far below the client's 5 s deadline (Redis deadlines are 250 ms).
      expect(Math.max(...answers.map((answer) => answer.millis))).toBeLessThan(1_500)
      // One warning per outage and proxy, however many requests met it.
      expect(a!.logged("Redis unreachable")).toHaveLength(1)
      expect(b!.logged("Redis unreachable")).toHaveLength(1)

      // Shared again, on the restarted (empty) Redis: a cache entry and a circuit.
      upstreams.cached!.enqueue(completion("after the restart"))
      expect(await ask(a!.url, "cached,m", "after question")).toMatchObject({ status: 200, cache: "miss" })
      expect(await ask(b!.url, "cached,m", "after question")).toMatchObject({ status: 200, cache: "hit" })
      const failing = upstreams.failing!
      failing.reset()
      failing.enqueue(serverError(), serverError(), completion("should not be asked"))
      // The circuit opened before the kill was in the old Redis; the new one starts closed.
      expect((await ask(b!.url, "failing,m", "fail again 1")).status).toBe(500)
      expect((await ask(b!.url, "failing,m", "fail again 2")).status).toBe(500)
      expect((await ask(a!.url, "failing,m", "fail again 3")).status).toBe(529)
      expect(failing.requests.length).toBe(2)
    }), 30_000)

  it.live(NAMES[3]!, () =>
    Effect.promise(async () => {
      const port = await freePort()
      const dir = writeConfigDir({ providers: [{ name: "steady", base_url: upstreams.steady!.url, api_key: "sk-test-0123456789abcdef" }], routes: { default: "steady,m" } })
      const late = await startProxy(dir, env(`redis://:not-a-real-password@127.0.0.1:${port}`), "Redis unreachable at start")
      let server: RedisServer | undefined
      try {
        expect(late.cli.output().stdout).not.toContain("not-a-real-password")
        expect((await ask(late.url, "steady,m", "before redis")).status).toBe(200)
        server = await startRedisServer({ port })
        await until(() => late.logged("Redis connected").length > 0, "the proxy to connect", 5_000)
        expect((await ask(late.url, "steady,m", "with redis")).status).toBe(200)
      } finally {
        await stop(late)
        await server?.stop()
      }
    }), 20_000)

  // In afterAll, so a filtered or failed run stops what it started too (by PID).
  afterAll(async () => {
    await Promise.all([stop(a), stop(b)])
    await redis?.stop()
    await Promise.all(Object.values(upstreams).map((upstream) => upstream.close()))
  })
})
