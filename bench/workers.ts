/**
 * WORKERS=2 against one process, same run, same upstream, same load generator: the 50 KB streaming request at 64
 * keep-alive connections (the table's "50 KB, 64 connections" case). Both proxies are started first and then
 * measured in turns (one, two, one, two, …), so a neighbour's burst on a shared machine lands on both alike; the
 * figures are the medians of the rounds.
 *
 * CPU per request of the cluster is the sum over every process of it, the primary included (it accepts each
 * connection and hands it to a worker), read from /proc like the rest.
 *
 * Targets (issue 10): requests/s above the single process's, and CPU per request within 10% of it. On a 2-core
 * machine that also runs the load generator and the upstream, throughput cannot double: they take most of a core.
 */
import type { LoadResult, Target } from "./load.ts"
import { runLoad } from "./load.ts"

/** 64: the connection count of the main table's 50 KB case (and of the soak). */
const CONNECTIONS = 64
/** 3 rounds: an odd number for a true median; each round costs two load runs. */
const ROUNDS = Number(process.env.BENCH_WORKERS_ROUNDS ?? 3)

export interface Started {
  readonly target: Target
  readonly stop: () => Promise<void>
}

export interface WorkersOptions {
  readonly start: (workers: number) => Promise<Started>
  readonly upstreamPid: number
  readonly warmupSeconds: number
  readonly seconds: number
  readonly say: (text: string) => void
  readonly describe: (result: LoadResult) => string
}

export interface Figures {
  readonly requestsPerSecond: number
  readonly cpuMsPerRequest: number
  readonly upstreamCpuMsPerRequest: number
  readonly benchCpuMsPerRequest: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly errors: number
}

export interface WorkersResult {
  readonly connections: number
  readonly rounds: { readonly single: ReadonlyArray<LoadResult>; readonly workers: ReadonlyArray<LoadResult> }
  readonly single: Figures
  readonly workers: Figures
  /** workers / single */
  readonly throughputRatio: number
  readonly cpuPerRequestRatio: number
  readonly targets: { readonly throughputAbove: boolean; readonly cpuWithin10Percent: boolean }
}

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

const round = (value: number, digits = 3) => Math.round(value * 10 ** digits) / 10 ** digits

const figures = (runs: ReadonlyArray<LoadResult>): Figures => ({
  requestsPerSecond: round(median(runs.map((r) => r.requestsPerSecond)), 1),
  cpuMsPerRequest: round(median(runs.map((r) => r.cpuMsPerRequest))),
  upstreamCpuMsPerRequest: round(median(runs.map((r) => r.upstreamCpuMsPerRequest))),
  benchCpuMsPerRequest: round(median(runs.map((r) => r.benchCpuMsPerRequest))),
  p50Ms: round(median(runs.map((r) => r.latencyMs.p50)), 1),
  p99Ms: round(median(runs.map((r) => r.latencyMs.p99)), 1),
  errors: runs.reduce((sum, r) => sum + r.errorsTotal, 0)
})

export const measureWorkers = async (options: WorkersOptions): Promise<WorkersResult> => {
  const { say } = options
  const single = await options.start(1)
  const cluster = await options.start(2)
  try {
    say(`workers: 50 KB, ${CONNECTIONS} connections, ${ROUNDS} rounds of ${options.seconds} s each: one process (pid ${single.target.pid}) ` +
      `and WORKERS=2 (primary ${cluster.target.pid}, workers ${cluster.target.otherPids?.join(", ")})`)
    for (const [name, started] of [["one process", single], ["WORKERS=2", cluster]] as const) {
      say(`  warming up ${name}`)
      await runLoad({ target: started.target, connections: CONNECTIONS, seconds: options.warmupSeconds, upstreamPid: options.upstreamPid })
    }
    const rounds = { single: [] as Array<LoadResult>, workers: [] as Array<LoadResult> }
    for (let i = 0; i < ROUNDS; i++) {
      for (const [key, started] of [["single", single], ["workers", cluster]] as const) {
        const result = await runLoad({ target: started.target, connections: CONNECTIONS, seconds: options.seconds, upstreamPid: options.upstreamPid })
        rounds[key].push(result)
        say(`  round ${i + 1} ${key.padEnd(7)} ${options.describe(result)}`)
        await new Promise((resolve) => setTimeout(resolve, 500))
      }
    }
    const one = figures(rounds.single)
    const two = figures(rounds.workers)
    const throughputRatio = round(two.requestsPerSecond / one.requestsPerSecond)
    const cpuPerRequestRatio = round(two.cpuMsPerRequest / one.cpuMsPerRequest)
    return {
      connections: CONNECTIONS,
      rounds,
      single: one,
      workers: two,
      throughputRatio,
      cpuPerRequestRatio,
      targets: { throughputAbove: throughputRatio > 1, cpuWithin10Percent: cpuPerRequestRatio <= 1.1 }
    }
  } finally {
    await Promise.all([single.stop(), cluster.stop()])
  }
}

/** The figure as a markdown table, for bench/README.md and the README. */
export const workersTable = (r: WorkersResult): string => {
  const row = (name: string, f: Figures) =>
    `| ${name} | ${f.requestsPerSecond.toFixed(0)} | ${f.cpuMsPerRequest.toFixed(3)} | ${f.upstreamCpuMsPerRequest.toFixed(3)} | ` +
    `${f.benchCpuMsPerRequest.toFixed(3)} | ${f.p50Ms.toFixed(1)} | ${f.p99Ms.toFixed(1)} | ${f.errors} |`
  return [
    `50 KB streaming request, ${r.connections} connections, median of ${r.rounds.single.length} rounds`,
    "",
    "| proxy | req/s | proxy CPU ms/req (all processes) | upstream CPU ms/req | load generator CPU ms/req | p50 ms | p99 ms | errors |",
    "|---|---:|---:|---:|---:|---:|---:|---:|",
    row("one process", r.single),
    row("WORKERS=2", r.workers),
    "",
    `throughput ×${r.throughputRatio.toFixed(2)} (target > 1: ${r.targets.throughputAbove ? "met" : "NOT met"}); ` +
      `CPU per request ×${r.cpuPerRequestRatio.toFixed(2)} (target ≤ 1.10: ${r.targets.cpuWithin10Percent ? "met" : "NOT met"})`
  ].join("\n")
}
