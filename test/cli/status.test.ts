/**
 * `ccproxy status` against a real proxy (the harness, keys on) after one request: the summary, the raw JSON, and
 * the failures a user meets (no proxy, a wrong key).
 */
import { describe, expect, it, layer } from "@effect/vitest"
import { Effect } from "effect"
import { formatDuration, formatStatus, formatUsd } from "../../src/cli/status-report.ts"
import { baseEnv, freePort, runCli } from "../support/ccproxy-cli.ts"
import { Harness, harness } from "../support/harness.ts"
import { jsonCassette } from "../support/scripted-upstream.ts"

const KEY = "proxy-key-for-status-0123456789"

const completion = jsonCassette({
  id: "chatcmpl-status",
  object: "chat.completion",
  created: 1_763_000_000,
  model: "gpt-4.1",
  choices: [{ index: 0, message: { role: "assistant", content: "Hi." }, finish_reason: "stop" }],
  usage: { prompt_tokens: 1_234, completion_tokens: 56, total_tokens: 1_290 }
})

const statusOf = (url: string, env: Record<string, string>, ...args: Array<string>) =>
  Effect.promise(() => runCli(["status", ...args], { env: { ...baseEnv(), PORT: new URL(url).port, ...env }, timeoutMs: 30_000 }))

layer(harness({ PROXY_API_KEYS: KEY }), { excludeTestServices: true })("ccproxy status", (it) => {
  it.effect("sums up upstreams, requests, tokens and models after a request", () =>
    Effect.gen(function*() {
      const { url, upstream } = yield* Harness
      upstream.reset()
      upstream.enqueue(completion)
      const reply = yield* Effect.promise(() =>
        fetch(`${url}/v1/messages`, {
          method: "POST",
          headers: { "content-type": "application/json", "x-api-key": KEY },
          body: JSON.stringify({ model: "claude-sonnet-4-5", max_tokens: 100, messages: [{ role: "user", content: "hi" }] })
        }))
      expect(reply.status).toBe(200)

      const result = yield* statusOf(url, { PROXY_API_KEYS: KEY })
      expect(result.stderr).toBe("")
      expect(result.code).toBe(0)
      const lines = result.stdout.split("\n")
      expect(lines[0]).toMatch(new RegExp(`^ccproxy at ${url}: ok, up \\d+s$`))
      expect(lines).toContainEqual(expect.stringMatching(/^ {2}\S+ +circuit closed +in flight 0\/64 +queued 0$/))
      expect(lines).toContainEqual(expect.stringMatching(/^Requests {2}1; latency p50 \d+ ms/))
      expect(lines).toContain("Tokens    1,234 in, 56 out, 0 cache read, 0 reasoning")
      // The scripted upstream is on loopback, so a self-hosted model: no price, and no pretending it cost $0.
      expect(lines).toContain("Cost      unknown (1 request without a known price)")
      expect(lines).toContain("Cache     off")
      expect(lines).toContainEqual(expect.stringMatching(/^ {2}claude-sonnet-4-5 → gpt-4\.1 +1 request +1,234 in +56 out +/))
      expect(result.stdout).not.toContain(KEY)
    }), { timeout: 60_000 })

  it.effect("--json prints both routes' replies as they are", () =>
    Effect.gen(function*() {
      const { url } = yield* Harness
      const result = yield* statusOf(url, { PROXY_API_KEYS: KEY }, "--json")
      expect(result.code).toBe(0)
      const json = JSON.parse(result.stdout)
      expect(json.url).toBe(url)
      expect(json.health).toMatchObject({ status: "ok", upstreams: [expect.objectContaining({ circuit: "closed" })] })
      expect(json.metrics).toMatchObject({ requests: { total: expect.any(Number) }, by_model: expect.any(Array) })
    }), { timeout: 60_000 })

  it.effect("says so, with exit 1, when the proxy refuses the key", () =>
    Effect.gen(function*() {
      const { url } = yield* Harness
      const result = yield* statusOf(url, { PROXY_API_KEYS: "not-this-proxys-key" })
      expect(result.code).toBe(1)
      expect(result.stdout).toBe("")
      expect(result.stderr).toBe(`ccproxy: the proxy at ${url} wants a key for /v1/metrics: set PROXY_API_KEYS to one of its keys\n`)
    }), { timeout: 60_000 })
})

describe("ccproxy status without a proxy", () => {
  it("exits 1 with one line when nothing answers", async () => {
    const port = await freePort()
    const result = await runCli(["status"], { env: { ...baseEnv(), PORT: String(port) }, timeoutMs: 30_000 })
    expect(result.code).toBe(1)
    expect(result.stdout).toBe("")
    expect(result.stderr).toBe(`ccproxy: no proxy answers at http://127.0.0.1:${port} (connection refused); start one with \`ccproxy\`\n`)
  })
})

describe("status formatting", () => {
  it("durations and dollars", () => {
    expect([formatDuration(42.9), formatDuration(61), formatDuration(3_600 * 5 + 120), formatDuration(86_400 * 2 + 3_600)])
      .toEqual(["42s", "1m", "5h 2m", "2d 1h"])
    expect([formatUsd(0), formatUsd(0.000123), formatUsd(0.5), formatUsd(12.345)]).toEqual(["$0", "$0.00012", "$0.50", "$12.35"])
  })

  it("shows lowered rate limits, a cool-down, the cache and a partly priced cost", () => {
    const text = formatStatus(
      "http://127.0.0.1:11434",
      {
        status: "degraded",
        upstreams: [{
          name: "openai",
          circuit: "half_open",
          in_flight: 3,
          queued: 1,
          max_concurrent: 64,
          rate_limits: { rpm: { configured: 600, effective: 480 }, tpm: { configured: 100_000, effective: 100_000 }, cool_down_ms: 2_500 }
        }]
      },
      {
        uptime_seconds: 7_260,
        requests: { total: 1_200, errors: 3 },
        latency_ms: { p50: 850, p95: 2_400, p99: 3_000 },
        ttft_ms: { p50: 310, p95: 900, p99: 1_000 },
        by_model: [
          { client_model: "claude-sonnet-4-5", upstream_model: "gpt-5", requests: 1_000, input_tokens: 2_000_000, output_tokens: 50_000, cache_read_tokens: 10, reasoning_tokens: 5, cost_usd: 3.5 },
          { client_model: "qwen3", upstream_model: "qwen3", requests: 200, input_tokens: 1_000, output_tokens: 100, cache_read_tokens: 0, reasoning_tokens: 0, cost_usd: null }
        ],
        cost_usd: { total: 3.5, unknown_requests: 200 },
        cache: { enabled: true, hits: 30, misses: 90, hit_rate: 0.25, entries: 1 }
      }
    )
    expect(text.split("\n")).toEqual([
      "ccproxy at http://127.0.0.1:11434: degraded, up 2h 1m",
      "",
      "Upstreams",
      "  openai  circuit half-open  in flight 3/64  queued 1  rpm 480 of 600, tpm 100,000, cooling down 2.5 s",
      "",
      "Requests  1,200 (3 errors); latency p50 850 ms, p95 2.4 s; first token p50 310 ms",
      "Tokens    2,001,000 in, 50,100 out, 10 cache read, 5 reasoning",
      "Cost      $3.50 + 200 requests without a known price",
      "Cache     30 hits, 90 misses (25%), 1 entry",
      "",
      "Models",
      "  claude-sonnet-4-5 → gpt-5  1,000 requests  2,000,000 in  50,000 out  $3.50",
      "  qwen3                      200 requests    1,000 in      100 out     cost unknown",
      ""
    ])
  })
})
