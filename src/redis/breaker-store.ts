/**
 * A `CircuitBreakerStore` that keeps the circuits in Redis (Effect's `CircuitBreaker.layerStoreRedis`, its Lua
 * scripts and probe leases) and falls back to Effect's in-memory store for any call Redis cannot answer.
 *
 * - While Redis answers, a circuit opened through one process is open for all of them.
 * - An admission Redis cannot give is asked of this process's memory store, so the breaker keeps working per
 *   process through an outage (the gate warns once). When Redis answers again, admissions go back to it and the
 *   circuits are as Redis kept them; what the memory store learned meanwhile is not carried over.
 * - An outcome is recorded in the store that admitted the call: a generation is a fencing token of one store only.
 *   A call admitted by Redis whose outcome cannot be recorded there (Redis went away meanwhile) is dropped; the
 *   failing upstream will be seen again by the next calls.
 * - `state` reads Redis, else the memory store.
 */
import * as Effect from "effect/Effect"
import { CircuitBreaker } from "effect/persistence"

type Store = CircuitBreaker.CircuitBreakerStore["Service"]

const storeFailed = (error: CircuitBreaker.CircuitBreakerError) => error.reason._tag === "CircuitBreakerStoreError"

export const makeFallbackStore = (primary: Store, fallback: Store): Store => {
  /** Admissions given by the fallback (key, generation), until their outcome is recorded or their scope closes. */
  const byFallback = new Set<string>()
  const id = (key: string, generation: number) => `${generation} ${key}`

  return CircuitBreaker.CircuitBreakerStore.of({
    admit: (key) =>
      Effect.catchIf(primary.admit(key), storeFailed, () =>
        Effect.tap(fallback.admit(key), (admission) => {
          const admitted = id(key, admission.generation)
          byFallback.add(admitted)
          return Effect.addFinalizer(() => Effect.sync(() => byFallback.delete(admitted)))
        })),
    record: (options) => {
      const admitted = id(options.key, options.generation)
      if (byFallback.delete(admitted)) return fallback.record(options)
      return Effect.catchIf(primary.record(options), storeFailed, () => Effect.undefined)
    },
    state: (key) => Effect.catchIf(primary.state(key), storeFailed, () => fallback.state(key))
  })
}
