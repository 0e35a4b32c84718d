/**
 * Where answers are kept between identical requests: the `ResponseCache` service.
 *
 * The shape is a store's, not a cache policy's: `get`, `set`, `delete`, `clear`, `stats` over opaque string keys
 * (`key.ts`) and JSON-ready entries (`entry.ts`), each call an Effect that may fail with `CacheStoreError`. The
 * lookup, the freshness headers and the decision to store live in the stage (`pipeline/cache.ts`), so another
 * store slots in by layer:
 *
 * - `ResponseCache.layerMemory(settings)`: this process's memory, least recently used first out by bytes, each
 *   entry kept for the TTL from when it was stored (reading it does not extend it), time from `Clock`.
 * - A Redis store (for replicas) would keep `JSON.stringify(entry)` under a prefixed key with `PX` = TTL and leave
 *   eviction to `maxmemory-policy allkeys-lru`; its failures are `CacheStoreError`s, which the stage treats as
 *   misses, so an outage costs hits, never requests.
 *
 * `cacheAdmin` is the metrics routes' view: counts for /v1/metrics and /v1/cache/stats, and /v1/cache/clear.
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { CacheAdmin } from "../observability/cache-admin.ts"
import { type CachedReply, entryWeight } from "./entry.ts"
import type { CacheSettings } from "./settings.ts"

/** A store could not be read or written (a Redis outage, say). */
export class CacheStoreError extends Data.TaggedError("CacheStoreError")<{
  readonly method: string
  readonly cause?: unknown
}> {}

export interface CacheStats {
  /** Entries held, expired ones not counted. */
  readonly entries: number
  /** Their estimated size. */
  readonly bytes: number
  /** The bound (CACHE_MAX_BYTES). */
  readonly maxBytes: number
}

export interface ResponseCacheShape {
  /** The entry under `key`, if one is held and fresh. */
  readonly get: (key: string) => Effect.Effect<CachedReply | undefined, CacheStoreError>
  /** Stores `entry` under `key` for the store's TTL, replacing what was there; an entry too big to keep is dropped. */
  readonly set: (key: string, entry: CachedReply) => Effect.Effect<void, CacheStoreError>
  readonly delete: (key: string) => Effect.Effect<void, CacheStoreError>
  readonly clear: Effect.Effect<void, CacheStoreError>
  readonly stats: Effect.Effect<CacheStats, CacheStoreError>
}

export type MemorySettings = Pick<CacheSettings, "ttl" | "maxBytes">

interface Slot {
  readonly entry: CachedReply
  readonly bytes: number
  readonly expiresAt: number
}

export const makeMemory = (settings: MemorySettings): Effect.Effect<ResponseCacheShape> =>
  Effect.sync(() => {
    const ttlMillis = Duration.toMillis(settings.ttl)
    const maxBytes = settings.maxBytes
    // A Map iterates in insertion order; re-inserting on each read keeps the least recently used first.
    const slots = new Map<string, Slot>()
    let bytes = 0

    const remove = (key: string, slot: Slot) => {
      slots.delete(key)
      bytes -= slot.bytes
    }

    const get = (key: string) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const slot = slots.get(key)
        if (slot === undefined) return undefined
        remove(key, slot)
        if (slot.expiresAt <= now) return undefined
        slots.set(key, slot)
        bytes += slot.bytes
        return slot.entry
      })

    const set = (key: string, entry: CachedReply) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const previous = slots.get(key)
        if (previous !== undefined) remove(key, previous)
        const size = entryWeight(entry)
        if (size > maxBytes) return
        slots.set(key, { entry, bytes: size, expiresAt: now + ttlMillis })
        bytes += size
        for (const [oldest, slot] of slots) {
          if (bytes <= maxBytes) break
          remove(oldest, slot)
        }
      })

    const stats = Effect.map(Clock.currentTimeMillis, (now): CacheStats => {
      // Expired entries wait for a read or for eviction; counting is the moment to let them go.
      for (const [key, slot] of slots) if (slot.expiresAt <= now) remove(key, slot)
      return { entries: slots.size, bytes, maxBytes }
    })

    return {
      get,
      set,
      delete: (key) =>
        Effect.sync(() => {
          const slot = slots.get(key)
          if (slot !== undefined) remove(key, slot)
        }),
      clear: Effect.sync(() => {
        slots.clear()
        bytes = 0
      }),
      stats
    }
  })

export class ResponseCache extends Context.Service<ResponseCache, ResponseCacheShape>()("ccproxy/ResponseCache") {
  /** In this process's memory, LRU by bytes, with the TTL. */
  static readonly layerMemory = (settings: MemorySettings): Layer.Layer<ResponseCache> =>
    Layer.effect(this, makeMemory(settings))
}

/**
 * What the metrics routes show and do (`CacheAdmin`, observability/cache-admin.ts) over the store in context; with
 * the cache off, a store that is never used is not asked. A failing
 * store reports itself empty (and logs why): an admin page must not fail because Redis is away.
 */
export const cacheAdmin = (settings: CacheSettings): Effect.Effect<CacheAdmin, never, ResponseCache> =>
  Effect.map(Effect.service(ResponseCache), (store): CacheAdmin => {
    const empty = { enabled: settings.enabled, entries: 0, bytes: 0, maxBytes: settings.maxBytes }
    if (!settings.enabled) return { stats: Effect.succeed(empty), clear: Effect.void }
    return {
      stats: store.stats.pipe(
        Effect.map((stats) => ({ enabled: true, ...stats })),
        Effect.catch((error) => Effect.as(Effect.logWarning("cache stats unavailable", { method: error.method }), empty))
      ),
      clear: store.clear.pipe(
        Effect.catch((error) => Effect.logWarning("cache clear failed", { method: error.method }))
      )
    }
  })
