/**
 * CPU and memory of a process from /proc (Linux): CPU time as utime+stime clock ticks from /proc/<pid>/stat,
 * resident memory as VmRSS from /proc/<pid>/status, sampled every 100 ms (VmHWM would be the peak over the whole
 * process life, not over one run).
 */
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"

let ticks: number | undefined

/** Clock ticks per second (`getconf CLK_TCK`, almost always 100: CPU time has 10 ms resolution). */
export const clockTicks = (): number => {
  if (ticks === undefined) {
    try {
      ticks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim())
    } catch {
      ticks = 100
    }
    if (!Number.isFinite(ticks) || ticks <= 0) ticks = 100
  }
  return ticks
}

/** utime + stime of a process, in milliseconds. */
export const cpuMillis = (pid: number): number => {
  const stat = Fs.readFileSync(`/proc/${pid}/stat`, "utf8")
  // Fields after "(comm)": state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks()
}

/** VmRSS in bytes. */
export const rssBytes = (pid: number): number => {
  const status = Fs.readFileSync(`/proc/${pid}/status`, "utf8")
  const match = /VmRSS:\s+(\d+) kB/.exec(status)
  return match ? Number(match[1]) * 1024 : 0
}

export interface RssSeries {
  readonly peak: number
  readonly mean: number
  readonly first: number
  readonly last: number
  /** [milliseconds since start, bytes] */
  readonly samples: ReadonlyArray<readonly [number, number]>
}

/** Samples VmRSS of each pid every `intervalMs` until stopped. */
export const sampleRss = (pids: ReadonlyArray<number>, intervalMs = 100) => {
  const started = performance.now()
  const series = new Map<number, Array<readonly [number, number]>>(pids.map((pid) => [pid, []]))
  const take = () => {
    const at = performance.now() - started
    for (const pid of pids) {
      try {
        series.get(pid)!.push([Math.round(at), rssBytes(pid)])
      } catch {
        // process gone; the caller notices elsewhere
      }
    }
  }
  take()
  const timer = setInterval(take, intervalMs)
  return {
    stop: (): Map<number, RssSeries> => {
      clearInterval(timer)
      take()
      const out = new Map<number, RssSeries>()
      for (const [pid, samples] of series) {
        const values = samples.map(([, bytes]) => bytes)
        out.set(pid, {
          peak: Math.max(0, ...values),
          mean: values.length ? values.reduce((a, b) => a + b, 0) / values.length : 0,
          first: values[0] ?? 0,
          last: values.at(-1) ?? 0,
          samples
        })
      }
      return out
    }
  }
}

/** CPU milliseconds used by each pid between `start` and `stop`. */
export const measureCpu = (pids: ReadonlyArray<number>) => {
  const before = new Map(pids.map((pid) => [pid, cpuMillis(pid)]))
  const selfBefore = process.cpuUsage()
  return {
    stop: () => {
      const self = process.cpuUsage(selfBefore)
      return {
        byPid: new Map(pids.map((pid) => [pid, cpuMillis(pid) - before.get(pid)!])),
        /** The bench process itself (load generator), from process.cpuUsage (µs resolution). */
        selfMillis: (self.user + self.system) / 1000
      }
    }
  }
}
