/**
 * GET /metrics across workers. Behind one port a scrape lands on whichever worker the primary hands the connection
 * to, so no worker can be scraped on its own; instead the worker that answers asks the primary, the primary asks
 * every worker for its own Prometheus text, and the answer is their union, each series with a `worker` label (the
 * worker's slot, 1..N, which a replacement keeps: Prometheus sees its counters restart, as after a process restart).
 *
 * A worker that does not answer within `COLLECT_DEADLINE_MS` is left out of that scrape: its series are absent
 * (Prometheus marks them stale; counters resume when it answers again, so `rate()` is unaffected), and
 * `ccproxy_worker_up{worker}` is 0 for it and 1 for the others.
 *
 * This module holds the pure text merge and the `ClusterScrape` hook the metrics route goes through; the IPC ends
 * are in `worker.ts` and `primary.ts`.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"

/**
 * 1 s: a worker formats its few hundred series in well under 10 ms, so one silent for 1 s has its event loop
 * stuck; Prometheus' default scrape timeout is 10 s, so the rest still reaches it in time.
 */
export const COLLECT_DEADLINE_MS = 1_000

export interface WorkerText {
  readonly worker: number
  readonly text: string
}

interface Family {
  help: string | undefined
  type: string | undefined
  readonly samples: Array<string>
}

/** `name{a="b"} 1` → `name{worker="k",a="b"} 1`; `name 1` → `name{worker="k"} 1`. Label values stay untouched. */
export const withWorkerLabel = (sample: string, worker: number): string => {
  const label = `worker="${worker}"`
  const brace = sample.indexOf("{")
  const space = sample.indexOf(" ")
  if (brace >= 0 && (space < 0 || brace < space)) {
    return sample[brace + 1] === "}"
      ? `${sample.slice(0, brace + 1)}${label}${sample.slice(brace + 1)}`
      : `${sample.slice(0, brace + 1)}${label},${sample.slice(brace + 1)}`
  }
  return space < 0 ? sample : `${sample.slice(0, space)}{${label}}${sample.slice(space)}`
}

/** `# HELP name …` / `# TYPE name …` → name; other comments → undefined. */
const commentFamily = (line: string): { kind: "help" | "type"; name: string } | undefined => {
  const match = /^# (HELP|TYPE) (\S+)/.exec(line)
  return match === null ? undefined : { kind: match[1] === "HELP" ? "help" : "type", name: match[2]! }
}

const sampleName = (line: string): string => line.slice(0, line.search(/[{ ]/) < 0 ? line.length : line.search(/[{ ]/))

/**
 * The union of the workers' exposition texts: each family's HELP and TYPE once, then its samples, worker by worker,
 * each labelled with its worker; then `ccproxy_worker_up`, 1 for every worker in `texts` and 0 for each in
 * `missing`.
 */
export const mergeExpositions = (texts: ReadonlyArray<WorkerText>, missing: ReadonlyArray<number> = []): string => {
  const families = new Map<string, Family>()
  const family = (name: string): Family => {
    let found = families.get(name)
    if (found === undefined) {
      found = { help: undefined, type: undefined, samples: [] }
      families.set(name, found)
    }
    return found
  }
  for (const { worker, text } of [...texts].sort((a, b) => a.worker - b.worker)) {
    let current: string | undefined
    for (const line of text.split("\n")) {
      if (line === "") continue
      if (line.startsWith("#")) {
        const comment = commentFamily(line)
        if (comment === undefined) continue
        current = comment.name
        const f = family(comment.name)
        f[comment.kind] ??= line
        continue
      }
      // A sample belongs to the family named by the comments before it (`x_bucket`, `x_sum` under `x`).
      const name = current ?? sampleName(line)
      family(name).samples.push(withWorkerLabel(line, worker))
    }
  }
  const lines: Array<string> = []
  for (const f of families.values()) {
    if (f.help !== undefined) lines.push(f.help)
    if (f.type !== undefined) lines.push(f.type)
    lines.push(...f.samples)
  }
  const up = [...texts.map(({ worker }) => [worker, 1] as const), ...missing.map((worker) => [worker, 0] as const)]
    .sort(([a], [b]) => a - b)
  lines.push("# HELP ccproxy_worker_up Whether the worker answered this scrape in time (1) or not (0)")
  lines.push("# TYPE ccproxy_worker_up gauge")
  for (const [worker, value] of up) lines.push(`ccproxy_worker_up{worker="${worker}"} ${value}`)
  return `${lines.join("\n")}\n`
}

export interface ClusterScrapeShape {
  /** The text GET /metrics answers, given this process's own. */
  readonly gather: (local: Effect.Effect<string>) => Effect.Effect<string>
  /** Makes `local` the text this process gives when the primary collects, for as long as the scope lasts. */
  readonly serveLocal: (local: Effect.Effect<string>) => Effect.Effect<void, never, Scope.Scope>
}

/** A single process (the default): its own text is the whole, and nobody collects. */
export const ClusterScrape = Context.Reference<ClusterScrapeShape>("ccproxy/ClusterScrape", {
  defaultValue: () => ({ gather: (local) => local, serveLocal: () => Effect.void })
})
