/**
 * The pure parts of WORKERS: reading it, each worker's share of the limits (totals hold), and the merge of the
 * workers' Prometheus texts.
 */
import { describe, expect, it } from "@effect/vitest"
import { ConfigInvalid, parseConfig } from "../../src/config.ts"
import { makeCollector } from "../../src/cluster/collector.ts"
import { mergeExpositions, withWorkerLabel } from "../../src/cluster/metrics.ts"
import { parseWorkers } from "../../src/cluster/settings.ts"
import { configForWorker, rateLimitsShared, shareOf, workerLogPath } from "../../src/cluster/split.ts"

const places = (workers: number) => Array.from({ length: workers }, (_, i) => ({ slot: i + 1, workers }))

describe("parseWorkers", () => {
  it("1 by default; a number; auto is the cores; anything else is refused naming WORKERS", () => {
    expect(parseWorkers({})).toBe(1)
    expect(parseWorkers({ WORKERS: " 4 " })).toBe(4)
    expect(parseWorkers({ WORKERS: "auto" }, 6)).toBe(6)
    expect(parseWorkers({ WORKERS: "AUTO" }, 1)).toBe(1)
    expect(() => parseWorkers({ WORKERS: "0" })).toThrow(/WORKERS must be .* from 1 to 256/)
    expect(() => parseWorkers({ WORKERS: "1000" })).toThrow(ConfigInvalid)
    expect(() => parseWorkers({ WORKERS: "many" })).toThrow(/WORKERS must be a number of processes from 1 to 256, or "auto" \(got "many"\)/)
  })

  it("is part of the config, from the environment or the file's `workers`", () => {
    expect(parseConfig({}).workers).toBe(1)
    expect(parseConfig({ WORKERS: "3" }).workers).toBe(3)
  })
})

describe("shareOf", () => {
  it("floor, plus one for the first total mod N slots: 500 / 4 is 125 each; 10 / 4 is 3, 3, 2, 2", () => {
    expect(places(4).map((p) => shareOf(500, p))).toEqual([125, 125, 125, 125])
    expect(places(4).map((p) => shareOf(10, p))).toEqual([3, 3, 2, 2])
    expect(places(3).map((p) => shareOf(64, p))).toEqual([22, 21, 21])
    expect(places(1).map((p) => shareOf(7, p))).toEqual([7])
  })

  it("the shares add up to the total exactly and differ by at most one", () => {
    for (let workers = 1; workers <= 17; workers++) {
      for (const total of [workers, workers + 1, 2 * workers - 1, 64, 100, 499, 500, 1_000_003]) {
        const shares = places(workers).map((p) => shareOf(total, p))
        expect(shares.reduce((a, b) => a + b, 0)).toBe(total)
        expect(Math.max(...shares) - Math.min(...shares)).toBeLessThanOrEqual(1)
        expect(Math.min(...shares)).toBeGreaterThanOrEqual(1)
      }
    }
  })
})

describe("configForWorker", () => {
  const config = parseConfig({ MAX_CONCURRENT_UPSTREAM: "10", UPSTREAM_RPM: "500", UPSTREAM_TPM: "100_001", LOG_FILE: "/tmp/ccproxy.log" })

  it("divides the in-flight limit and the RPM/TPM budgets, globally and for each provider; the rest stays", () => {
    const shares = places(4).map((place) => configForWorker(config, place, { sharedRateLimits: false }))
    expect(shares.map((c) => c.protection.maxConcurrent)).toEqual([3, 3, 2, 2])
    expect(shares.map((c) => c.protection.rpm)).toEqual([125, 125, 125, 125])
    expect(shares.map((c) => c.protection.tpm)).toEqual([25_001, 25_000, 25_000, 25_000])
    expect(shares.map((c) => c.providers[0]!.protection.maxConcurrent)).toEqual([3, 3, 2, 2])
    expect(shares.map((c) => c.providers[0]!.protection.rpm)).toEqual([125, 125, 125, 125])
    expect(shares[1]!.protection.queueTimeout).toEqual(config.protection.queueTimeout)
    expect(shares[1]!.routes).toBe(config.routes)
    expect(shares.map((c) => c.logFile?.path)).toEqual([1, 2, 3, 4].map((k) => `/tmp/ccproxy.worker-${k}.log`))
  })

  it("with the rate limits shared (REDIS_URL), RPM and TPM stay whole; the in-flight limit is still divided", () => {
    const share = configForWorker(config, { slot: 2, workers: 4 }, { sharedRateLimits: true })
    expect(share.protection).toMatchObject({ maxConcurrent: 3, rpm: 500, tpm: 100_001 })
    expect(share.providers[0]!.protection).toMatchObject({ maxConcurrent: 3, rpm: 500, tpm: 100_001 })
    expect(rateLimitsShared(parseConfig({ REDIS_URL: "redis://localhost:6379" }))).toBe(true)
    expect(rateLimitsShared(parseConfig({ REDIS_URL: " " }))).toBe(false)
    expect(rateLimitsShared(parseConfig({}))).toBe(false)
  })

  it("no limit stays no limit; a budget smaller than the number of workers is refused, naming it", () => {
    const unlimited = configForWorker(parseConfig({}), { slot: 1, workers: 2 }, { sharedRateLimits: false })
    expect(unlimited.protection).toMatchObject({ maxConcurrent: 32, rpm: undefined, tpm: undefined })
    expect(() => configForWorker(parseConfig({ UPSTREAM_RPM: "3" }), { slot: 1, workers: 4 }, { sharedRateLimits: false }))
      .toThrow("UPSTREAM_RPM is 3, less than one for each of the 4 workers (WORKERS): raise it or lower WORKERS")
    expect(() => configForWorker(parseConfig({ UPSTREAM_RPM: "3" }), { slot: 1, workers: 4 }, { sharedRateLimits: true })).not.toThrow()
  })

  it("names the log file of each worker beside the configured one", () => {
    expect(workerLogPath("/var/log/ccproxy.log", 3)).toBe("/var/log/ccproxy.worker-3.log")
    expect(workerLogPath("proxy", 1)).toBe("proxy.worker-1")
  })
})

describe("mergeExpositions", () => {
  const one = [
    "# HELP a_total A things",
    "# TYPE a_total counter",
    'a_total{x="1"} 2',
    "# HELP g G",
    "# TYPE g gauge",
    "g 3",
    "# HELP h_ms H",
    "# TYPE h_ms histogram",
    'h_ms_bucket{le="+Inf"} 1',
    "h_ms_sum 5",
    "h_ms_count 1",
    ""
  ].join("\n")
  const two = ["# HELP a_total A things", "# TYPE a_total counter", 'a_total{x="1"} 7', 'a_total{x="}\\""} 1', ""].join("\n")

  it("adds the worker label to every sample, whatever its labels hold", () => {
    expect(withWorkerLabel('a{x="1"} 2', 3)).toBe('a{worker="3",x="1"} 2')
    expect(withWorkerLabel("a 2", 3)).toBe('a{worker="3"} 2')
    expect(withWorkerLabel("a{} 2", 3)).toBe('a{worker="3"} 2')
  })

  it("each family's HELP and TYPE once, its samples worker by worker, and who answered", () => {
    expect(mergeExpositions([{ worker: 2, text: two }, { worker: 1, text: one }], [3])).toBe([
      "# HELP a_total A things",
      "# TYPE a_total counter",
      'a_total{worker="1",x="1"} 2',
      'a_total{worker="2",x="1"} 7',
      'a_total{worker="2",x="}\\""} 1',
      "# HELP g G",
      "# TYPE g gauge",
      'g{worker="1"} 3',
      "# HELP h_ms H",
      "# TYPE h_ms histogram",
      'h_ms_bucket{worker="1",le="+Inf"} 1',
      'h_ms_sum{worker="1"} 5',
      'h_ms_count{worker="1"} 1',
      "# HELP ccproxy_worker_up Whether the worker answered this scrape in time (1) or not (0)",
      "# TYPE ccproxy_worker_up gauge",
      'ccproxy_worker_up{worker="1"} 1',
      'ccproxy_worker_up{worker="2"} 1',
      'ccproxy_worker_up{worker="3"} 0',
      ""
    ].join("\n"))
  })
})

describe("the primary's collection", () => {
  it("merges the answers; a worker silent past the deadline, or without a process, is up 0", async () => {
    const collector = makeCollector(50)
    const asked: Array<number> = []
    const text = collector.collect([
      { slot: 1, send: (m) => (asked.push(m.id), true) },
      { slot: 2, send: () => true }, // never answers
      { slot: 3, send: undefined } // being replaced
    ])
    collector.collected(1, asked[0]!, "# TYPE g gauge\ng 1\n")
    collector.collected(1, asked[0]!, "# TYPE g gauge\ng 99\n") // a second answer is ignored
    expect(await text).toBe(
      '# TYPE g gauge\ng{worker="1"} 1\n# HELP ccproxy_worker_up Whether the worker answered this scrape in time (1) or not (0)\n' +
        '# TYPE ccproxy_worker_up gauge\nccproxy_worker_up{worker="1"} 1\nccproxy_worker_up{worker="2"} 0\nccproxy_worker_up{worker="3"} 0\n'
    )
  })

  it("answers as soon as every worker has, without waiting for the deadline", async () => {
    const collector = makeCollector(60_000)
    const ids: Array<number> = []
    const text = collector.collect([1, 2].map((slot) => ({ slot, send: (m: { id: number }) => (ids.push(m.id), true) })))
    collector.collected(2, ids[1]!, "b 2\n")
    collector.collected(1, ids[0]!, "a 1\n")
    expect(await text).toContain('a{worker="1"} 1\nb{worker="2"} 2\n')
  })
})
