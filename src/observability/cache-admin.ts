/**
 * What the admin routes (GET /v1/cache/stats, POST /v1/cache/clear, the cache part of GET /v1/metrics) need from
 * the response cache, without depending on it: the cache provides `CurrentCacheAdmin`, and with no cache the
 * default answers "disabled".
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"

export interface CacheAdminStats {
  readonly enabled: boolean
  readonly entries: number
  readonly bytes: number
  readonly maxBytes: number
}

export interface CacheAdmin {
  readonly stats: Effect.Effect<CacheAdminStats>
  readonly clear: Effect.Effect<void>
}

const disabled: CacheAdmin = {
  stats: Effect.succeed({ enabled: false, entries: 0, bytes: 0, maxBytes: 0 }),
  clear: Effect.void
}

/** Read when the metrics routes are built: provide it (e.g. `Layer.succeed(CurrentCacheAdmin, admin)`) to the app. */
export const CurrentCacheAdmin = Context.Reference<CacheAdmin>("ccproxy/CurrentCacheAdmin", { defaultValue: () => disabled })
