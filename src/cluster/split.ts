/**
 * One worker's settings out of the machine's: with WORKERS=N and no shared store, each worker enforces its limits
 * alone, so each must get its part of every budget, or N workers would together allow N times what was configured.
 *
 * The rule, for each of MAX_CONCURRENT_UPSTREAM, UPSTREAM_RPM and UPSTREAM_TPM, globally and per provider: worker k
 * of N gets `floor(total / N)`, plus one if `k <= total mod N`. The parts add up to the total exactly (neither ceil,
 * which would overshoot by up to N-1, nor floor, which would lose up to N-1), and differ by at most one. Example:
 * UPSTREAM_RPM=500 with 4 workers is 125 each; 10 with 4 workers is 3, 3, 2, 2.
 *
 * A budget smaller than N cannot be split (some worker would get 0, and a limit of 0 means "no limit" for the
 * budgets), so it is refused at start, naming the variable.
 *
 * With REDIS_URL set the rate limits live in Redis and are counted across every process, so RPM and TPM are not
 * divided; the in-flight limit is a per-process semaphore either way, so it always is.
 *
 * The log file is not shared either (`log-file.ts` rotates it from one process): each worker writes its own,
 * `<name>.worker-<k><ext>` beside the configured one.
 */
import * as Path from "node:path"
import type { ProxyConfigShape } from "../config.ts"
import { ConfigInvalid } from "../config/env.ts"
import type { ProviderSettings } from "../config/providers.ts"
import type { ProtectionSettings } from "../protection/settings.ts"

/** Which worker this is: `slot` from 1 to `workers`. A replaced worker keeps its slot, so its share. */
export interface WorkerPlace {
  readonly slot: number
  readonly workers: number
}

export interface SplitOptions {
  /** RPM/TPM are counted in a store every process shares (REDIS_URL): leave them whole. */
  readonly sharedRateLimits: boolean
}

/** Worker `slot`'s part of `total`; the parts of slots 1..workers add up to `total`. */
export const shareOf = (total: number, { slot, workers }: WorkerPlace): number =>
  Math.floor(total / workers) + (slot <= total % workers ? 1 : 0)

const divide = (total: number, place: WorkerPlace, what: string): number => {
  if (total < place.workers) {
    throw new ConfigInvalid({
      variable: what,
      problem: `is ${total}, less than one for each of the ${place.workers} workers (WORKERS): raise it or lower WORKERS`
    })
  }
  return shareOf(total, place)
}

const divideBudget = (total: number | undefined, place: WorkerPlace, what: string): number | undefined =>
  total === undefined ? undefined : divide(total, place, what)

const splitProtection = (
  protection: ProtectionSettings,
  place: WorkerPlace,
  options: SplitOptions,
  name: (variable: string, field: string) => string
): ProtectionSettings => ({
  ...protection,
  maxConcurrent: divide(protection.maxConcurrent, place, name("MAX_CONCURRENT_UPSTREAM", "max_concurrent")),
  ...(options.sharedRateLimits ? {} : {
    rpm: divideBudget(protection.rpm, place, name("UPSTREAM_RPM", "rpm")),
    tpm: divideBudget(protection.tpm, place, name("UPSTREAM_TPM", "tpm"))
  })
})

/** `ccproxy.log` → `ccproxy.worker-2.log`; `proxy` → `proxy.worker-2`. */
export const workerLogPath = (path: string, slot: number): string => {
  const ext = Path.extname(path)
  return `${path.slice(0, path.length - ext.length)}.worker-${slot}${ext}`
}

/** The settings worker `place.slot` runs with; throws `ConfigInvalid` for a budget too small to split. */
export const configForWorker = (config: ProxyConfigShape, place: WorkerPlace, options: SplitOptions): ProxyConfigShape => ({
  ...config,
  protection: splitProtection(config.protection, place, options, (variable) => variable),
  providers: config.providers.map((provider): ProviderSettings => ({
    ...provider,
    protection: splitProtection(provider.protection, place, options, (_, field) => `provider "${provider.name}": ${field}`)
  })),
  ...(config.logFile === undefined ? {} : { logFile: { ...config.logFile, path: workerLogPath(config.logFile.path, place.slot) } })
})

/** Whether RPM/TPM are shared through Redis (REDIS_URL, from the environment, `.env` or the config file). */
export const rateLimitsShared = (config: Pick<ProxyConfigShape, "redis">): boolean => config.redis !== undefined
