/**
 * `npm run bench`: CCProxy against the physical limit of a Node proxy, on this machine, offline. See bench/README.md.
 *
 * Processes (all on 127.0.0.1, each a child of this one, stopped by PID on exit, Ctrl-C or error):
 * - the scripted OpenAI upstream (bench/upstream.ts),
 * - the baseline byte-piping proxy (bench/baseline.ts),
 * - our proxy, as `npm start` runs it (`node src/main.ts`, env only), plus the bench-only preload bench/probe.ts
 *   and `--expose-gc` (memory over IPC, exit with the bench); the baseline gets the same preload.
 * This process generates the load (autocannon, node:http) and reads /proc.
 *
 * After the soak, the protection cases (bench/protection.ts), each on a proxy of its own: 256 concurrent streams
 * against a slow upstream with the limiter at its default 64, and a 429 storm with UPSTREAM_RPM set; then the
 * per-stage micro-benchmark (bench/stages.ts) as a child process.
 *
 * Environment: BENCH_QUICK=1 (smoke run: short everything; results not written to latest.json),
 * BENCH_SECONDS (10), BENCH_WARMUP_SECONDS (2), BENCH_SOAK_SECONDS (60), BENCH_IDLE_STREAMS (1000),
 * BENCH_TTFB_SAMPLES (21), BENCH_LOG_LEVEL (the proxy's LOG_LEVEL, default info as with `npm start`),
 * BENCH_CONCURRENT_STREAMS (256), BENCH_CONCURRENT_SECONDS (10), BENCH_STORM_SECONDS (15),
 * BENCH_STAGES_ITERATIONS (1000), BENCH_STAGES_ROUNDS (9).
 * BENCH_ONLY=concurrency|storm|stages runs just that case and prints its log lines (no table, nothing written).
 * BENCH_ONLY=workers: the 50 KB case through one process and through WORKERS=2, same run (bench/workers.ts); it
 * writes bench/results/workers-<date>.json and workers-latest.json.
 */
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Http from "node:http"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { CLAUDE_CODE_HEADERS, loadBodies, OPENAI_HEADERS } from "./bodies.ts"
import { type Child, killAllNow, spawnChild, stopAll, waitReady } from "./children.ts"
import { type Endpoint, median, openStream, type OpenStream, timeRequest, type Timing } from "./client.ts"
import { NORMAL_MODE, type MemoryReport, type UpstreamMode } from "./ipc.ts"
import { type LoadResult, runLoad, type Target } from "./load.ts"
import { clockTicks } from "./procstat.ts"
import { type ConcurrencyResult, runConcurrency, runStorm, type StormResult } from "./protection.ts"
import { buildRows, type IdleResult, markdown, type SoakResult, type TtfbCase, type TtfbMedians } from "./report.ts"
import type { StagesResult } from "./stages.ts"
import { measureWorkers, workersTable } from "./workers.ts"

const ROOT = Path.resolve(import.meta.dirname, "..")

const num = (name: string, fallback: number) => {
  const text = process.env[name]
  if (text === undefined || text === "") return fallback
  const value = Number(text)
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number (got "${text}")`)
  return value
}
const QUICK = process.env.BENCH_QUICK === "1"
const SETTINGS = {
  quick: QUICK,
  loadSeconds: num("BENCH_SECONDS", QUICK ? 2 : 10),
  warmupSeconds: num("BENCH_WARMUP_SECONDS", QUICK ? 1 : 2),
  soakSeconds: num("BENCH_SOAK_SECONDS", QUICK ? 5 : 60),
  idleStreams: Math.round(num("BENCH_IDLE_STREAMS", QUICK ? 200 : 1000)),
  ttfbSamples: Math.round(num("BENCH_TTFB_SAMPLES", QUICK ? 5 : 21)),
  ttfbDelayMs: 20,
  proxyLogLevel: process.env.BENCH_LOG_LEVEL ?? "info",
  concurrentStreams: Math.round(num("BENCH_CONCURRENT_STREAMS", 256)),
  concurrentSeconds: num("BENCH_CONCURRENT_SECONDS", QUICK ? 6 : 10),
  /** Per upstream chunk (35 chunks): a stream lasts about a second. */
  concurrentDelayMs: 28,
  /** The limiter's default (MAX_CONCURRENT_UPSTREAM unset) and the queue timeout that case runs with. */
  concurrentLimit: 64,
  concurrentQueueTimeoutSeconds: 60,
  stormSeconds: num("BENCH_STORM_SECONDS", QUICK ? 10 : 15),
  stormConnections: 16,
  stormRpm: 600,
  stormUpstreamPerSecond: 5,
  stormRetryAfterSeconds: 1,
  stormClientRetryCapMs: 2_000,
  stormLastSeconds: QUICK ? 3 : 5
}

const t0 = performance.now()
const say = (text: string) => process.stderr.write(`[bench ${((performance.now() - t0) / 1000).toFixed(1).padStart(5)} s] ${text}\n`)
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

// ---------------------------------------------------------------------------------------------------------------
// The proxy's log: info lines are only counted; warn/error lines are grouped by phase and kept as samples.

let phase = "start"
const proxyLog = {
  infoLines: 0,
  groups: new Map<string, { phase: string; level: string; msg: string; status: unknown; error: unknown; count: number; sample: string }>()
}
const readProxyLine = (line: string) => {
  if (line.includes('"level":"info"') || line.includes('"level":"debug"')) {
    proxyLog.infoLines++
    return
  }
  let parsed: Record<string, unknown> = {}
  try {
    parsed = JSON.parse(line) as Record<string, unknown>
  } catch {
    parsed = { level: "raw", msg: line.slice(0, 200) }
  }
  const key = `${phase}|${parsed.level}|${parsed.msg}|${parsed.status}|${parsed.error}`
  const group = proxyLog.groups.get(key)
  if (group) group.count++
  else {
    proxyLog.groups.set(key, {
      phase,
      level: String(parsed.level),
      msg: String(parsed.msg),
      status: parsed.status ?? null,
      error: parsed.error ?? null,
      count: 1,
      sample: line.slice(0, 1_000)
    })
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Children

const baseEnv = () => ({ PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "" })

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = Net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as Net.AddressInfo
      server.close(() => resolve(port))
    })
  })

const startUpstream = async () => {
  const child = spawnChild("upstream", { args: ["bench/upstream.ts"], env: baseEnv(), cwd: ROOT })
  return { child, port: await waitReady(child) }
}

const startBaseline = async (upstreamPort: number) => {
  const child = spawnChild("baseline", {
    args: ["--expose-gc", "--import", "./bench/probe.ts", "bench/baseline.ts"],
    env: { ...baseEnv(), UPSTREAM_PORT: String(upstreamPort) },
    cwd: ROOT
  })
  return { child, port: await waitReady(child) }
}

/**
 * `npm start` with the bench preload; the port comes from its "listening" log line (or is chosen here). `env` adds
 * protection settings for the cases that need them.
 */
const startProxy = async (upstreamPort: number, env: Record<string, string> = {}, name = "proxy") => {
  const logsAddress = ["debug", "info"].includes(SETTINGS.proxyLogLevel.toLowerCase())
  const port = logsAddress ? 0 : await freePort()
  let buffer = ""
  const workerPids: Array<number> = []
  let announce: (address: string) => void = () => {}
  const listening = new Promise<string>((resolve) => (announce = resolve))
  const child = spawnChild(name, {
    args: ["--expose-gc", "--import", "./bench/probe.ts", "src/main.ts"],
    env: {
      ...baseEnv(),
      OPENAI_BASE_URL: `http://127.0.0.1:${upstreamPort}/v1`,
      OPENAI_API_KEY: "bench",
      PORT: String(port),
      LOG_LEVEL: SETTINGS.proxyLogLevel,
      ...env
    },
    cwd: ROOT,
    onStdout: (chunk) => {
      buffer += chunk
      let newline = buffer.indexOf("\n")
      while (newline >= 0) {
        const line = buffer.slice(0, newline)
        buffer = buffer.slice(newline + 1)
        if (line.includes('"msg":"listening"')) {
          const listening = JSON.parse(line) as { address: string; worker?: number; pid?: number }
          // With WORKERS > 1 each worker logs its own line (same address): keep their PIDs for the CPU figures.
          if (listening.worker !== undefined && listening.pid !== undefined) workerPids.push(listening.pid)
          announce(listening.address)
        } else if (line) readProxyLine(line)
        newline = buffer.indexOf("\n")
      }
    }
  })
  const exited = new Promise<never>((_, reject) =>
    child.process.once("exit", (code) => reject(new Error(`${name} exited during start (code ${code}):\n${child.stderrTail()}`)))
  )
  const timeout = sleep(30_000).then(() => {
    throw new Error(`${name} did not start within 30 s:\n${child.stderrTail()}`)
  })
  if (logsAddress) {
    const address = await Promise.race([listening, exited, timeout])
    return { child, port: Number(new URL(address).port), workerPids }
  }
  // No "listening" line at this level: wait until the chosen port accepts connections.
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = Net.connect(port, "127.0.0.1", () => {
        socket.destroy()
        resolve(true)
      })
      socket.once("error", () => resolve(false))
    })
    if (open) return { child, port, workerPids }
    await Promise.race([sleep(100), exited])
  }
}

const setMode = (upstream: Child, mode: UpstreamMode) => upstream.call({ type: "mode", mode }, "ok")
const memory = async (child: Child, gc: boolean): Promise<MemoryReport> =>
  (await child.call({ type: "probe:memory", gc }, "probe:memory")).memory
const upstreamStats = async (upstream: Child) => (await upstream.call({ type: "stats" }, "stats")).stats

// ---------------------------------------------------------------------------------------------------------------
// Endpoints

const isProxyText = (soFar: string) => soFar.includes('"text_delta"')
const isProxyComplete = (body: string) => body.includes("event: message_stop") && !body.includes("event: error")
const isOpenAiText = (soFar: string) => soFar.includes('"delta":{"content":"')
const isOpenAiComplete = (body: string) => body.includes("data: [DONE]")

const withLength = (headers: Readonly<Record<string, string>>, body: string) => ({
  ...headers,
  "content-length": String(Buffer.byteLength(body))
})

const proxyEndpoint = (port: number, body: string): Endpoint => ({
  name: "proxy",
  port,
  path: "/v1/messages?beta=true",
  headers: withLength(CLAUDE_CODE_HEADERS, body),
  body,
  hasText: isProxyText,
  complete: isProxyComplete
})

const openAiEndpoint = (name: string, port: number, body: string): Endpoint => ({
  name,
  port,
  path: "/v1/chat/completions",
  headers: withLength(OPENAI_HEADERS, body),
  body,
  hasText: isOpenAiText,
  complete: isOpenAiComplete
})

const loadTarget = (endpoint: Endpoint, pid: number): Target => {
  const { "content-length": _, ...headers } = endpoint.headers as Record<string, string>
  return {
    name: endpoint.name,
    url: `http://127.0.0.1:${endpoint.port}${endpoint.path}`,
    headers,
    body: endpoint.body,
    complete: endpoint.complete,
    pid
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Phases

/** Sends each Anthropic body through the proxy once and keeps the Chat Completions body the upstream received. */
const captureOpenAiBody = async (upstream: Child, proxyPort: number, body: string): Promise<{ openAi: string; proxyAnswer: string }> => {
  await setMode(upstream, { ...NORMAL_MODE, capture: true })
  const agent = new Http.Agent({ keepAlive: false })
  const timing = await timeRequest(proxyEndpoint(proxyPort, body), agent)
  agent.destroy()
  const captured = await upstream.call({ type: "captured" }, "captured")
  await setMode(upstream, NORMAL_MODE)
  if (timing.status !== 200 || !timing.complete || captured.body === null) {
    throw new Error(`capturing the upstream body failed: HTTP ${timing.status}, complete=${timing.complete}, captured=${captured.body !== null}`)
  }
  return { openAi: captured.body, proxyAnswer: timing.body }
}

const measureIdle = async (
  upstream: Child,
  server: Child,
  endpoint: Endpoint,
  streams: number
): Promise<IdleResult> => {
  phase = `idle:${endpoint.name}`
  await setMode(upstream, NORMAL_MODE)
  const warm = new Http.Agent({ keepAlive: true, maxSockets: 1 })
  for (let i = 0; i < 20; i++) await timeRequest(endpoint, warm)
  warm.destroy()
  await sleep(300)
  await setMode(upstream, { ...NORMAL_MODE, holdAfter: 3 })
  const before = await memory(server, true)
  const held0 = (await upstreamStats(upstream)).held
  const agent = new Http.Agent({ keepAlive: false, maxSockets: Infinity })
  const open: Array<OpenStream> = []
  let next = 0
  const opener = async () => {
    while (next < streams) {
      next++
      open.push(await openStream(endpoint, agent))
    }
  }
  try {
    await Promise.all(Array.from({ length: 32 }, opener))
    for (let waited = 0; (await upstreamStats(upstream)).held - held0 < streams; waited += 100) {
      if (waited > 60_000) throw new Error(`only ${(await upstreamStats(upstream)).held} of ${streams} streams held at the upstream`)
      await sleep(100)
    }
    await sleep(1_000)
    const after = await memory(server, true)
    await upstream.call({ type: "release" }, "ok")
    const finished = await Promise.race([
      Promise.all(open.map((stream) => stream.done)),
      sleep(60_000).then(() => [] as Array<boolean>)
    ])
    await setMode(upstream, NORMAL_MODE)
    return {
      target: endpoint.name,
      streams,
      heapPerStreamBytes: Math.round((after.heapUsed - before.heapUsed) / streams),
      rssPerStreamBytes: Math.round((after.rss - before.rss) / streams),
      externalPerStreamBytes: Math.round((after.external - before.external) / streams),
      before: { heapUsed: before.heapUsed, rss: before.rss },
      after: { heapUsed: after.heapUsed, rss: after.rss },
      completedAfterRelease: finished.filter(Boolean).length,
      gc: before.gc && after.gc
    }
  } finally {
    for (const stream of open) stream.destroy()
    agent.destroy()
    await upstream.call({ type: "release" }, "ok")
    await setMode(upstream, NORMAL_MODE)
  }
}

const medians = (timings: ReadonlyArray<Timing>): TtfbMedians => ({
  headersMs: round(median(timings.map((t) => t.headersMs))),
  firstByteMs: round(median(timings.map((t) => t.firstByteMs))),
  firstTextMs: round(median(timings.map((t) => t.firstTextMs))),
  incomplete: timings.filter((t) => !t.complete || t.status !== 200).length
})
const round = (value: number, digits = 3) => Math.round(value * 10 ** digits) / 10 ** digits

/** Sequential requests, endpoints interleaved so drift hits all three alike; the first two of each are warm-up. */
const measureTtfb = async (
  upstream: Child,
  endpoints: { direct: Endpoint; baseline: Endpoint; proxy: Endpoint },
  samples: number
): Promise<TtfbCase & { samplesMs: Record<string, Array<number>> }> => {
  await setMode(upstream, { ...NORMAL_MODE, delayMs: SETTINGS.ttfbDelayMs, delayChunks: 3 })
  const names = ["direct", "baseline", "proxy"] as const
  const agents = names.map(() => new Http.Agent({ keepAlive: true, maxSockets: 1 }))
  const timings: Record<(typeof names)[number], Array<Timing>> = { direct: [], baseline: [], proxy: [] }
  try {
    for (let i = 0; i < samples + 2; i++) {
      for (let e = 0; e < names.length; e++) {
        const name = names[e]!
        const timing = await timeRequest(endpoints[name], agents[e]!)
        if (i >= 2) timings[name].push(timing)
      }
    }
  } finally {
    for (const agent of agents) agent.destroy()
    await setMode(upstream, NORMAL_MODE)
  }
  return {
    label: `${Math.round(Buffer.byteLength(endpoints.proxy.body) / 1000)} KB`,
    bodyBytes: Buffer.byteLength(endpoints.proxy.body),
    samples,
    direct: medians(timings.direct),
    baseline: medians(timings.baseline),
    proxy: medians(timings.proxy),
    samplesMs: Object.fromEntries(names.map((name) => [name, timings[name].map((t) => round(t.firstTextMs, 2))]))
  }
}

const describeLoad = (r: LoadResult) =>
  `${r.target.padEnd(8)} ${String(r.connections).padStart(2)} conn: ${r.requestsPerSecond.toFixed(0).padStart(6)} req/s, ` +
  `p50 ${r.latencyMs.p50.toFixed(1)} ms, p99 ${r.latencyMs.p99.toFixed(1)} ms, errors ${r.errorsTotal}, ` +
  `CPU ${r.cpuMsPerRequest.toFixed(3)} ms/req (upstream ${r.upstreamCpuMsPerRequest.toFixed(3)}, bench ${r.benchCpuMsPerRequest.toFixed(3)}), ` +
  `peak RSS ${(r.peakRssBytes / 1048576).toFixed(0)} MB`

const withoutSeries = (r: LoadResult): LoadResult => {
  const { rssSeries: _, ...rest } = r
  return rest
}

// ---------------------------------------------------------------------------------------------------------------
// The protection cases, each on a fresh proxy of its own (stopped by PID when its case is done), and the stages.

/** 256 streams of ~1 s each through a proxy with the limiter at its default 64 and a 60 s queue timeout. */
const measureConcurrency = async (upstreamPort: number, upstream: Child, body: string): Promise<ConcurrencyResult> => {
  phase = "concurrency"
  const proxy = await startProxy(upstreamPort, { QUEUE_TIMEOUT: String(SETTINGS.concurrentQueueTimeoutSeconds) }, "proxy-limiter")
  try {
    say(`concurrency: ${SETTINGS.concurrentStreams} streams × ${SETTINGS.concurrentSeconds} s, upstream ${SETTINGS.concurrentDelayMs} ms/chunk, limiter at default (pid ${proxy.child.pid})`)
    const endpoint = proxyEndpoint(proxy.port, body)
    const result = await runConcurrency({
      upstream,
      proxy,
      target: loadTarget(endpoint, proxy.child.pid),
      connections: SETTINGS.concurrentStreams,
      seconds: SETTINGS.concurrentSeconds,
      warmupSeconds: SETTINGS.warmupSeconds,
      maxConcurrent: SETTINGS.concurrentLimit,
      queueTimeoutSeconds: SETTINGS.concurrentQueueTimeoutSeconds,
      delayMsPerChunk: SETTINGS.concurrentDelayMs,
      say,
      memory: (gc) => memory(proxy.child, gc),
      timeOne: async () => {
        const agent = new Http.Agent({ keepAlive: false })
        try {
          return (await timeRequest(endpoint, agent)).totalMs
        } finally {
          agent.destroy()
        }
      }
    })
    await sleep(500)
    say(
      `  ${describeLoad(result.load)}; upstream max in flight ${result.upstreamMaxInFlight}, /health max in_flight ` +
        `${result.health.maxInFlight ?? "n/a"} queued ${result.health.maxQueued ?? "n/a"}; one stream alone ${result.singleStreamMs} ms; ` +
        `RSS ${(result.rssStartBytes / 1048576).toFixed(1)} → ${(result.rssEndBytes / 1048576).toFixed(1)} MB, ` +
        `heap after GC ${(result.heapBeforeBytes / 1048576).toFixed(1)} → ${(result.heapAfterBytes / 1048576).toFixed(1)} MB`
    )
    return result
  } finally {
    await proxy.child.stop()
  }
}

/** 16 SDK-like clients against a proxy with UPSTREAM_RPM set and an upstream that 429s above 5 requests a second. */
const measureStorm = async (upstreamPort: number, upstream: Child, body: string): Promise<StormResult> => {
  phase = "storm"
  const proxy = await startProxy(upstreamPort, { UPSTREAM_RPM: String(SETTINGS.stormRpm) }, "proxy-rpm")
  try {
    say(
      `429 storm: ${SETTINGS.stormConnections} clients × ${SETTINGS.stormSeconds} s, UPSTREAM_RPM=${SETTINGS.stormRpm}, upstream 429 ` +
        `(Retry-After: ${SETTINGS.stormRetryAfterSeconds}) above ${SETTINGS.stormUpstreamPerSecond} req/s (pid ${proxy.child.pid})`
    )
    const endpoint = proxyEndpoint(proxy.port, body)
    // One request first, so the start-up is not part of the storm.
    const agent = new Http.Agent({ keepAlive: false })
    await timeRequest(endpoint, agent).finally(() => agent.destroy())
    await sleep(1_100)
    const result = await runStorm({
      upstream,
      proxy,
      path: endpoint.path,
      headers: endpoint.headers,
      body,
      complete: isProxyComplete,
      connections: SETTINGS.stormConnections,
      seconds: SETTINGS.stormSeconds,
      rpm: SETTINGS.stormRpm,
      upstreamLimitPerSecond: SETTINGS.stormUpstreamPerSecond,
      retryAfterSeconds: SETTINGS.stormRetryAfterSeconds,
      clientRetryCapMs: SETTINGS.stormClientRetryCapMs,
      lastSeconds: SETTINGS.stormLastSeconds,
      say
    })
    await sleep(500)
    const c = result.client
    say(
      `  clients: ${c.requests} requests, ${c.completed} completed, ${c.rateLimited} × 429 (${c.rateLimitedByUpstream} the upstream's), ${c.serverErrors} × 5xx, ` +
        `${c.otherStatus} other, ${c.brokenStreams} broken, ${c.connectionErrors} conn errors, ${c.cutAtEnd} cut at the end; ` +
        `upstream: ${result.upstream.requests} requests, ${result.upstream.rateLimited} × 429, last ${result.lastSeconds} s: ` +
        `${result.upstream.lastRequests} requests, ${result.upstream.lastRateLimited} × 429; timeline ${JSON.stringify(result.upstream.timeline)}` +
        (result.effectiveRpm.length ? `; effective RPM ${JSON.stringify(result.effectiveRpm.filter((_, i) => i % 2 === 0))}` : "")
    )
    return result
  } finally {
    await proxy.child.stop()
  }
}

/** bench/stages.ts in a child of its own (its JIT and heap apart from the bench's); its log lines are drained here. */
const measureStages = async (): Promise<StagesResult> => {
  phase = "stages"
  let logLines = 0
  const passOn = Object.fromEntries(
    ["BENCH_QUICK", "BENCH_STAGES_ITERATIONS", "BENCH_STAGES_ROUNDS"].flatMap((name) =>
      process.env[name] === undefined ? [] : [[name, process.env[name]!]])
  )
  const child = spawnChild("stages", {
    args: ["--expose-gc", "bench/stages.ts"],
    env: { ...baseEnv(), ...passOn },
    cwd: ROOT,
    onStdout: (chunk) => {
      for (let at = chunk.indexOf("\n"); at >= 0; at = chunk.indexOf("\n", at + 1)) logLines++
    }
  })
  say(`stages: per-request cost of each stage, in-process (pid ${child.pid})`)
  try {
    const result = await new Promise<StagesResult>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`stages: no result within 300 s\n${child.stderrTail()}`)), 300_000)
      child.process.on("message", (raw) => {
        const message = raw as { type?: string; result?: unknown }
        if (message.type === "stages") {
          clearTimeout(timer)
          resolve(message.result as StagesResult)
        }
      })
      child.process.once("exit", (code) => {
        clearTimeout(timer)
        reject(new Error(`stages exited with code ${code}\n${child.stderrTail()}`))
      })
    })
    const added = (name: string) => result.stream.find((v) => v.name === name)?.addedUs
    say(
      `  ${result.seconds} s, ${logLines} log lines; stream: no stages ${result.stream[0]?.usPerRequest} µs, ` +
        result.stream.slice(1).map((v) => `${v.name} +${added(v.name)}`).join(", ") +
        `; checkStructure ${result.structure.map((t) => `${t.label} ${t.usPerCall} µs`).join(", ")}`
    )
    return result
  } finally {
    await child.stop()
  }
}

/** BENCH_ONLY=workers: one process against WORKERS=2 on the 50 KB case; the result is written beside the others. */
const measureWorkersCase = async (upstreamPort: number, upstreamPid: number, body: string) => {
  phase = "workers"
  // As in the main load cases: the limiter's bound is not what is measured (each worker gets half of it).
  const env = { MAX_CONCURRENT_UPSTREAM: "2048" }
  const result = await measureWorkers({
    start: async (workers) => {
      const proxy = await startProxy(upstreamPort, { ...env, WORKERS: String(workers) }, workers === 1 ? "proxy" : `proxy-w${workers}`)
      const deadline = Date.now() + 30_000
      while (workers > 1 && proxy.workerPids.length < workers) {
        if (Date.now() > deadline) throw new Error(`only ${proxy.workerPids.length} of ${workers} workers listened within 30 s`)
        await sleep(50)
      }
      return {
        target: { ...loadTarget(proxyEndpoint(proxy.port, body), proxy.child.pid), otherPids: proxy.workerPids },
        stop: () => proxy.child.stop()
      }
    },
    upstreamPid,
    warmupSeconds: SETTINGS.warmupSeconds,
    seconds: SETTINGS.loadSeconds,
    say,
    describe: describeLoad
  })
  const dir = Path.join(ROOT, "bench/results")
  Fs.mkdirSync(dir, { recursive: true })
  const meta = { date: new Date().toISOString(), node: process.version, cpus: Os.cpus().length, cpuModel: Os.cpus()[0]?.model ?? "unknown", ...gitInfo() }
  const json = `${JSON.stringify({ meta, settings: { seconds: SETTINGS.loadSeconds, warmupSeconds: SETTINGS.warmupSeconds }, ...result }, null, 2)}\n`
  Fs.writeFileSync(Path.join(dir, `workers-${meta.date.replace(/[:.]/g, "-")}${QUICK ? "-quick" : ""}.json`), json)
  if (!QUICK) Fs.writeFileSync(Path.join(dir, "workers-latest.json"), json)
  process.stdout.write(`\n${workersTable(result)}\n`)
}

// ---------------------------------------------------------------------------------------------------------------

const gitInfo = () => {
  try {
    const commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT, encoding: "utf8" }).trim()
    const dirty = execFileSync("git", ["status", "--porcelain", "--", "src"], { cwd: ROOT, encoding: "utf8" }).trim() !== ""
    return { commit, srcDirty: dirty }
  } catch {
    return { commit: "unknown", srcDirty: false }
  }
}

/** One protection case alone, for working on it: its own log lines are the result. */
const only = async (name: string) => {
  const bodies = loadBodies(ROOT)
  if (name === "stages") return void (await measureStages())
  const upstream = await startUpstream()
  if (name === "storm") return void (await measureStorm(upstream.port, upstream.child, bodies.firstTurn))
  if (name === "concurrency") return void (await measureConcurrency(upstream.port, upstream.child, bodies.firstTurn))
  if (name === "workers") return void (await measureWorkersCase(upstream.port, upstream.child.pid, bodies.firstTurn))
  throw new Error(`BENCH_ONLY must be concurrency, storm, stages or workers (got "${name}")`)
}

const main = async () => {
  say(`settings ${JSON.stringify(SETTINGS)}`)
  if (process.env.BENCH_ONLY) return only(process.env.BENCH_ONLY)
  const bodies = loadBodies(ROOT)
  const upstream = await startUpstream()
  const baseline = await startBaseline(upstream.port)
  // The limiter's default (64) would queue the idle streams; those cases measure the request path, the limiter's
  // bound has its own case (a proxy at the default) after the soak.
  const proxy = await startProxy(upstream.port, { MAX_CONCURRENT_UPSTREAM: String(SETTINGS.idleStreams + 64) })
  say(`upstream :${upstream.port} (pid ${upstream.child.pid}), baseline :${baseline.port} (pid ${baseline.child.pid}), proxy :${proxy.port} (pid ${proxy.child.pid})`)

  phase = "capture"
  const firstCapture = await captureOpenAiBody(upstream.child, proxy.port, bodies.firstTurn)
  const openAiFirst = firstCapture.openAi
  const openAiLong = (await captureOpenAiBody(upstream.child, proxy.port, bodies.longSession)).openAi
  const sizes = {
    anthropicFirstTurn: Buffer.byteLength(bodies.firstTurn),
    anthropicLongSession: Buffer.byteLength(bodies.longSession),
    openAiFirstTurn: Buffer.byteLength(openAiFirst),
    openAiLongSession: Buffer.byteLength(openAiLong)
  }
  say(`bodies (bytes) ${JSON.stringify(sizes)}`)

  const small = {
    proxy: proxyEndpoint(proxy.port, bodies.firstTurn),
    baseline: openAiEndpoint("baseline", baseline.port, openAiFirst),
    direct: openAiEndpoint("direct", upstream.port, openAiFirst)
  }
  const large = {
    proxy: proxyEndpoint(proxy.port, bodies.longSession),
    baseline: openAiEndpoint("baseline", baseline.port, openAiLong),
    direct: openAiEndpoint("direct", upstream.port, openAiLong)
  }

  // Idle streams first, while both servers are fresh (only warmed up), so the deltas are about the streams.
  say(`idle streams: ${SETTINGS.idleStreams} through the proxy`)
  const idleProxy = await measureIdle(upstream.child, proxy.child, small.proxy, SETTINGS.idleStreams)
  say(`  proxy: heap ${(idleProxy.heapPerStreamBytes / 1024).toFixed(1)} KB/stream, RSS ${(idleProxy.rssPerStreamBytes / 1024).toFixed(1)} KB/stream, ${idleProxy.completedAfterRelease} completed after release`)
  say(`idle streams: ${SETTINGS.idleStreams} through the baseline`)
  const idleBaseline = await measureIdle(upstream.child, baseline.child, small.baseline, SETTINGS.idleStreams)
  say(`  baseline: heap ${(idleBaseline.heapPerStreamBytes / 1024).toFixed(1)} KB/stream, RSS ${(idleBaseline.rssPerStreamBytes / 1024).toFixed(1)} KB/stream`)

  phase = "ttfb"
  say(`first byte / first text delta, ${SETTINGS.ttfbDelayMs} ms per chunk, ${SETTINGS.ttfbSamples} samples each`)
  const ttfb = []
  for (const [endpoints, isLarge] of [[small, false], [large, true]] as const) {
    const result = await measureTtfb(upstream.child, endpoints, SETTINGS.ttfbSamples)
    say(`  ${result.label}: first text delta direct ${result.direct.firstTextMs} ms, baseline ${result.baseline.firstTextMs} ms, proxy ${result.proxy.firstTextMs} ms`)
    ttfb.push({ ...result, large: isLarge })
  }

  const cases = [
    { endpoints: small, connections: 16, large: false },
    { endpoints: small, connections: 64, large: false },
    { endpoints: large, connections: 16, large: true }
  ]
  const load: Array<{ baseline: LoadResult; proxy: LoadResult; large: boolean; warmup: Record<string, number> }> = []
  for (const c of cases) {
    const label = `${Math.round(Buffer.byteLength(c.endpoints.proxy.body) / 1000)}KB/c${c.connections}`
    const results: Record<string, LoadResult> = {}
    const warmupErrors: Record<string, number> = {}
    for (const [name, endpoint, pid] of [
      ["baseline", c.endpoints.baseline, baseline.child.pid],
      ["proxy", c.endpoints.proxy, proxy.child.pid]
    ] as const) {
      const target = loadTarget(endpoint, pid)
      phase = `load:${label}:${name}:warmup`
      const warm = await runLoad({ target, connections: c.connections, seconds: SETTINGS.warmupSeconds, upstreamPid: upstream.child.pid })
      warmupErrors[name] = warm.errorsTotal
      await sleep(500)
      phase = `load:${label}:${name}`
      results[name] = await runLoad({ target, connections: c.connections, seconds: SETTINGS.loadSeconds, upstreamPid: upstream.child.pid })
      // Let the hang-ups of the requests cut off at the end land in this phase's log.
      await sleep(500)
      say(`${label} ${describeLoad(results[name]!)}`)
      if (results[name]!.oddBodies.length) say(`  odd bodies: ${JSON.stringify(results[name]!.oddBodies.slice(0, 2)).slice(0, 600)}`)
    }
    load.push({ baseline: results.baseline!, proxy: results.proxy!, large: c.large, warmup: warmupErrors })
  }

  phase = "soak"
  say(`soak: ${SETTINGS.soakSeconds} s at 64 connections, 50 KB`)
  const heapBefore = await memory(proxy.child, true)
  const soakLoad = await runLoad({
    target: loadTarget(small.proxy, proxy.child.pid),
    connections: 64,
    seconds: SETTINGS.soakSeconds,
    upstreamPid: upstream.child.pid,
    keepRssSeries: true
  })
  await sleep(500)
  const heapAfter = await memory(proxy.child, true)
  const samples = soakLoad.rssSeries?.samples ?? []
  const tenth = Math.max(1, Math.floor(samples.length / 10))
  const rssStart = median(samples.slice(0, tenth).map(([, bytes]) => bytes))
  const rssEnd = median(samples.slice(-tenth).map(([, bytes]) => bytes))
  const timeline: Array<readonly [number, number]> = []
  for (const [ms, bytes] of samples) {
    if (timeline.length === 0 || ms / 1000 >= timeline.at(-1)![0] + 1) timeline.push([Math.round(ms / 1000), round(bytes / 1048576, 1)])
  }
  const soak: SoakResult = {
    load: withoutSeries(soakLoad),
    rssStartBytes: rssStart,
    rssEndBytes: rssEnd,
    rssGrowth: rssEnd / rssStart - 1,
    heapBeforeBytes: heapBefore.heapUsed,
    heapAfterBytes: heapAfter.heapUsed,
    rssTimeline: timeline
  }
  say(`soak ${describeLoad(soakLoad)}; RSS ${(rssStart / 1048576).toFixed(1)} → ${(rssEnd / 1048576).toFixed(1)} MB`)

  // The protection cases and the stage costs. A failure here is recorded and the run goes on, so the results
  // above are still written.
  const failures: Array<string> = []
  const attempt = async <A>(name: string, run: () => Promise<A>): Promise<A | undefined> => {
    try {
      return await run()
    } catch (error) {
      const text = error instanceof Error ? error.stack ?? error.message : String(error)
      failures.push(`${name}: ${text}`)
      say(`${name} FAILED: ${text}`)
      return undefined
    }
  }
  const concurrency = await attempt("concurrency", () => measureConcurrency(upstream.port, upstream.child, bodies.firstTurn))
  const storm = await attempt("storm", () => measureStorm(upstream.port, upstream.child, bodies.firstTurn))
  const stages = await attempt("stages", measureStages)
  phase = "end"

  const { rows, targets } = buildRows({
    load: load.map(({ baseline: b, proxy: p, large: l }) => ({ baseline: withoutSeries(b), proxy: withoutSeries(p), large: l })),
    ttfb,
    idle: { proxy: idleProxy, baseline: idleBaseline },
    soak: { result: soak, baseline64: load[1]?.baseline },
    concurrency,
    storm,
    stages
  })
  const table = markdown(rows, targets)
  const runtimeSeconds = round((performance.now() - t0) / 1000, 1)
  const upstreamFinal = await upstreamStats(upstream.child)

  const result = {
    meta: {
      date: new Date().toISOString(),
      runtimeSeconds,
      node: process.version,
      cpus: Os.cpus().length,
      cpuModel: Os.cpus()[0]?.model ?? "unknown",
      memoryGB: round(Os.totalmem() / 1024 ** 3, 1),
      clockTicks: clockTicks(),
      ...gitInfo(),
      settings: SETTINGS,
      bodyBytes: sizes
    },
    targets,
    load: load.map(({ baseline: b, proxy: p, warmup }) => ({ baseline: withoutSeries(b), proxy: withoutSeries(p), warmupErrors: warmup })),
    ttfb,
    idle: { proxy: idleProxy, baseline: idleBaseline },
    soak,
    concurrency: concurrency ?? null,
    storm: storm ?? null,
    stages: stages ?? null,
    failures,
    upstream: upstreamFinal,
    proxyLog: { infoLines: proxyLog.infoLines, warnings: [...proxyLog.groups.values()] },
    proxyStderr: proxy.child.stderrTail(),
    /** One whole answer of the proxy to the 50 KB request (the upstream's script, converted). */
    proxyAnswerSample: firstCapture.proxyAnswer,
    table
  }

  const dir = Path.join(ROOT, "bench/results")
  Fs.mkdirSync(dir, { recursive: true })
  const stamp = result.meta.date.replace(/[:.]/g, "-")
  const json = `${JSON.stringify(result, null, 2)}\n`
  const file = Path.join(dir, `${stamp}${QUICK ? "-quick" : ""}.json`)
  Fs.writeFileSync(file, json)
  if (!QUICK) Fs.writeFileSync(Path.join(dir, "latest.json"), json)

  process.stdout.write(`\n## CCProxy benchmark (${result.meta.date}, ${result.meta.cpus} × ${result.meta.cpuModel}, node ${process.version})\n\n${table}\n\n`)
  const warnings = [...proxyLog.groups.values()]
  if (warnings.length) {
    process.stdout.write("Proxy warnings/errors by phase (client hang-ups at the end of each load run are expected):\n")
    for (const w of warnings) process.stdout.write(`- ${w.phase}: ${w.count} × ${w.level} ${w.msg} status=${w.status} ${w.error ?? ""}\n`)
  }
  process.stdout.write(`\nResults: ${Path.relative(ROOT, file)}${QUICK ? "" : " and bench/results/latest.json"}; runtime ${runtimeSeconds} s.\n`)
  if (failures.length) {
    process.stdout.write(`\nFailed cases (left out of the table):\n${failures.map((f) => `- ${f.split("\n")[0]}`).join("\n")}\n`)
    process.exitCode = 1
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Every child goes, whatever happens.

let ending = false
const end = async (code: number) => {
  if (ending) return
  ending = true
  await stopAll()
  process.exit(code)
}
process.on("exit", killAllNow)
process.on("SIGINT", () => {
  say("interrupted; stopping children")
  void end(130)
})
process.on("SIGTERM", () => void end(143))
process.on("uncaughtException", (error) => {
  process.stderr.write(`bench: ${error.stack ?? error}\n`)
  void end(1)
})

main().then(
  () => end(0),
  (error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`)
    return end(1)
  }
)
