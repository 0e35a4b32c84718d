/**
 * The per-upstream circuit breaker: what opens it, what it does while open, how it recovers, and how a streamed
 * reply reports an outcome known only when it ends. All timing on the TestClock.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Exit, Fiber, Scope } from "effect"
import { TestClock } from "effect/testing"
import { Overloaded, UpstreamTimeout, UpstreamUnreachable } from "../../src/errors.ts"
import { type BreakerSettings, classify, UpstreamBreaker } from "../../src/protection/breaker.ts"

const breaker = (s: Partial<BreakerSettings> = {}) =>
  Effect.provide(
    UpstreamBreaker,
    UpstreamBreaker.layerMemory({
      failureThreshold: 5,
      recoveryTimeout: Duration.seconds(60),
      halfOpenRequests: 1,
      ...s
    })
  )

// Only the tag and the upstream status matter to the breaker; the rest of UpstreamFailure is not its business.
const upstreamStatus = (status: number) => Effect.fail({ _tag: "UpstreamFailure", upstreamStatus: status } as const)

const circuit = (b: UpstreamBreaker["Service"], name = "a") =>
  Effect.map(b.states(), (all) => all.find((s) => s.name === name)?.circuit)

/** Runs a failing call through the circuit `n` times. */
const fail = (b: UpstreamBreaker["Service"], n: number, error: Effect.Effect<never, unknown> = upstreamStatus(503), name = "a") =>
  Effect.repeat(Effect.exit(b.protect(name, error)), { times: n - 1 })

describe("UpstreamBreaker", () => {
  it.effect("5 failures in a row open the circuit; open rejects at once with the time left", () =>
    Effect.gen(function*() {
      const b = yield* breaker()
      yield* fail(b, 4)
      expect(yield* circuit(b)).toBe("closed")
      yield* fail(b, 1, Effect.fail(new UpstreamUnreachable({ message: "ECONNREFUSED" })))
      expect(yield* circuit(b)).toBe("open")

      let ran = false
      const rejected = yield* Effect.flip(b.protect("a", Effect.sync(() => (ran = true))))
      expect(ran).toBe(false)
      expect(rejected).toBeInstanceOf(Overloaded)
      expect(rejected.message).toContain(`"a"`)
      expect(Duration.toMillis(rejected.retryAfter!)).toBe(60_000)

      yield* TestClock.adjust("20 seconds")
      const later = yield* Effect.flip(b.protect("a", Effect.void))
      expect(Duration.toMillis((later as Overloaded).retryAfter!)).toBe(40_000)
      // Circuits are per upstream.
      expect(yield* b.protect("b", Effect.succeed(1))).toBe(1)
    }))

  it.effect("a success breaks a run of failures", () =>
    Effect.gen(function*() {
      const b = yield* breaker()
      yield* fail(b, 4)
      yield* b.protect("a", Effect.void)
      yield* fail(b, 4)
      expect(yield* circuit(b)).toBe("closed")
    }))

  it.effect("timeouts and 529 count; 4xx, 429, our own errors, defects and interruptions do not", () =>
    Effect.gen(function*() {
      const b = yield* breaker()
      yield* fail(b, 1, Effect.fail(new UpstreamTimeout({ phase: "first_byte", millis: 1000 })))
      yield* fail(b, 1, upstreamStatus(529))
      yield* fail(b, 2)
      for (const status of [400, 401, 404, 413, 429]) yield* fail(b, 3, upstreamStatus(status))
      yield* fail(b, 1, Effect.fail(new Overloaded({ message: "ours" })))
      yield* fail(b, 1, Effect.die("bug"))
      const hanging = yield* Effect.forkChild(b.protect("a", Effect.never))
      yield* Effect.yieldNow
      yield* Fiber.interrupt(hanging)
      // Four failures so far, and nothing since reset the run: one more opens the circuit.
      expect(yield* circuit(b)).toBe("closed")
      yield* fail(b, 1)
      expect(yield* circuit(b)).toBe("open")
    }))

  it.effect("after the recovery timeout one probe goes through; its success closes the circuit", () =>
    Effect.gen(function*() {
      const b = yield* breaker()
      yield* fail(b, 5)
      yield* TestClock.adjust("59 seconds")
      expect((yield* Effect.flip(b.protect("a", Effect.void)))._tag).toBe("Overloaded")
      yield* TestClock.adjust("1 second")
      expect(yield* circuit(b)).toBe("half_open")

      const release = yield* Deferred.make<void>()
      const probe = yield* Effect.forkChild(b.protect("a", Deferred.await(release)))
      yield* Effect.yieldNow
      // Only one probe at a time: the rest are turned away while it runs.
      let ran = false
      const other = yield* Effect.flip(b.protect("a", Effect.sync(() => (ran = true))))
      expect(other.message).toContain("probe")
      expect(ran).toBe(false)

      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(probe)
      expect(yield* circuit(b)).toBe("closed")
      expect(yield* b.protect("a", Effect.succeed("ok"))).toBe("ok")
    }))

  it.effect("a failed probe reopens the circuit for another recovery timeout", () =>
    Effect.gen(function*() {
      const b = yield* breaker()
      yield* fail(b, 5)
      yield* TestClock.adjust("60 seconds")
      yield* fail(b, 1)
      const rejected = yield* Effect.flip(b.protect("a", Effect.void))
      expect(Duration.toMillis((rejected as Overloaded).retryAfter!)).toBe(60_000)
      yield* TestClock.adjust("60 seconds")
      yield* b.protect("a", Effect.void)
      expect(yield* circuit(b)).toBe("closed")
    }))

  it.effect("a probe the client abandoned (interrupted) frees the slot for the next probe", () =>
    Effect.gen(function*() {
      const b = yield* breaker()
      yield* fail(b, 5)
      yield* TestClock.adjust("60 seconds")
      const probe = yield* Effect.forkChild(b.protect("a", Effect.never))
      yield* Effect.yieldNow
      yield* Fiber.interrupt(probe)
      expect(yield* circuit(b)).toBe("half_open")
      yield* b.protect("a", Effect.void)
      expect(yield* circuit(b)).toBe("closed")
    }))

  it.effect("CIRCUIT_BREAKER_HALF_OPEN_REQUESTS 2: two successful probes in a row close it", () =>
    Effect.gen(function*() {
      const b = yield* breaker({ halfOpenRequests: 2 })
      yield* fail(b, 5)
      yield* TestClock.adjust("60 seconds")
      yield* b.protect("a", Effect.void)
      expect(yield* circuit(b)).toBe("half_open")
      yield* b.protect("a", Effect.void)
      expect(yield* circuit(b)).toBe("closed")

      // One success, then a failed probe: open again, and the count starts over next time.
      yield* fail(b, 5)
      yield* TestClock.adjust("60 seconds")
      yield* b.protect("a", Effect.void)
      yield* fail(b, 1)
      expect(yield* circuit(b)).toBe("open")
      yield* TestClock.adjust("60 seconds")
      yield* b.protect("a", Effect.void)
      expect(yield* circuit(b)).toBe("half_open")
      yield* b.protect("a", Effect.void)
      expect(yield* circuit(b)).toBe("closed")
    }))

  it.effect("streams: the outcome is reported when the stream ends, so streams dying mid-way open the circuit", () =>
    Effect.gen(function*() {
      const b = yield* breaker()
      const stream = (ending: Exit.Exit<unknown, unknown>) =>
        Effect.scoped(Effect.gen(function*() {
          const call = yield* b.admit("a")
          // ... the call up to the first byte succeeded; the stream runs, then ends like this:
          yield* call.reportExit(ending)
          yield* call.report("Success") // only the first report counts
        }))
      const idle = Exit.fail(new UpstreamTimeout({ phase: "idle", millis: 300_000 }))
      for (let i = 0; i < 5; i++) yield* stream(idle)
      expect(yield* circuit(b)).toBe("open")
      expect((yield* Effect.flip(Effect.scoped(b.admit("a"))))._tag).toBe("Overloaded")
    }))

  it.effect("streams: a call never reported is ignored when its scope closes, freeing a probe slot", () =>
    Effect.gen(function*() {
      const b = yield* breaker()
      yield* fail(b, 5)
      yield* TestClock.adjust("60 seconds")
      const scope = yield* Scope.make()
      yield* Scope.provide(b.admit("a"), scope)
      expect((yield* Effect.flip(Effect.scoped(b.admit("a"))))._tag).toBe("Overloaded")
      yield* Scope.close(scope, Exit.void)
      const probe = yield* Effect.scoped(Effect.flatMap(b.admit("a"), (call) => call.report("Success")))
      expect(probe).toBeUndefined()
      expect(yield* circuit(b)).toBe("closed")
    }))

  it.effect("states lists named and used upstreams", () =>
    Effect.gen(function*() {
      const b = yield* breaker({ failureThreshold: 1 })
      yield* fail(b, 1, upstreamStatus(500), "x")
      expect(yield* b.states(["x", "y"])).toEqual([
        { name: "x", circuit: "open", retryAfter: Duration.seconds(60) },
        { name: "y", circuit: "closed" }
      ])
    }))

  it("classify", () => {
    expect(classify(Exit.succeed(1))).toBe("Success")
    expect(classify(Exit.fail({ _tag: "UpstreamFailure", upstreamStatus: 502 }))).toBe("Failure")
    expect(classify(Exit.fail({ _tag: "UpstreamFailure", upstreamStatus: 499 }))).toBe("Ignored")
    expect(classify(Exit.fail(new UpstreamUnreachable({ message: "x" })))).toBe("Failure")
    expect(classify(Exit.interrupt())).toBe("Ignored")
    expect(classify(Exit.die("bug"))).toBe("Ignored")
    expect(classify(Exit.fail("string"))).toBe("Ignored")
  })
})
