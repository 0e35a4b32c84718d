/**
 * The response cache (`ResponseCache`) in Redis: an answer cached through one process is a hit on every other.
 *
 * Each entry is `JSON.stringify(entry)` under `<prefix>cache:<key>`, written with `SET … PX <CACHE_TTL>`, so Redis
 * expires it; the bound on memory is Redis's own (`maxmemory` with `maxmemory-policy allkeys-lru`, or a Redis of its
 * own for the cache). CACHE_MAX_BYTES still caps one entry: a bigger answer is not stored.
 *
 * **Why hand-written rather than Effect's `Persistence.layerBackingRedis`**
 *
 * It does the same GET / SET PX / DEL, but it percent-encodes the store id into the key (`ccproxy%3Acache:…`), so the
 * keys would not sit under REDIS_PREFIX; its `clear` runs `KEYS`, which blocks a Redis with many keys; and it cannot
 * count entries or bytes for /v1/cache/stats. Here `clear` and `stats` walk the keys with `SCAN` in batches.
 *
 * **Outages**
 *
 * While the gate is down a lookup is a miss and a store is skipped, silently (the gate warns once). Any other
 * failure is a `CacheStoreError`, which the cache stage logs and treats as a miss: the cache never fails a request.
 */
import * as Effect from "effect/Effect"
import { Redis } from "effect/persistence"
import * as Duration from "effect/Duration"
import type { CachedReply } from "../cache/entry.ts"
import { entryWeight } from "../cache/entry.ts"
import type { CacheSettings } from "../cache/settings.ts"
import { CacheStoreError, type CacheStats, type ResponseCacheShape } from "../cache/store.ts"
import { isUnavailable } from "./connection.ts"

/** Keys per SCAN round trip: big enough to be quick, small enough that no one call holds Redis for long. */
const SCAN_BATCH = 500

/** The sizes of a batch of keys, in one round trip. A key that expired meanwhile counts 0. */
const sizesScript = Redis.script((...keys: ReadonlyArray<string>) => keys, {
  numberOfKeys: (...keys) => keys.length,
  lua: `
local count, bytes = 0, 0
for _, key in ipairs(KEYS) do
  local size = redis.call("STRLEN", key)
  if size > 0 then
    count = count + 1
    bytes = bytes + size
  end
end
return { count, bytes }
`
}).withReturnType<readonly [count: number, bytes: number]>()

const globEscape = (text: string) => text.replace(/[\\*?[\]]/g, "\\$&")

/** What was read is ours only if it has an entry's shape; anything else (another version, a stray key) is a miss. */
const decode = (text: string): CachedReply | undefined => {
  try {
    const value = JSON.parse(text) as Partial<Record<string, unknown>> | null
    if (value?._tag === "Message" && typeof value.message === "object" && value.message !== null) return value as CachedReply
    if (value?._tag === "Events" && Array.isArray(value.events)) return value as CachedReply
  } catch {
    // not JSON: a miss
  }
  return undefined
}

export type RedisCacheSettings = Pick<CacheSettings, "ttl" | "maxBytes">

export const make = (redis: Redis.Redis["Service"], prefix: string, settings: RedisCacheSettings): ResponseCacheShape => {
  const namespace = `${prefix}cache:`
  const ttl = String(Math.max(1, Math.ceil(Duration.toMillis(settings.ttl))))
  const sizes = redis.eval(sizesScript)

  /** Runs `f` over every cache key, a batch at a time. */
  const eachBatch = (f: (keys: ReadonlyArray<string>) => Effect.Effect<void, Redis.RedisError>) =>
    Effect.gen(function*() {
      let cursor = "0"
      do {
        const [next, keys] = yield* redis.send<[string, Array<string>]>(
          "SCAN", cursor, "MATCH", `${globEscape(namespace)}*`, "COUNT", String(SCAN_BATCH)
        )
        if (keys.length > 0) yield* f(keys)
        cursor = next
      } while (cursor !== "0")
    })

  const failed = (method: string) => (error: Redis.RedisError) => new CacheStoreError({ method, cause: error.cause })

  return {
    get: (key) =>
      redis.send<string | null>("GET", namespace + key).pipe(
        Effect.map((text) => text === null ? undefined : decode(text)),
        Effect.catchIf(isUnavailable, () => Effect.undefined),
        Effect.mapError(failed("get"))
      ),
    set: (key, entry) =>
      entryWeight(entry) > settings.maxBytes ? Effect.void : redis.send("SET", namespace + key, JSON.stringify(entry), "PX", ttl).pipe(
        Effect.asVoid,
        Effect.catchIf(isUnavailable, () => Effect.void),
        Effect.mapError(failed("set"))
      ),
    delete: (key) => redis.send("DEL", namespace + key).pipe(Effect.asVoid, Effect.mapError(failed("delete"))),
    // UNLINK frees the memory off Redis's main thread; big entries make DEL block.
    clear: eachBatch((keys) => Effect.asVoid(redis.send("UNLINK", ...keys))).pipe(Effect.mapError(failed("clear"))),
    stats: Effect.gen(function*() {
      let entries = 0
      let bytes = 0
      yield* eachBatch((keys) =>
        Effect.map(sizes(...keys), ([count, size]) => {
          entries += Number(count)
          bytes += Number(size)
        }))
      return { entries, bytes, maxBytes: settings.maxBytes } satisfies CacheStats
    }).pipe(Effect.mapError(failed("stats")))
  }
}
