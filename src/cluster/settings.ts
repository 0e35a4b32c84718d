/**
 * WORKERS: how many proxy processes serve one port. `1` (the default) is the single process it always was; `auto`
 * is one per core the OS lets this process use (`os.availableParallelism()`, which honours CPU affinity).
 */
import * as Os from "node:os"
import { ConfigInvalid, integer, type Raw, text } from "../config/env.ts"

/**
 * 256: far beyond any machine this runs on (each worker is a whole Node process, ~60 MB resident), low enough that
 * a typo such as WORKERS=4000 is refused instead of forking the machine to death.
 */
export const MAX_WORKERS = 256

export const parseWorkers = (raw: Raw, cores: number = Os.availableParallelism()): number => {
  const value = text(raw, "WORKERS")
  if (value === undefined) return 1
  if (/^auto$/i.test(value)) return Math.min(Math.max(1, cores), MAX_WORKERS)
  if (!/^\d/.test(value)) {
    throw new ConfigInvalid({ variable: "WORKERS", problem: `must be a number of processes from 1 to ${MAX_WORKERS}, or "auto" (got "${value}")` })
  }
  return integer(raw, "WORKERS", { fallback: 1, min: 1, max: MAX_WORKERS })
}
