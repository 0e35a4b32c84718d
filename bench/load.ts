/**
 * Load runs with autocannon (in the bench process): a fixed number of keep-alive connections, each sending the
 * next request as soon as the previous response has fully arrived (autocannon counts a request done at the end of
 * the chunked SSE body, so every byte of the stream is read). For each run: throughput, latency percentiles of the
 * 2xx responses (from autocannon's per-response times, exact rather than its 1 ms histogram), errors of every kind,
 * CPU per request of the server under test and of the upstream from /proc, and RSS sampled every 100 ms.
 */
import autocannon, { type Result } from "autocannon"
import { measureCpu, type RssSeries, sampleRss } from "./procstat.ts"

export interface Target {
  readonly name: string
  readonly url: string
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
  /** Whether a complete 200 body is a complete, error-free stream. */
  readonly complete: (body: string) => boolean
  /** The server under test (CPU and RSS are measured for it). */
  readonly pid: number
  /** Its other processes (a cluster's workers, `pid` being the primary): their CPU counts too; RSS is `pid`'s. */
  readonly otherPids?: ReadonlyArray<number>
}

export interface LoadResult {
  readonly target: string
  readonly connections: number
  readonly bodyBytes: number
  readonly seconds: number
  /** Complete 2xx responses. */
  readonly completed: number
  readonly requestsPerSecond: number
  readonly latencyMs: { readonly p50: number; readonly p90: number; readonly p99: number; readonly mean: number; readonly max: number }
  /** non2xx + connection errors + timeouts + incomplete streams. */
  readonly errorsTotal: number
  readonly non2xx: number
  readonly connectionErrors: number
  readonly timeouts: number
  /** 200 bodies that did not end like a complete stream (or carried an SSE `error` event). */
  readonly incompleteStreams: number
  readonly statusCodes: Readonly<Record<string, number>>
  /** First few distinct odd bodies (error JSON, broken streams), truncated. */
  readonly oddBodies: ReadonlyArray<string>
  readonly cpuMsPerRequest: number
  readonly upstreamCpuMsPerRequest: number
  /** The load generator (bench process) CPU per request: if this nears 1 core, the numbers are client-bound. */
  readonly benchCpuMsPerRequest: number
  readonly peakRssBytes: number
  readonly meanRssBytes: number
  readonly rssSeries?: RssSeries
}

const percentile = (sorted: Float64Array, p: number) =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!

const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits

export interface RunOptions {
  readonly target: Target
  readonly connections: number
  readonly seconds: number
  readonly upstreamPid: number
  /** Keep the RSS time series in the result (soak). */
  readonly keepRssSeries?: boolean
}

export const runLoad = (options: RunOptions): Promise<LoadResult> =>
  new Promise((resolve, reject) => {
    const { target, connections, seconds } = options
    const latencies: Array<number> = []
    const oddBodies: Array<string> = []
    let incomplete = 0
    const noteOdd = (body: string) => {
      const sample = body.length > 800 ? `${body.slice(0, 400)} … ${body.slice(-400)}` : body
      if (oddBodies.length < 5 && !oddBodies.includes(sample)) oddBodies.push(sample)
    }
    const others = target.otherPids ?? []
    const cpu = measureCpu([target.pid, options.upstreamPid, ...others])
    const rss = sampleRss([target.pid])
    const started = performance.now()
    const instance = autocannon(
      {
        url: target.url,
        method: "POST",
        headers: { ...target.headers },
        body: target.body,
        connections,
        pipelining: 1,
        duration: seconds,
        timeout: 30,
        verifyBody: (body) => {
          // Error answers are JSON; autocannon counts their status as non-2xx, we keep a sample.
          if (body.startsWith("{")) {
            noteOdd(body)
            return true
          }
          if (target.complete(body)) return true
          incomplete++
          noteOdd(body)
          return false
        }
      },
      (error: Error | null, result: Result) => {
        const wall = (performance.now() - started) / 1000
        const used = cpu.stop()
        const memory = rss.stop().get(target.pid)
        if (error) return reject(error)
        const sorted = Float64Array.from(latencies).sort()
        const completed = result["2xx"]
        const per = (ms: number) => (completed > 0 ? round(ms / completed, 3) : Number.NaN)
        const statusCodes: Record<string, number> = {}
        for (const [code, { count }] of Object.entries(result.statusCodeStats)) statusCodes[code] = count
        resolve({
          target: target.name,
          connections,
          bodyBytes: Buffer.byteLength(target.body),
          seconds: round(wall),
          completed,
          requestsPerSecond: round(completed / wall, 1),
          latencyMs: {
            p50: round(percentile(sorted, 50)),
            p90: round(percentile(sorted, 90)),
            p99: round(percentile(sorted, 99)),
            mean: round(sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length)),
            max: round(sorted.at(-1) ?? 0)
          },
          errorsTotal: result.non2xx + result.errors + incomplete,
          non2xx: result.non2xx,
          connectionErrors: result.errors - result.timeouts,
          timeouts: result.timeouts,
          incompleteStreams: incomplete,
          statusCodes,
          oddBodies,
          cpuMsPerRequest: per(used.byPid.get(target.pid)! + others.reduce((sum, pid) => sum + used.byPid.get(pid)!, 0)),
          upstreamCpuMsPerRequest: per(used.byPid.get(options.upstreamPid)!),
          benchCpuMsPerRequest: per(used.selfMillis),
          peakRssBytes: memory?.peak ?? 0,
          meanRssBytes: Math.round(memory?.mean ?? 0),
          ...(options.keepRssSeries && memory ? { rssSeries: memory } : {})
        })
      }
    )
    instance.on("response", (_client: unknown, status: number, _bytes: number, time: number) => {
      if (status >= 200 && status < 300) latencies.push(time)
    })
  })
