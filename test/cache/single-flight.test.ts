/**
 * SingleFlight in-process, against a call whose stream the test feeds by hand: one call for identical requests in
 * flight, late joiners replay then follow, the call's scope belongs to the flight (it survives the first member and
 * closes with the last), failures reach every member and are forgotten, and the replay buffer is bounded.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Queue, Scope, Stream } from "effect"
import { Broadcast } from "../../src/cache/broadcast.ts"
import { SingleFlight } from "../../src/cache/single-flight.ts"
import { type ProxyError, UpstreamFailure } from "../../src/errors.ts"
import { messageReply, type ProxyReply, streamReply } from "../../src/pipeline/stage.ts"
import type { MessageResponse, StreamEvent } from "../../src/protocol/anthropic.ts"

const text = (t: string): StreamEvent => ({ type: "content_block_delta", index: 0, delta: { type: "text_delta", text: t } })
const texts = (events: ReadonlyArray<StreamEvent>) =>
  events.map((e) => (e.type === "content_block_delta" && e.delta.type === "text_delta" ? e.delta.text : e.type)).join("|")

const failure = new UpstreamFailure({ upstreamStatus: 503, message: "down", promptTooLong: false })

/** A call the test drives: its stream is a queue; its scope's closing is counted. */
const upstream = Effect.gen(function*() {
  const state = { calls: 0, closed: 0, queues: [] as Array<Queue.Queue<StreamEvent, ProxyError | Cause.Done>> }
  const call = Effect.gen(function*() {
    state.calls++
    const queue = yield* Queue.unbounded<StreamEvent, ProxyError | Cause.Done>()
    state.queues.push(queue)
    yield* Effect.addFinalizer(() => Effect.sync(() => state.closed++))
    return streamReply(Stream.fromQueue(queue), "gpt-4.1")
  })
  return { state, call, queue: (i = state.queues.length - 1) => state.queues[i]! }
})

/** A member: runs in a scope of its own (its request scope) and drains its reply. */
const member = (flights: SingleFlight["Service"], call: Effect.Effect<ProxyReply, ProxyError, Scope.Scope>, key = "k") =>
  Effect.forkChild(Effect.scoped(Effect.flatMap(flights.run(key, call), (reply) =>
    reply._tag === "Stream" ? Effect.map(Stream.runCollect(reply.events), (events) => texts(events)) : Effect.succeed(reply.message.id))))

const settle = Effect.repeat(Effect.yieldNow, { times: 20 })

const withFlights = <A, E>(effect: Effect.Effect<A, E, SingleFlight>, replayBytes?: number) =>
  Effect.provide(effect, SingleFlight.layer(replayBytes === undefined ? {} : { replayBytes }))

describe("SingleFlight", () => {
  it.effect("identical requests in flight share one call; all get every event; late joiners replay then follow", () =>
    withFlights(Effect.gen(function*() {
      const flights = yield* SingleFlight
      const { state, call, queue } = yield* upstream
      const early = yield* Effect.all([member(flights, call), member(flights, call), member(flights, call)])
      yield* settle
      yield* Queue.offerAll(queue(), [text("a"), text("b")])
      yield* settle
      const late = yield* member(flights, call)
      yield* settle
      yield* Queue.offer(queue(), text("c"))
      yield* Queue.end(queue())
      for (const fiber of [...early, late]) expect(yield* Fiber.join(fiber)).toBe("a|b|c")
      yield* settle // the flight closes the call's scope just after the last event is out
      expect(state.calls).toBe(1)
      expect(state.closed).toBe(1)
      expect(yield* flights.inFlight).toBe(0)
    })))

  it.effect("different keys make different calls", () =>
    withFlights(Effect.gen(function*() {
      const flights = yield* SingleFlight
      const { state, call } = yield* upstream
      const fibers = yield* Effect.all([member(flights, call, "a"), member(flights, call, "b")])
      yield* settle
      expect(state.calls).toBe(2)
      for (const q of state.queues) yield* Queue.end(q)
      yield* Fiber.joinAll(fibers)
    })))

  it.effect("the first member leaving does not cut the others: the call lives in the flight's scope", () =>
    withFlights(Effect.gen(function*() {
      const flights = yield* SingleFlight
      const { state, call, queue } = yield* upstream
      const first = yield* member(flights, call)
      const second = yield* member(flights, call)
      yield* settle
      yield* Queue.offer(queue(), text("a"))
      yield* settle
      yield* Fiber.interrupt(first)
      expect(state.closed).toBe(0)
      yield* Queue.offer(queue(), text("b"))
      yield* Queue.end(queue())
      expect(yield* Fiber.join(second)).toBe("a|b")
      yield* settle
      expect(state.calls).toBe(1)
      expect(state.closed).toBe(1)
    })))

  it.effect("the last member leaving stops the call and closes its scope; the next request calls afresh", () =>
    withFlights(Effect.gen(function*() {
      const flights = yield* SingleFlight
      const { state, call, queue } = yield* upstream
      const fibers = yield* Effect.all([member(flights, call), member(flights, call)])
      yield* settle
      yield* Queue.offer(queue(), text("a"))
      yield* settle
      yield* Fiber.interrupt(fibers[0])
      expect(state.closed).toBe(0)
      yield* Fiber.interrupt(fibers[1])
      expect(state.closed).toBe(1)
      expect(yield* flights.inFlight).toBe(0)
      const next = yield* member(flights, call)
      yield* settle
      expect(state.calls).toBe(2)
      yield* Queue.offer(queue(), text("z"))
      yield* Queue.end(queue())
      expect(yield* Fiber.join(next)).toBe("z")
    })))

  it.effect("members that leave while the call has not answered yet stop it too", () =>
    withFlights(Effect.gen(function*() {
      const flights = yield* SingleFlight
      let closed = 0
      let interrupted = 0
      const slow = Effect.gen(function*() {
        yield* Effect.addFinalizer(() => Effect.sync(() => closed++))
        return yield* Effect.onInterrupt(Effect.never, () => Effect.sync(() => interrupted++))
      })
      const fibers = yield* Effect.all([member(flights, slow), member(flights, slow)])
      yield* settle
      yield* Fiber.interruptAll(fibers)
      expect(interrupted).toBe(1)
      expect(closed).toBe(1)
      expect(yield* flights.inFlight).toBe(0)
    })))

  it.effect("a call that fails before answering fails every member with its error, and is forgotten at once", () =>
    withFlights(Effect.gen(function*() {
      const flights = yield* SingleFlight
      let calls = 0
      const failing = Effect.suspend(() => {
        calls++
        return Effect.andThen(Effect.yieldNow, Effect.fail(failure))
      })
      const fibers = yield* Effect.all([member(flights, failing), member(flights, failing), member(flights, failing)])
      for (const fiber of fibers) expect(yield* Fiber.await(fiber)).toEqual(Exit.fail(failure))
      expect(calls).toBe(1)
      expect(yield* flights.inFlight).toBe(0)
      const retry = yield* member(flights, Effect.suspend(() => {
        calls++
        return Effect.succeed(messageReply({ id: "msg_ok" } as MessageResponse))
      }))
      expect(yield* Fiber.join(retry)).toBe("msg_ok")
      expect(calls).toBe(2)
    })))

  it.effect("a stream that fails mid-way gives every member the events so far, then the error", () =>
    withFlights(Effect.gen(function*() {
      const flights = yield* SingleFlight
      const { call, queue } = yield* upstream
      const fibers = yield* Effect.all([member(flights, call), member(flights, call)])
      yield* settle
      yield* Queue.offer(queue(), text("a"))
      yield* Queue.fail(queue(), failure)
      for (const fiber of fibers) expect(yield* Fiber.await(fiber)).toEqual(Exit.fail(failure))
      expect(yield* flights.inFlight).toBe(0)
    })))

  it.effect("a whole message is shared as it is", () =>
    withFlights(Effect.gen(function*() {
      const flights = yield* SingleFlight
      let calls = 0
      const json = Effect.andThen(Effect.sync(() => calls++), Effect.as(Effect.yieldNow, messageReply({ id: "msg_1" } as MessageResponse)))
      const fibers = yield* Effect.all([member(flights, json), member(flights, json)])
      expect(yield* Fiber.joinAll(fibers)).toEqual(["msg_1", "msg_1"])
      expect(calls).toBe(1)
    })))

  it.effect("past the replay cap a late request makes its own call; the members already in get everything", () =>
    withFlights(Effect.gen(function*() {
      const flights = yield* SingleFlight
      const { state, call, queue } = yield* upstream
      const first = yield* member(flights, call)
      yield* settle
      yield* Queue.offerAll(queue(0), [text("x".repeat(300)), text("y".repeat(300))])
      yield* settle
      const late = yield* member(flights, call)
      yield* settle
      expect(state.calls).toBe(2)
      yield* Queue.end(queue(0))
      yield* Queue.offer(queue(1), text("z"))
      yield* Queue.end(queue(1))
      expect(yield* Fiber.join(first)).toBe(`${"x".repeat(300)}|${"y".repeat(300)}`)
      expect(yield* Fiber.join(late)).toBe("z")
    }), 500))
})

describe("Broadcast", () => {
  const weigh = (s: string) => s.length

  it.effect("past its capacity it keeps only what a reader has not read, and the producer waits for the slowest", () =>
    Effect.gen(function*() {
      const b = new Broadcast<string, never>(10, weigh)
      const fast = b.join()
      const slow = b.join()
      yield* b.publish(["aaaa", "bbbb"])
      expect(b.joinable).toBe(true)
      const fastReads = yield* Effect.forkChild(Stream.runCollect(b.read(fast)))
      // 12 > 10: closed to newcomers, and the slow reader pins everything, so this publish waits.
      const producer = yield* Effect.forkChild(b.publish(["cccc"]))
      yield* settle
      expect(b.joinable).toBe(false)
      expect(producer.pollUnsafe()).toBeUndefined()
      const pull = yield* Scope.make()
      const slowReads = yield* Effect.forkChild(Stream.runCollect(b.read(slow)).pipe(Scope.provide(pull)))
      yield* Fiber.join(producer)
      b.close(Exit.void)
      expect(yield* Fiber.join(fastReads)).toEqual(["aaaa", "bbbb", "cccc"])
      expect(yield* Fiber.join(slowReads)).toEqual(["aaaa", "bbbb", "cccc"])
    }))

  it.effect("a reader that leaves frees the room it held", () =>
    Effect.gen(function*() {
      const b = new Broadcast<string, never>(5, weigh)
      const stuck = b.join()
      const producer = yield* Effect.forkChild(b.publish(["aaaaaaaa"]))
      yield* settle
      expect(producer.pollUnsafe()).toBeUndefined()
      b.leave(stuck)
      yield* Fiber.join(producer)
    }))
})
