/**
 * The `cache` stage, after `conversion` and before `breaker`: a repeated request is answered from the store without
 * touching the limiter, the breaker or the upstream; identical requests in flight together share one call (DEDUPE).
 *
 * - The key is the converted request's (`cache/key.ts`), so JSON and stream requests share an entry; either form of
 *   a stored answer serves either kind of request, with a fresh message id (`cache/replay.ts`).
 * - A hit is answered at once: nothing waits on anything in flight (the seed's hits each waited 30 s).
 * - Stored: a whole message; a stream only once it ended with `message_stop` and without failing (a stream that
 *   is cut, or fails after closing its blocks, is not).
 * - The request header `x-ccproxy-cache: bypass` skips lookup and store, `refresh` skips the lookup and stores the
 *   new answer; both make a call of their own (no de-duplication). With the cache on, every reply says
 *   `x-ccproxy-cache: hit | miss | bypass`, and the request's `RequestStats.cache` says the same for the log line
 *   and the metrics.
 * - A store that fails (Redis away) is a miss, logged; requests never fail because of the cache.
 */
import * as Arr from "effect/Array"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { type CachedReply, eventWeight } from "../cache/entry.ts"
import { makeKeyer } from "../cache/key.ts"
import { type Addressee, replayEvents, replayMessage } from "../cache/replay.ts"
import type { CacheSettings } from "../cache/settings.ts"
import { SingleFlight } from "../cache/single-flight.ts"
import { ResponseCache } from "../cache/store.ts"
import type { ProxyError } from "../errors.ts"
import { type CacheOutcome, RequestStats, withoutStream } from "../observability/record.ts"
import type { StreamEvent } from "../protocol/anthropic.ts"
import { randomId } from "../util/ids.ts"
import { currentConversion, handOff, messageReply, type ProxyReply, type ProxyRequest, type Stage, streamReply } from "./stage.ts"

export const CACHE_HEADER = "x-ccproxy-cache"

type Reply = Effect.Effect<ProxyReply, ProxyError, Scope.Scope>

/** What the client asked of the cache for this request. */
const directive = (request: ProxyRequest): "bypass" | "refresh" | undefined => {
  const value = request.headers[CACHE_HEADER]?.trim().toLowerCase()
  return value === "bypass" || value === "refresh" ? value : undefined
}

const withHeader = (reply: ProxyReply, outcome: CacheOutcome): ProxyReply => ({
  ...reply,
  headers: { ...reply.headers, [CACHE_HEADER]: outcome }
})

const recordOutcome = (outcome: CacheOutcome) =>
  Effect.flatMap(Effect.serviceOption(RequestStats), (stats) => {
    if (Option.isSome(stats)) stats.value.cache = outcome
    return Effect.void
  })

/** A shared reply, re-addressed to one of the requests that share it: its own message id, its own model name. */
const readdress = (reply: ProxyReply, to: Addressee): ProxyReply => {
  if (reply._tag === "Message") return { ...reply, message: { ...reply.message, id: to.messageId, model: to.model } }
  let started = false
  return {
    ...reply,
    events: Stream.mapArray(reply.events, (batch) => {
      if (started) return batch
      started = true
      return Arr.map(batch, (event): StreamEvent =>
        event.type === "message_start"
          ? { type: "message_start", message: { ...event.message, id: to.messageId, model: to.model } }
          : event)
    })
  }
}

/** Takes the client's model name, not the request: a continuation that kept the request would keep its body. */
const addresseeOf = (model: string): Effect.Effect<Addressee> => Effect.map(randomId("msg_"), (messageId) => ({ messageId, model }))

export const makeCacheStage = (settings: CacheSettings): Effect.Effect<Stage, never, ResponseCache | SingleFlight> =>
  Effect.gen(function*() {
    const store = yield* ResponseCache
    const flights = yield* SingleFlight
    const keyer = makeKeyer()

    const lookup = (key: string): Effect.Effect<CachedReply | undefined> =>
      store.get(key).pipe(
        Effect.catch((error) => Effect.as(Effect.logWarning("cache lookup failed", { method: error.method }), undefined))
      )

    const save = (key: string, entry: CachedReply): Effect.Effect<void> =>
      store.set(key, entry).pipe(
        Effect.catch((error) => Effect.logWarning("cache store failed", { method: error.method }))
      )

    /** The stream, kept as it passes and stored when it completes; dropped past the store's bound. */
    const storedStream = (key: string, events: Stream.Stream<StreamEvent, ProxyError>, upstreamModel: string | undefined) => {
      let kept: Array<StreamEvent> | undefined = []
      let weight = 0
      let stopped = false
      return events.pipe(
        Stream.mapArray((batch) => {
          if (kept === undefined) return batch
          for (const event of batch) {
            if (event.type === "ping") continue
            if (event.type === "message_stop") stopped = true
            weight += eventWeight(event)
            kept.push(event)
          }
          if (weight > settings.maxBytes) kept = undefined
          return batch
        }),
        Stream.onExit((exit) => {
          const events = kept
          kept = undefined
          return Exit.isSuccess(exit) && stopped && events !== undefined
            ? save(key, { _tag: "Events", events, upstreamModel })
            : Effect.void
        })
      )
    }

    /** The call, its answer stored once it is whole. */
    const storing = (key: string, call: Reply): Reply =>
      Effect.flatMap(call, (reply) =>
        reply._tag === "Message"
          ? Effect.as(save(key, { _tag: "Message", message: reply.message, upstreamModel: reply.upstreamModel }), reply)
          : Effect.succeed<ProxyReply>({ ...reply, events: storedStream(key, reply.events, reply.upstreamModel) }))

    /** The call, shared with identical requests in flight when DEDUPE is on. */
    /**
     * The call, shared with identical requests in flight when DEDUPE is on. A request whose own call did not run
     * (it joined another's) is recorded as `shared`, so the one upstream call is not billed once per member.
     */
    const shared = (key: string, request: ProxyRequest, streaming: boolean, call: Reply): Reply => {
      if (!settings.dedupe) return call
      const model = request.body.model
      let led = false
      // Boxed, and let go once it runs or the request joins another's call: the call holds the request (through
      // `handOff`), which must not stay reachable from this closure while a joiner waits for the shared answer.
      let pending: Reply | undefined = call
      const take = () => {
        const taken = pending
        pending = undefined
        return taken ?? Effect.die(new Error("a de-duplicated call was started twice"))
      }
      // The flight's stream is not the one this request's observer sees: the stages inside watch it themselves.
      const leading = Effect.suspend(() => {
        led = true
        const own = take()
        return Effect.flatMap(Effect.serviceOption(RequestStats), (stats) =>
          Option.isSome(stats) ? Effect.provideService(own, RequestStats, withoutStream(stats.value)) : own)
      })
      const joined = () => {
        pending = undefined
      }
      return Effect.flatMap(flights.run(`${key}:${streaming ? "stream" : "message"}`, leading, joined), (reply) =>
        Effect.andThen(
          led ? Effect.void : recordOutcome("shared"),
          Effect.map(addresseeOf(model), (to) => readdress(reply, to))
        ))
    }

    const hit = (entry: CachedReply, model: string, streaming: boolean): Effect.Effect<ProxyReply | undefined> =>
      Effect.map(addresseeOf(model), (to): ProxyReply | undefined => {
        if (streaming) return streamReply(Stream.fromArray(replayEvents(entry, to)), entry.upstreamModel)
        const message = replayMessage(entry, to)
        return message === undefined ? undefined : messageReply(message, entry.upstreamModel)
      })

    const cached = (next: (request: ProxyRequest) => Reply, request: ProxyRequest, key: string, streaming: boolean): Reply => {
      const model = request.body.model
      // The miss is built now (it hands the request on when it runs): the lookup's continuation keeps no request.
      const miss = Effect.andThen(
        recordOutcome("miss"),
        Effect.map(shared(key, request, streaming, storing(key, Effect.suspend(handOff(next, request)))), (reply) => withHeader(reply, "miss"))
      )
      return Effect.flatMap(lookup(key), (entry) => {
        if (entry === undefined) return miss
        return Effect.flatMap(hit(entry, model, streaming), (reply) =>
          reply === undefined ? miss : Effect.as(recordOutcome("hit"), withHeader(reply, "hit")))
      })
    }

    return {
      name: "cache",
      wrap: (next) => (request) => {
        if (!settings.enabled && !settings.dedupe) return next(request)
        const conversion = currentConversion(request)
        // Without a conversion there is nothing to key on: the stage was placed before `conversion`.
        if (conversion === undefined) return next(request)
        const asked = directive(request)
        if (asked === "bypass") {
          return settings.enabled
            ? Effect.andThen(recordOutcome("bypass"), Effect.map(Effect.suspend(handOff(next, request)), (reply) => withHeader(reply, "bypass")))
            : next(request)
        }
        // Clients with different proxy keys never share an entry: one must not see another's answers.
        const scope = request.client.keyFingerprint === undefined ? request.upstream : `${request.upstream}\u0000${request.client.keyFingerprint}`
        const key = keyer.keyOf(scope, conversion.request)
        const streaming = conversion.request.stream === true
        if (!settings.enabled) return asked === "refresh" ? next(request) : shared(key, request, streaming, next(request))
        if (asked === "refresh") {
          return Effect.andThen(
            recordOutcome("miss"),
            Effect.map(storing(key, next(request)), (reply) => withHeader(reply, "miss"))
          )
        }
        return cached(next, request, key, streaming)
      }
    }
  })
