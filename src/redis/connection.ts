/**
 * The process's one Redis client (`NodeRedis`, scoped to the process), behind a gate that keeps Redis trouble from
 * reaching requests. Every store that shares state (rate limits, cool-downs, breakers, cache) talks to Redis through
 * `SharedRedis.redis`, a `Redis` service like Effect's own, so Effect's Redis stores run on it unchanged.
 *
 * **The gate**
 *
 * - Up: each call runs on the client with a deadline (REDIS_TIMEOUT, default 250 ms). A call that fails for any
 *   reason other than an error reply from Redis itself, or that outlives its deadline, takes the gate down.
 * - Down (or still connecting): calls fail at once with `RedisUnavailable`, without touching the socket, so a
 *   black-holed Redis costs at most one deadline per process, not one per request. The stores above fall back to
 *   per-process state (limits, breakers) or a miss (cache) on that failure.
 * - One warning when the gate goes down, one info line when it comes back up. Meanwhile a probe PINGs every second
 *   (`PROBE_EVERY`); the first answer opens the gate again and the stores resume on Redis's state.
 *
 * **Connecting**
 *
 * `NodeRedis.layer` connects while it is built and fails on the first connection error, so a proxy started while
 * Redis is away would not start. Here the build is retried in the background every second, and the layer only waits
 * for the first attempt (at most `CONNECT_TIMEOUT`): a healthy Redis is in use from the first request, an absent one
 * costs start-up nothing. Once connected, node-redis reconnects on its own (backoff up to 2 s); its commands are not
 * queued while it is offline (`disableOfflineQueue`), so they fail fast instead of running late, after the request
 * that sent them has moved on. Should the client give up for good (closed), the probe builds a new one.
 *
 * node-redis reports every failed reconnect as an `error` event, which NodeRedis logs as a warning: during an outage
 * that is one line every 2 s. Those are silenced (their context logs at Error only); the gate's two lines say it.
 */
import * as NodeRedis from "@effect/platform-node/NodeRedis"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import { Redis } from "effect/persistence"
import * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"
import * as References from "effect/References"
import * as Scope from "effect/Scope"
import { ErrorReply } from "redis"
import type { RedisSettings } from "./settings.ts"

/** The gate is down (or has not connected yet): the call was not sent. */
export class RedisUnavailable extends Data.TaggedError("RedisUnavailable")<{ readonly host: string }> {
  override get message() {
    return `Redis at ${this.host} is unavailable`
  }
}

/** A call outlived REDIS_TIMEOUT; it may still run on Redis, but nobody waits for it. */
export class RedisDeadline extends Data.TaggedError("RedisDeadline")<{ readonly millis: number }> {
  override get message() {
    return `Redis did not answer within ${this.millis} ms`
  }
}

/** Whether a failed call was never sent because the gate is down: the stores treat it as "use the fallback", quietly. */
export const isUnavailable = (error: Redis.RedisError): boolean => error.cause instanceof RedisUnavailable

export type RedisStatus = "connecting" | "up" | "down"

export interface SharedRedisShape {
  /** Redis behind the gate: deadlines, fail-fast while down. */
  readonly redis: Redis.Redis["Service"]
  readonly status: Effect.Effect<RedisStatus>
}

/** Between two connection attempts at start, and between two probes while down. */
const PROBE_EVERY = Duration.seconds(1)
/** Opening the TCP (and TLS) connection; a black-holed host fails after this long instead of node-redis's 5 s. */
const CONNECT_TIMEOUT_MILLIS = 2_000

const describe = (cause: unknown): string => {
  const error = cause instanceof Redis.RedisError ? cause.cause : cause
  return error instanceof Error ? error.message : String(error)
}

export const make = (settings: RedisSettings): Effect.Effect<SharedRedisShape, never, Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    const host = settings.host
    const deadline = Duration.toMillis(settings.timeout)
    let status: RedisStatus = "connecting"
    let live: Redis.Redis["Service"] | undefined
    let client: NodeRedis.NodeRedis["Service"]["client"] | undefined
    let downSince = 0
    let probing = false

    const unavailable = () => new Redis.RedisError({ cause: new RedisUnavailable({ host }) })
    const late = () => new Redis.RedisError({ cause: new RedisDeadline({ millis: deadline }) })

    const clientLayer = NodeRedis.layer({
      url: Redacted.value(settings.url),
      disableOfflineQueue: true,
      socket: { connectTimeout: CONNECT_TIMEOUT_MILLIS }
    })

    /** One client, in a scope of its own that is closed if the connection fails (or with the process). */
    const connect = Effect.gen(function*() {
      const own = yield* Scope.make()
      const exit = yield* Effect.exit(
        Layer.buildWithScope(clientLayer, own).pipe(Effect.provideService(References.MinimumLogLevel, "Error"))
      )
      if (Exit.isFailure(exit)) {
        yield* Scope.close(own, exit)
        return yield* Effect.failCause(exit.cause)
      }
      yield* Scope.addFinalizer(scope, Scope.close(own, Exit.void))
      live = Context.get(exit.value, Redis.Redis)
      client = Context.get(exit.value, NodeRedis.NodeRedis).client
    })

    const up = (line: string) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const wasDown = status === "down"
        status = "up"
        return Effect.logInfo(line, {
          redis: host,
          ...(wasDown ? { downForSeconds: Math.round((now - downSince) / 100) / 10 } : {})
        })
      })

    const down = (line: string, cause: unknown) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        status = "down"
        downSince = now
        return Effect.logWarning(line, { redis: host, error: describe(cause) })
      })

    // At start: keep trying until a client connects; warn once. `attempted` is done after the first attempt.
    let warned = false
    const attempted = yield* Deferred.make<void>()
    const connectLoop: Effect.Effect<void> = Effect.gen(function*() {
      while (true) {
        const exit = yield* Effect.exit(connect)
        yield* Deferred.succeed(attempted, undefined)
        if (Exit.isSuccess(exit)) {
          return yield* up(warned ? "Redis connected: state is shared from now on" : "Redis connected: state is shared")
        }
        if (!warned) {
          warned = true
          yield* down(
            "Redis unreachable at start: rate limits, cool-downs and circuit breakers are per process and the " +
              "cache misses until it answers; retrying every second",
            Cause.squash(exit.cause)
          )
        }
        yield* Effect.sleep(PROBE_EVERY)
      }
    })

    /** While down: PING every second until Redis answers; a client that gave up for good is replaced. */
    const probe: Effect.Effect<void> = Effect.gen(function*() {
      while (true) {
        yield* Effect.sleep(PROBE_EVERY)
        if (client !== undefined && !client.isOpen) {
          live = undefined
          client = undefined
        }
        if (live === undefined) {
          if (Exit.isFailure(yield* Effect.exit(connect))) continue
        }
        const answered = yield* Effect.exit(
          live!.send("PING").pipe(Effect.timeoutOrElse({ duration: settings.timeout, orElse: () => Effect.fail(late()) }))
        )
        if (Exit.isSuccess(answered)) {
          probing = false
          return yield* up("Redis reachable again: rate limits, cool-downs, circuit breakers and cache are shared again")
        }
      }
    })

    const lost = (error: Redis.RedisError): Effect.Effect<void> => {
      // An error reply (a script error, a wrong type) comes from a Redis that answers: not an outage.
      if (error.cause instanceof ErrorReply || status !== "up") return Effect.void
      status = "down"
      return Effect.andThen(
        down(
          "Redis unreachable: rate limits, cool-downs and circuit breakers fall back to this process's state and the " +
            "cache misses until it answers again",
          error
        ),
        probing ? Effect.void : Effect.suspend(() => {
          probing = true
          return Effect.asVoid(Effect.forkIn(probe, scope))
        })
      )
    }

    const gated = <A>(run: (redis: Redis.Redis["Service"]) => Effect.Effect<A, Redis.RedisError>): Effect.Effect<A, Redis.RedisError> =>
      Effect.suspend(() => {
        if (status !== "up" || live === undefined) return Effect.fail(unavailable())
        return run(live).pipe(
          Effect.timeoutOrElse({ duration: settings.timeout, orElse: () => Effect.fail(late()) }),
          Effect.tapError(lost)
        )
      })

    const redis: Redis.Redis["Service"] = {
      send: (command, ...args) => gated((r) => r.send(command, ...args)),
      eval: (script) => (...params) => gated((r) => r.eval(script)(...params)),
      reserve: Effect.suspend(() => status === "up" && live !== undefined ? live.reserve : Effect.fail(unavailable())),
      // Not used by the proxy's stores; delegated while up, a queue failed with the reason while down.
      subscribe: (channel) =>
        Effect.suspend(() => {
          if (status === "up" && live !== undefined) return live.subscribe(channel)
          return Effect.tap(Queue.unbounded<Redis.RedisMessage, Redis.RedisError>(), (queue) =>
            Queue.failCause(queue, Cause.fail(unavailable())))
        })
    }

    yield* Effect.forkIn(connectLoop, scope)
    // Wait for the first attempt only: a reachable Redis is in use from the first request; an unreachable one
    // delays the start by at most one connect timeout.
    yield* Deferred.await(attempted).pipe(Effect.timeoutOrElse({ duration: Duration.millis(CONNECT_TIMEOUT_MILLIS), orElse: () => Effect.void }))

    return { redis, status: Effect.sync(() => status) }
  })

/** The process's shared Redis, built once and closed with the process. */
export class SharedRedis extends Context.Service<SharedRedis, SharedRedisShape>()("ccproxy/SharedRedis") {
  static readonly layer = (settings: RedisSettings): Layer.Layer<SharedRedis> => Layer.effect(SharedRedis, make(settings))
}
