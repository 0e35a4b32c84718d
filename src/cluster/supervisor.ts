/**
 * The primary's workers: forked into slots 1..N, replaced when they die, stopped together.
 *
 * - A worker that dies is forked again in its slot (so with the same share of the limits). A worker that served
 *   for `STABLE_MS` or more is replaced at once; one that died sooner waits `BACKOFF_BASE_MS`, doubled for each
 *   quick death in a row, up to `BACKOFF_MAX_MS`: a worker that crashes at start costs one fork per 30 s, not a
 *   fork loop. The other workers keep serving throughout.
 * - Until some worker listens, a worker that fails to start is not replaced: if every slot fails, the start has
 *   failed (a bad config, a busy port, a stage that does not load) and `onFatal` gets the workers' reasons, each
 *   distinct line once. Once one listens, failed slots are retried with the backoff above.
 * - `stop` sends every worker SIGTERM (each stops accepting, and gives its streams their grace period), and
 *   SIGKILLs any still there after `STOP_TIMEOUT_MS`.
 */
import Cluster, { type Address, type Worker } from "node:cluster"
import { type Collector, makeCollector } from "./collector.ts"
import { isClusterMessage, SLOT_VARIABLE, type ToPrimary, WORKERS_VARIABLE } from "./protocol.ts"

/** 30 s: a worker up this long got past its start (a second or two) and died of something else. */
export const STABLE_MS = 30_000
/** 1 s, then 2, 4, 8, 16, 30 s: quick to recover from a one-off crash, and cheap while one keeps crashing. */
export const BACKOFF_BASE_MS = 1_000
export const BACKOFF_MAX_MS = 30_000
/** Longer than a worker's own 20 s grace for streams in flight (NodeHttpServer's default), after which it exits. */
export const STOP_TIMEOUT_MS = 25_000

export type Level = "info" | "warn" | "error"

export interface SupervisorOptions {
  readonly workers: number
  readonly log: (level: Level, message: string, fields: Record<string, unknown>) => void
  /** The first worker listens (once): the address they all share. */
  readonly onListening: (address: Address) => void
  /** Every worker failed at start and none ever listened (once): the distinct reasons. */
  readonly onFatal: (reasons: ReadonlyArray<string>) => void
  /** Test seam: the delays above. */
  readonly backoff?: { readonly baseMs: number; readonly maxMs: number; readonly stableMs: number }
}

interface Slot {
  readonly slot: number
  worker: Worker | undefined
  forkedAt: number
  listened: boolean
  /** Why its last worker did not start, if it did not. */
  failure: string | undefined
  quickDeaths: number
  restarts: number
  timer: ReturnType<typeof setTimeout> | undefined
}

export interface Supervisor {
  /** Passes `signal` to every live worker (SIGHUP: reload). */
  readonly signal: (signal: NodeJS.Signals) => void
  /** Stops every worker; resolves when all have exited: how many were running, and whether any had to be killed. */
  readonly stop: () => Promise<{ readonly stopped: number; readonly killed: boolean }>
  /** Live workers' PIDs by slot (logs and tests). */
  readonly pids: () => ReadonlyArray<{ readonly slot: number; readonly pid: number | undefined }>
}

export const startSupervisor = (options: SupervisorOptions): Supervisor => {
  const { baseMs, maxMs, stableMs } = options.backoff ?? { baseMs: BACKOFF_BASE_MS, maxMs: BACKOFF_MAX_MS, stableMs: STABLE_MS }
  const collector: Collector = makeCollector()
  const slots: Array<Slot> = Array.from({ length: options.workers }, (_, i) => ({
    slot: i + 1,
    worker: undefined,
    forkedAt: 0,
    listened: false,
    failure: undefined,
    quickDeaths: 0,
    restarts: 0,
    timer: undefined
  }))
  let anyListened = false
  let allListened = false
  let stopping = false
  let fatal = false
  let stopped: (() => void) | undefined

  const live = () => slots.filter((s) => s.worker !== undefined)

  const members = () =>
    slots.map((s) => ({
      slot: s.slot,
      send: s.worker === undefined || !s.listened ? undefined : (message: object) => trySend(s.worker!, message)
    }))

  const onMessage = (slot: Slot, worker: Worker, message: ToPrimary) => {
    switch (message.ccproxy) {
      case "start-failed":
        slot.failure = message.message
        return
      case "collected":
        return collector.collected(slot.slot, message.id, message.text)
      case "scrape":
        void collector.collect(members()).then((text) => trySend(worker, { ccproxy: "scraped", id: message.id, text }))
        return
    }
  }

  const fork = (slot: Slot) => {
    slot.timer = undefined
    if (stopping || fatal) return
    const worker = Cluster.fork({ [SLOT_VARIABLE]: String(slot.slot), [WORKERS_VARIABLE]: String(options.workers) })
    slot.worker = worker
    slot.forkedAt = Date.now()
    slot.listened = false
    slot.failure = undefined
    // EPIPE and the like on a dying worker's channel: its `exit` follows and says the rest.
    worker.on("error", () => {})
    worker.on("message", (message: unknown) => {
      if (isClusterMessage(message)) onMessage(slot, worker, message as ToPrimary)
    })
    worker.once("listening", (address: Address) => listening(slot, address))
    worker.once("exit", (code: number | null, signal: NodeJS.Signals | null) => exited(slot, worker, code, signal))
  }

  const listening = (slot: Slot, address: Address) => {
    slot.listened = true
    if (slot.restarts > 0) options.log("info", "worker replaced", { worker: slot.slot, pid: slot.worker?.process.pid })
    if (!anyListened) {
      anyListened = true
      options.onListening(address)
      // Slots that failed while nobody listened yet: the start works, so theirs was bad luck; retry them.
      for (const s of slots) if (s.worker === undefined && s.timer === undefined) schedule(s)
    }
    if (!allListened && slots.every((s) => s.listened)) {
      allListened = true
      options.log("info", "workers listening", { workers: options.workers, pids: slots.map((s) => s.worker?.process.pid) })
    }
  }

  const schedule = (slot: Slot) => {
    const served = slot.listened && Date.now() - slot.forkedAt >= stableMs
    slot.quickDeaths = served ? 0 : slot.quickDeaths + 1
    const delay = served ? 0 : Math.min(baseMs * 2 ** (slot.quickDeaths - 1), maxMs)
    slot.restarts++
    slot.timer = setTimeout(() => fork(slot), delay)
  }

  const exited = (slot: Slot, worker: Worker, code: number | null, signal: NodeJS.Signals | null) => {
    if (slot.worker === worker) slot.worker = undefined
    if (stopping) {
      if (live().length === 0) stopped?.()
      return
    }
    const how = signal ?? `exit code ${code}`
    if (!slot.listened) {
      slot.failure ??= `a worker exited before it listened (${how})`
      if (!anyListened) {
        // Nobody has started yet: wait for the other slots before deciding whether the start as a whole failed.
        if (!fatal && slots.every((s) => s.worker === undefined && s.failure !== undefined)) {
          fatal = true
          options.onFatal([...new Set(slots.map((s) => s.failure!))])
        }
        return
      }
      options.log("warn", "worker failed to start; retrying", { worker: slot.slot, problem: slot.failure })
    } else {
      options.log("warn", "worker exited; replacing it", { worker: slot.slot, pid: worker.process.pid, exit: how })
    }
    schedule(slot)
  }

  for (const slot of slots) fork(slot)

  return {
    signal: (signal) => {
      for (const s of live()) s.worker!.process.kill(signal)
    },
    stop: () =>
      new Promise((resolve) => {
        stopping = true
        let killed = false
        for (const s of slots) {
          if (s.timer !== undefined) clearTimeout(s.timer)
          s.timer = undefined
        }
        const running = live().length
        if (running === 0) return resolve({ stopped: 0, killed })
        const killer = setTimeout(() => {
          killed = true
          for (const s of live()) s.worker!.process.kill("SIGKILL")
        }, STOP_TIMEOUT_MS)
        stopped = () => {
          clearTimeout(killer)
          resolve({ stopped: running, killed })
        }
        for (const s of live()) s.worker!.process.kill("SIGTERM")
      }),
    pids: () => slots.map((s) => ({ slot: s.slot, pid: s.worker?.process.pid }))
  }
}

const trySend = (worker: Worker, message: object): boolean => {
  try {
    return worker.isConnected() && worker.send(message)
  } catch {
    return false
  }
}
