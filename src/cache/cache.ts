/**
 * The response cache and the in-flight de-duplication as one layer, their state in this process's memory:
 *
 * - `ResponseCache`: stored answers, LRU by bytes, with a TTL (CACHE, CACHE_TTL, CACHE_MAX_BYTES);
 * - `SingleFlight`: identical requests in flight share one upstream call (DEDUPE).
 *
 * The stage that uses them is `pipeline/cache.ts`; the metrics routes get `layerAdmin(settings)`. A store shared
 * across replicas (Redis, `redis/cache-store.ts`) comes in through `layerOver`, in place of the memory store;
 * single-flight stays per process either way (the requests that share a call are this process's).
 *
 * Import as a namespace: `import * as Cache from "./cache/cache.ts"`, then `Cache.layer(settings)`.
 */
import * as Layer from "effect/Layer"
import { CurrentCacheAdmin } from "../observability/cache-admin.ts"
import type { CacheSettings } from "./settings.ts"
import { SingleFlight, type SingleFlightOptions } from "./single-flight.ts"
import { cacheAdmin, ResponseCache } from "./store.ts"

export type { CachedReply } from "./entry.ts"
export { type CacheKeyer, makeKeyer } from "./key.ts"
export { CACHE_VARIABLES, type CacheSettings, defaultCache, parseCacheSettings } from "./settings.ts"
export { SingleFlight, type SingleFlightOptions } from "./single-flight.ts"
export { cacheAdmin, type CacheStats, CacheStoreError, ResponseCache } from "./store.ts"

export type Services = ResponseCache | SingleFlight

/** Both services, in memory, from settings already checked by `parseCacheSettings`. */
export const layer = (settings: CacheSettings, options: SingleFlightOptions = {}): Layer.Layer<Services> =>
  layerOver(ResponseCache.layerMemory(settings), options)

/** Single-flight, in this process, with the store `store` gives (and whatever else it gives). */
export const layerOver = <A, E, R>(
  store: Layer.Layer<A | ResponseCache, E, R>,
  options: SingleFlightOptions = {}
): Layer.Layer<A | Services, E, R> => Layer.merge(store, SingleFlight.layer(options))

/** The admin routes' `CurrentCacheAdmin` over the store in context. */
export const layerAdmin = (settings: CacheSettings): Layer.Layer<never, never, ResponseCache> =>
  Layer.effect(CurrentCacheAdmin, cacheAdmin(settings))
