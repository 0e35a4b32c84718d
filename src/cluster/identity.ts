/**
 * Whether this process is a cluster worker, and which: read once from the environment the primary forks it with.
 * Undefined in a single process (WORKERS=1) and in the primary.
 */
import Cluster from "node:cluster"
import { SLOT_VARIABLE, WORKERS_VARIABLE } from "./protocol.ts"
import type { WorkerPlace } from "./split.ts"

const read = (): WorkerPlace | undefined => {
  if (!Cluster.isWorker) return undefined
  const slot = Number(process.env[SLOT_VARIABLE])
  const workers = Number(process.env[WORKERS_VARIABLE])
  return Number.isSafeInteger(slot) && Number.isSafeInteger(workers) && slot >= 1 && slot <= workers ? { slot, workers } : undefined
}

const place = read()

export const currentWorker = (): WorkerPlace | undefined => place
