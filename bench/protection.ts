/**
 * The protection cases (issue 7 §7), each against a proxy of its own started by run.ts:
 *
 * - **concurrency**: many more concurrent streams than MAX_CONCURRENT_UPSTREAM (default 64), against an upstream
 *   that delays every chunk so each stream lasts about a second. The limiter must hold the upstream at ≤ 64
 *   requests in flight (counted by the upstream itself, arrival to the end of its response) while the rest queue,
 *   with no errors and flat memory.
 * - **429 storm**: the proxy with UPSTREAM_RPM set, an upstream that answers 429 + `Retry-After` beyond N requests
 *   per second (so it recovers as soon as the load drops below that), and clients that behave like the Anthropic SDK
 *   (a 429/529 is retried after its `retry-after`, capped). No 5xx may reach a client; the adaptive limits must
 *   bring the upstream's 429s down to about zero.
 */
import * as Http from "node:http"
import type { Child } from "./children.ts"
import { median } from "./client.ts"
import { type MemoryReport, NORMAL_MODE, type UpstreamMode, type UpstreamStats } from "./ipc.ts"
import { type LoadResult, runLoad, type Target } from "./load.ts"
import { sampleRss } from "./procstat.ts"

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits

const setMode = (upstream: Child, mode: UpstreamMode) => upstream.call({ type: "mode", mode }, "ok")
const stats = async (upstream: Child): Promise<UpstreamStats> => (await upstream.call({ type: "stats" }, "stats")).stats

/** Waits (bounded) until the upstream has nothing in flight, so one phase's stragglers do not count in the next. */
export const settleUpstream = async (upstream: Child, maxMs = 15_000) => {
  for (let waited = 0; waited < maxMs; waited += 100) {
    if ((await stats(upstream)).inFlight === 0) return
    await sleep(100)
  }
}

// ---------------------------------------------------------------------------------------------------------------
// GET /health, read defensively: only `upstreams[]` is relied on, every field of it is optional.

interface HealthUpstream {
  readonly name?: unknown
  readonly circuit?: unknown
  readonly in_flight?: unknown
  readonly queued?: unknown
  readonly max_concurrent?: unknown
  readonly [key: string]: unknown
}

const getHealth = (port: number, agent: Http.Agent): Promise<ReadonlyArray<HealthUpstream> | undefined> =>
  new Promise((resolve) => {
    const request = Http.get({ host: "127.0.0.1", port, path: "/health", agent, timeout: 5_000 }, (response) => {
      let body = ""
      response.setEncoding("utf8")
      response.on("data", (chunk: string) => (body += chunk))
      response.on("end", () => {
        try {
          const parsed = JSON.parse(body) as { upstreams?: unknown }
          resolve(Array.isArray(parsed.upstreams) ? (parsed.upstreams as Array<HealthUpstream>) : undefined)
        } catch {
          resolve(undefined)
        }
      })
      response.on("error", () => resolve(undefined))
    })
    request.on("timeout", () => request.destroy())
    request.on("error", () => resolve(undefined))
  })

const numberOr = (value: unknown): number | undefined => (typeof value === "number" && Number.isFinite(value) ? value : undefined)

/**
 * The effective requests-per-minute budget, if /health reports one: the first key that names RPM (`rpm`,
 * `requests_per_minute`, …) holding a number or an object with `effective`, searched a few levels deep.
 */
export const findEffectiveRpm = (value: unknown, depth = 0): number | undefined => {
  if (depth > 4 || typeof value !== "object" || value === null) return undefined
  for (const [key, inner] of Object.entries(value)) {
    if (/rpm|requests_per_minute/i.test(key)) {
      const direct = numberOr(inner)
      if (direct !== undefined) return direct
      if (typeof inner === "object" && inner !== null) {
        const effective = numberOr((inner as Record<string, unknown>).effective)
        if (effective !== undefined) return effective
      }
    }
  }
  for (const inner of Object.values(value)) {
    const found = findEffectiveRpm(inner, depth + 1)
    if (found !== undefined) return found
  }
  return undefined
}

/** Polls /health every `intervalMs` until stopped; keeps every answer's first upstream with its time. */
const pollHealth = (port: number, intervalMs: number) => {
  const agent = new Http.Agent({ keepAlive: true, maxSockets: 1 })
  const started = performance.now()
  const samples: Array<{ readonly ms: number; readonly upstream: HealthUpstream | undefined }> = []
  let running = true
  const loop = (async () => {
    while (running) {
      const upstreams = await getHealth(port, agent)
      samples.push({ ms: Math.round(performance.now() - started), upstream: upstreams?.[0] })
      await sleep(intervalMs)
    }
  })()
  return {
    stop: async () => {
      running = false
      await loop
      agent.destroy()
      return samples
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Concurrency: 256 streams, limiter at 64

export interface ConcurrencyResult {
  readonly connections: number
  readonly maxConcurrent: number
  readonly queueTimeoutSeconds: number
  readonly upstreamDelayMsPerChunk: number
  /** One stream's duration alone (one request, nothing queued), ms. */
  readonly singleStreamMs: number
  readonly load: LoadResult
  /** The most requests the upstream had in flight at once during the measured run. */
  readonly upstreamMaxInFlight: number
  /** From the proxy's /health, polled every 250 ms (undefined fields: not reported). */
  readonly health: { readonly polls: number; readonly maxInFlight: number | undefined; readonly maxQueued: number | undefined }
  readonly rssStartBytes: number
  readonly rssEndBytes: number
  readonly rssGrowth: number
  /** [seconds, MB], one per second. */
  readonly rssTimeline: ReadonlyArray<readonly [number, number]>
  /** `heapUsed` after a full GC just before the measured run and once it is over (streams ended or cut). */
  readonly heapBeforeBytes: number
  readonly heapAfterBytes: number
}

export interface ConcurrencyOptions {
  readonly upstream: Child
  readonly proxy: { readonly child: Child; readonly port: number }
  readonly target: Target
  readonly connections: number
  readonly seconds: number
  readonly warmupSeconds: number
  readonly maxConcurrent: number
  readonly queueTimeoutSeconds: number
  readonly delayMsPerChunk: number
  readonly say: (text: string) => void
  /** Times one request through the proxy (to report how long a stream lasts on its own). */
  readonly timeOne: () => Promise<number>
  /** The proxy's memory, after a full GC when asked (bench/probe.ts). */
  readonly memory: (gc: boolean) => Promise<MemoryReport>
}

export const runConcurrency = async (o: ConcurrencyOptions): Promise<ConcurrencyResult> => {
  const { upstream } = o
  // Warm-up at full speed (JIT, pools), then the slow upstream.
  await setMode(upstream, NORMAL_MODE)
  await runLoad({ target: o.target, connections: 16, seconds: o.warmupSeconds, upstreamPid: upstream.pid })
  await settleUpstream(upstream)
  const slow: UpstreamMode = { ...NORMAL_MODE, delayMs: o.delayMsPerChunk, delayChunks: 1_000 }
  await setMode(upstream, slow)
  const singleStreamMs = await o.timeOne()
  const heapBefore = await o.memory(true)
  await upstream.call({ type: "reset" }, "ok")
  const health = pollHealth(o.proxy.port, 250)
  const load = await runLoad({
    target: o.target,
    connections: o.connections,
    seconds: o.seconds,
    upstreamPid: upstream.pid,
    keepRssSeries: true
  })
  const upstreamMaxInFlight = (await stats(upstream)).maxInFlight
  const polled = await health.stop()
  await setMode(upstream, NORMAL_MODE)
  await settleUpstream(upstream)
  await sleep(500)
  const heapAfter = await o.memory(true)

  const inFlight = polled.map((s) => numberOr(s.upstream?.in_flight)).filter((n): n is number => n !== undefined)
  const queued = polled.map((s) => numberOr(s.upstream?.queued)).filter((n): n is number => n !== undefined)
  // Start: 20–30 % into the run, once every stream is open (all bodies read, most of them queued) and the first
  // wave has finished; end: the last 10 %. What lies between is what the streams going through cost over time.
  const samples = load.rssSeries?.samples ?? []
  const tenth = Math.max(1, Math.floor(samples.length / 10))
  const rssStart = median(samples.slice(2 * tenth, 3 * tenth).map(([, bytes]) => bytes))
  const rssEnd = median(samples.slice(-tenth).map(([, bytes]) => bytes))
  const timeline: Array<readonly [number, number]> = []
  for (const [ms, bytes] of samples) {
    if (timeline.length === 0 || ms / 1000 >= timeline.at(-1)![0] + 1) timeline.push([Math.round(ms / 1000), round(bytes / 1048576, 1)])
  }
  const { rssSeries: _, ...withoutSeries } = load
  return {
    connections: o.connections,
    maxConcurrent: o.maxConcurrent,
    queueTimeoutSeconds: o.queueTimeoutSeconds,
    upstreamDelayMsPerChunk: o.delayMsPerChunk,
    singleStreamMs: round(singleStreamMs, 1),
    load: withoutSeries,
    upstreamMaxInFlight,
    health: {
      polls: polled.length,
      maxInFlight: inFlight.length ? Math.max(...inFlight) : undefined,
      maxQueued: queued.length ? Math.max(...queued) : undefined
    },
    rssStartBytes: rssStart,
    rssEndBytes: rssEnd,
    rssGrowth: rssEnd / rssStart - 1,
    rssTimeline: timeline,
    heapBeforeBytes: heapBefore.heapUsed,
    heapAfterBytes: heapAfter.heapUsed
  }
}

// ---------------------------------------------------------------------------------------------------------------
// 429 storm

export interface StormClientCounts {
  /** Requests sent (retries included). */
  requests: number
  /** 200s whose stream ended with message_stop and no error event. */
  completed: number
  /** 429s the clients saw (from the proxy's own limits or passed on from the upstream). */
  rateLimited: number
  /** Of those, the upstream's own 429 passed on (its message), after the proxy's retries. */
  rateLimitedByUpstream: number
  /** Any 5xx (529 included). Target: 0. */
  serverErrors: number
  /** Other non-2xx statuses. */
  otherStatus: number
  /** 200s that did not end as a complete stream. */
  brokenStreams: number
  connectionErrors: number
  /** Requests still open when the run ended (waiting in the proxy's queue, or streaming), cut by the bench. */
  cutAtEnd: number
  statusCodes: Record<string, number>
}

export interface StormResult {
  readonly connections: number
  readonly seconds: number
  readonly rpm: number
  readonly upstreamLimitPerSecond: number
  readonly retryAfterSeconds: number
  readonly clientRetryCapMs: number
  readonly lastSeconds: number
  readonly client: StormClientCounts
  /** Per second of the run: [second, 200s completed, 429s seen] at the clients. */
  readonly clientTimeline: ReadonlyArray<readonly [number, number, number]>
  readonly upstream: {
    /** Requests that reached the upstream during the run (the proxy's own retries included). */
    readonly requests: number
    /** 429s the upstream answered during the run. */
    readonly rateLimited: number
    /** Per second: [second, requests, 429s]. */
    readonly timeline: ReadonlyArray<readonly [number, number, number]>
    /** The last `lastSeconds` whole seconds of the run. */
    readonly lastRequests: number
    readonly lastRateLimited: number
  }
  /** The effective RPM over time, if the proxy's /health reports it: [seconds, rpm]. */
  readonly effectiveRpm: ReadonlyArray<readonly [number, number]>
  /** A few /health answers (first upstream), for the record. */
  readonly healthSamples: ReadonlyArray<unknown>
  readonly oddBodies: ReadonlyArray<string>
  readonly peakRssBytes: number
}

export interface StormOptions {
  readonly upstream: Child
  readonly proxy: { readonly child: Child; readonly port: number }
  readonly path: string
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
  readonly complete: (body: string) => boolean
  readonly connections: number
  readonly seconds: number
  readonly rpm: number
  readonly upstreamLimitPerSecond: number
  readonly retryAfterSeconds: number
  readonly clientRetryCapMs: number
  readonly lastSeconds: number
  readonly say: (text: string) => void
}

/** The start of the bench upstream's 429 message (bench/upstream.ts), to tell its 429s from the proxy's own. */
const UPSTREAM_429_MESSAGE = "Rate limit reached for gpt-5"

interface Answer {
  readonly status: number
  readonly body: string
  readonly retryAfterMs: number | undefined
}

export const runStorm = async (o: StormOptions): Promise<StormResult> => {
  const { upstream } = o
  const agent = new Http.Agent({ keepAlive: true, maxSockets: o.connections })
  const open = new Set<Http.ClientRequest>()
  const counts: StormClientCounts = {
    requests: 0,
    completed: 0,
    rateLimited: 0,
    rateLimitedByUpstream: 0,
    serverErrors: 0,
    otherStatus: 0,
    brokenStreams: 0,
    connectionErrors: 0,
    cutAtEnd: 0,
    statusCodes: {}
  }
  const oddBodies: Array<string> = []
  const clientTimeline: Array<[number, number, number]> = []
  let ended = false

  const send = (): Promise<Answer | "cut" | "error"> =>
    new Promise((resolve) => {
      const request = Http.request(
        { host: "127.0.0.1", port: o.proxy.port, method: "POST", path: o.path, headers: o.headers, agent },
        (response) => {
          let body = ""
          response.setEncoding("utf8")
          response.on("data", (chunk: string) => (body += chunk))
          response.on("end", () => {
            open.delete(request)
            const header = response.headers["retry-after"]
            const seconds = header === undefined ? Number.NaN : Number(header)
            resolve({ status: response.statusCode ?? 0, body, retryAfterMs: Number.isFinite(seconds) ? seconds * 1000 : undefined })
          })
          response.on("error", () => {
            open.delete(request)
            resolve(ended ? "cut" : "error")
          })
          // Whatever else ends it early (a first settle wins; later ones are no-ops).
          response.on("close", () => {
            open.delete(request)
            if (!response.complete) resolve(ended ? "cut" : "error")
          })
        }
      )
      open.add(request)
      request.on("error", () => {
        open.delete(request)
        resolve(ended ? "cut" : "error")
      })
      request.end(o.body)
    })

  let started = 0
  let deadline = 0
  const slot = () => {
    const second = Math.floor((performance.now() - started) / 1000)
    while (clientTimeline.length <= second) clientTimeline.push([clientTimeline.length, 0, 0])
    return clientTimeline[second]!
  }
  const noteOdd = (body: string) => {
    const sample = body.length > 600 ? `${body.slice(0, 300)} … ${body.slice(-300)}` : body
    if (oddBodies.length < 5 && !oddBodies.includes(sample)) oddBodies.push(sample)
  }

  const client = async () => {
    while (!ended && performance.now() < deadline) {
      counts.requests++
      const answer = await send()
      if (answer === "cut") {
        counts.cutAtEnd++
        return
      }
      if (answer === "error") {
        counts.connectionErrors++
        await sleep(100)
        continue
      }
      counts.statusCodes[answer.status] = (counts.statusCodes[answer.status] ?? 0) + 1
      if (answer.status === 200) {
        if (o.complete(answer.body)) {
          counts.completed++
          if (!ended) slot()[1]++
        } else {
          counts.brokenStreams++
          noteOdd(answer.body)
        }
        continue
      }
      noteOdd(answer.body)
      if (answer.status === 429) {
        counts.rateLimited++
        if (answer.body.includes(UPSTREAM_429_MESSAGE)) counts.rateLimitedByUpstream++
        if (!ended) slot()[2]++
      } else if (answer.status >= 500) counts.serverErrors++
      else counts.otherStatus++
      if (answer.status === 429 || answer.status === 529) {
        // As the SDK does: wait what retry-after says (capped here so the run keeps its pace), then send again.
        const wait = Math.min(answer.retryAfterMs ?? 1_000, o.clientRetryCapMs, deadline - performance.now())
        if (wait > 0) await sleep(wait)
      }
    }
  }

  await setMode(upstream, { ...NORMAL_MODE, limitPerSecond: o.upstreamLimitPerSecond, retryAfterSeconds: o.retryAfterSeconds })
  const before = await stats(upstream)
  await upstream.call({ type: "reset" }, "ok")
  started = performance.now()
  deadline = started + o.seconds * 1000
  const health = pollHealth(o.proxy.port, 500)
  const rss = sampleRss([o.proxy.child.pid])
  const clients = Array.from({ length: o.connections }, client)
  await sleep(Math.max(0, deadline - performance.now()))
  // The run is over: what is still open (queued in the proxy, or streaming) is cut.
  ended = true
  const during = await stats(upstream)
  for (const request of open) request.destroy()
  await Promise.all(clients)
  const polled = await health.stop()
  const memory = rss.stop().get(o.proxy.child.pid)
  agent.destroy()
  await setMode(upstream, NORMAL_MODE)
  await settleUpstream(upstream)

  // The upstream's timeline only has the seconds up to its last request: quiet seconds at the end count as zeros.
  const timeline: Array<readonly [number, number, number]> = during.timeline.slice(0, Math.ceil(o.seconds))
  while (timeline.length < Math.ceil(o.seconds)) timeline.push([timeline.length, 0, 0])
  const whole = timeline.slice(0, Math.floor(o.seconds))
  const last = whole.slice(-o.lastSeconds)
  const effectiveRpm: Array<readonly [number, number]> = []
  for (const sample of polled) {
    const rpm = findEffectiveRpm(sample.upstream)
    if (rpm !== undefined) effectiveRpm.push([round(sample.ms / 1000, 1), rpm])
  }
  return {
    connections: o.connections,
    seconds: o.seconds,
    rpm: o.rpm,
    upstreamLimitPerSecond: o.upstreamLimitPerSecond,
    retryAfterSeconds: o.retryAfterSeconds,
    clientRetryCapMs: o.clientRetryCapMs,
    lastSeconds: o.lastSeconds,
    client: counts,
    clientTimeline: Array.from({ length: Math.ceil(o.seconds) }, (_, i) => clientTimeline[i] ?? [i, 0, 0]),
    upstream: {
      requests: timeline.reduce((sum, [, requests]) => sum + requests, 0),
      rateLimited: during.rateLimited - before.rateLimited,
      timeline,
      lastRequests: last.reduce((sum, [, requests]) => sum + requests, 0),
      lastRateLimited: last.reduce((sum, [, , limited]) => sum + limited, 0)
    },
    effectiveRpm,
    healthSamples: polled.filter((_, i) => i % 4 === 0).slice(0, 12).map((s) => ({ ms: s.ms, upstream: s.upstream })),
    oddBodies,
    peakRssBytes: memory?.peak ?? 0
  }
}
