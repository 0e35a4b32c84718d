/**
 * The memory store: LRU by (estimated) bytes, a TTL on the test clock, and the admin view the metrics routes use.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { TestClock } from "effect/testing"
import * as Cache from "../../src/cache/cache.ts"
import type { CachedReply } from "../../src/cache/entry.ts"
import { CurrentCacheAdmin } from "../../src/observability/cache-admin.ts"
import { entryWeight } from "../../src/cache/entry.ts"
import { parseCacheSettings } from "../../src/cache/settings.ts"
import { cacheAdmin, ResponseCache } from "../../src/cache/store.ts"
import type { MessageResponse } from "../../src/protocol/anthropic.ts"

const message = (text: string): MessageResponse => ({
  id: "msg_1",
  type: "message",
  role: "assistant",
  model: "claude-sonnet-4-6",
  content: [{ type: "text", text }],
  stop_reason: "end_turn",
  stop_sequence: null,
  usage: { input_tokens: 10, output_tokens: 5, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 }
})
const entry = (text: string): CachedReply => ({ _tag: "Message", message: message(text), upstreamModel: "gpt-4.1" })
const size = entryWeight(entry("x".repeat(1000)))

const withStore = (settings: { ttl: Duration.Duration; maxBytes: number }) =>
  Effect.provide(ResponseCache.layerMemory(settings))

describe("ResponseCache.layerMemory", () => {
  it.effect("keeps what it is given, as given, and forgets on delete and clear", () =>
    Effect.gen(function*() {
      const store = yield* ResponseCache
      expect(yield* store.get("a")).toBeUndefined()
      yield* store.set("a", entry("A"))
      yield* store.set("b", entry("B"))
      expect(yield* store.get("a")).toEqual(entry("A"))
      expect(JSON.parse(JSON.stringify(yield* store.get("b")))).toEqual(entry("B"))
      yield* store.delete("a")
      expect(yield* store.get("a")).toBeUndefined()
      expect((yield* store.stats).entries).toBe(1)
      yield* store.clear
      expect(yield* store.stats).toEqual({ entries: 0, bytes: 0, maxBytes: 1_000_000 })
    }).pipe(withStore({ ttl: Duration.hours(1), maxBytes: 1_000_000 })))

  it.effect("evicts the least recently used first when the bytes pass the bound", () =>
    Effect.gen(function*() {
      const store = yield* ResponseCache
      const text = "x".repeat(1000)
      yield* store.set("a", entry(text))
      yield* store.set("b", entry(text))
      yield* store.set("c", entry(text))
      expect((yield* store.stats).bytes).toBe(3 * size)
      expect(yield* store.get("a")).toBeDefined() // now b is the least recently used
      yield* store.set("d", entry(text))
      expect(yield* store.get("b")).toBeUndefined()
      expect(yield* store.get("a")).toBeDefined()
      expect(yield* store.get("c")).toBeDefined()
      expect(yield* store.get("d")).toBeDefined()
      expect(yield* store.stats).toEqual({ entries: 3, bytes: 3 * size, maxBytes: 3 * size + 10 })
    }).pipe(withStore({ ttl: Duration.hours(1), maxBytes: 3 * size + 10 })))

  it.effect("an entry bigger than the whole bound is not kept (and replaces nothing)", () =>
    Effect.gen(function*() {
      const store = yield* ResponseCache
      yield* store.set("small", entry("x"))
      yield* store.set("big", entry("x".repeat(5000)))
      expect(yield* store.get("big")).toBeUndefined()
      expect(yield* store.get("small")).toBeDefined()
    }).pipe(withStore({ ttl: Duration.hours(1), maxBytes: 2000 })))

  it.effect("replacing a key accounts its bytes once", () =>
    Effect.gen(function*() {
      const store = yield* ResponseCache
      yield* store.set("a", entry("x".repeat(1000)))
      yield* store.set("a", entry("x".repeat(1000)))
      expect(yield* store.stats).toMatchObject({ entries: 1, bytes: size })
    }).pipe(withStore({ ttl: Duration.hours(1), maxBytes: 1_000_000 })))

  it.effect("an entry expires TTL after it was stored; reading it does not extend it", () =>
    Effect.gen(function*() {
      const store = yield* ResponseCache
      yield* store.set("a", entry("A"))
      yield* TestClock.adjust(Duration.minutes(30))
      expect(yield* store.get("a")).toBeDefined()
      yield* store.set("b", entry("B"))
      yield* TestClock.adjust(Duration.minutes(30))
      expect(yield* store.get("a")).toBeUndefined()
      expect(yield* store.get("b")).toBeDefined()
      yield* TestClock.adjust(Duration.minutes(30))
      expect(yield* store.stats).toMatchObject({ entries: 0, bytes: 0 })
    }).pipe(withStore({ ttl: Duration.hours(1), maxBytes: 1_000_000 })))
})

describe("cacheAdmin", () => {
  it.effect("reports the store's counts and clears it", () =>
    Effect.gen(function*() {
      const settings = parseCacheSettings({ CACHE: "on", CACHE_MAX_BYTES: "1000000" })
      const admin = yield* cacheAdmin(settings)
      const store = yield* ResponseCache
      yield* store.set("a", entry("A"))
      expect(yield* admin.stats).toEqual({ enabled: true, entries: 1, bytes: entryWeight(entry("A")), maxBytes: 1_000_000 })
      yield* admin.clear
      expect(yield* admin.stats).toMatchObject({ enabled: true, entries: 0, bytes: 0 })
    }).pipe(withStore({ ttl: Duration.hours(1), maxBytes: 1_000_000 })))

  it.effect("Cache.layerAdmin provides it as the admin routes' CurrentCacheAdmin", () =>
    Effect.gen(function*() {
      const admin = yield* CurrentCacheAdmin
      yield* (yield* ResponseCache).set("a", entry("A"))
      expect(yield* admin.stats).toMatchObject({ enabled: true, entries: 1, maxBytes: 1_000_000 })
      yield* admin.clear
      expect((yield* admin.stats).entries).toBe(0)
    }).pipe(
      Effect.provide(Cache.layerAdmin(parseCacheSettings({ CACHE: "on", CACHE_MAX_BYTES: "1000000" }))),
      withStore({ ttl: Duration.hours(1), maxBytes: 1_000_000 })
    ))

  it.effect("with the cache off: disabled and empty", () =>
    Effect.gen(function*() {
      const admin = yield* cacheAdmin(parseCacheSettings({}))
      expect(yield* admin.stats).toEqual({ enabled: false, entries: 0, bytes: 0, maxBytes: 256 * 1024 * 1024 })
    }).pipe(withStore({ ttl: Duration.hours(1), maxBytes: 1_000_000 })))
})
