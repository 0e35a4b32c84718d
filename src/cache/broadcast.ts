/**
 * One stream read by several readers, each from the start: what a shared upstream call hands to the identical
 * requests that share it (`single-flight.ts`).
 *
 * The producer `publish`es batches; every reader gets everything from the first item, at its own pace, then the
 * live ones, then the same end (done, or the producer's failure). Readers that join late replay what is buffered.
 *
 * Memory is bounded by `capacity` (in the units of `weigh`):
 * - Until the items published pass the capacity, all are kept, so a newcomer can still replay from the start
 *   (`joinable`).
 * - Past it, the broadcast takes no one new (the newcomer makes its own call) and keeps only what some reader has
 *   not yet read. If that is still over the capacity, because a reader is far behind, `publish` waits for it:
 *   the slowest reader sets the pace, as a single client's socket would for its own call, and nobody is silently
 *   dropped (the seed's de-duplicator dropped slow readers and left their streams hanging).
 *
 * Readers are registered before they read (a reader that has not pulled yet holds its place), and must `leave`
 * when done, whether they read to the end or not; `single-flight.ts` ties that to the request scope.
 */
import * as Arr from "effect/Array"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Pull from "effect/Pull"
import * as Stream from "effect/Stream"

/** A reader's position: the index of the next item it will read. */
export interface Reader {
  at: number
}

export class Broadcast<A, E> {
  private items: Array<A> = []
  /** Index of `items[0]` among everything published. */
  private base = 0
  /** Weight of the items held. */
  private held = 0
  private overflowed = false
  /** Undefined while open. */
  private end: Exit.Exit<void, E> | undefined
  private readonly readers = new Set<Reader>()
  /** Completed (and replaced) whenever something is published or the end comes: readers wait on it. */
  private changed = Deferred.makeUnsafe<void>()
  /** Completed when a reader frees room for a waiting producer. */
  private room: Deferred.Deferred<void> | undefined
  private readonly capacity: number
  private readonly weigh: (item: A) => number

  constructor(capacity: number, weigh: (item: A) => number) {
    this.capacity = capacity
    this.weigh = weigh
  }

  /** Whether a newcomer can still read everything from the start. */
  get joinable(): boolean {
    return !this.overflowed && this.end === undefined
  }

  get readerCount(): number {
    return this.readers.size
  }

  /** Registers a reader at the start. Only while `joinable`. */
  join(): Reader {
    const reader = { at: this.base }
    this.readers.add(reader)
    return reader
  }

  leave(reader: Reader): void {
    if (!this.readers.delete(reader)) return
    if (this.overflowed) this.trim()
  }

  /** Appends a batch for every reader; waits while readers that are far behind hold more than the capacity. */
  publish(batch: ReadonlyArray<A>): Effect.Effect<void> {
    return Effect.suspend(() => {
      for (const item of batch) {
        this.items.push(item)
        this.held += this.weigh(item)
      }
      if (this.held > this.capacity) this.overflowed = true
      if (this.overflowed) this.trim()
      this.notify()
      return this.waitForRoom
    })
  }

  private readonly waitForRoom: Effect.Effect<void> = Effect.suspend(() => {
    if (this.held <= this.capacity || this.readers.size === 0) return Effect.void
    const room = Deferred.makeUnsafe<void>()
    this.room = room
    return Effect.andThen(Deferred.await(room), this.waitForRoom)
  })

  /** Ends the stream for every reader: done, or failed as the producer's stream failed. */
  close(exit: Exit.Exit<void, E>): void {
    if (this.end !== undefined) return
    this.end = exit
    this.notify()
  }

  /** The items from `reader`'s position on, then the end. */
  read(reader: Reader): Stream.Stream<A, E> {
    const pull: Pull.Pull<Arr.NonEmptyReadonlyArray<A>, E> = Effect.suspend(() => {
      const offset = reader.at - this.base
      if (offset < this.items.length) {
        const batch = this.items.slice(offset) as unknown as Arr.NonEmptyReadonlyArray<A>
        reader.at += batch.length
        if (this.overflowed) this.trim()
        return Effect.succeed(batch)
      }
      const end = this.end
      if (end === undefined) return Effect.andThen(Deferred.await(this.changed), pull)
      return Exit.isSuccess(end) ? Cause.done() : Effect.failCause(end.cause)
    })
    return Stream.fromPull(Effect.succeed(pull))
  }

  private notify(): void {
    const changed = this.changed
    this.changed = Deferred.makeUnsafe<void>()
    Deferred.doneUnsafe(changed, Effect.void)
  }

  /** Drops what every reader has read; wakes a waiting producer once the rest fits. */
  private trim(): void {
    let slowest = this.base + this.items.length
    for (const reader of this.readers) if (reader.at < slowest) slowest = reader.at
    const drop = slowest - this.base
    if (drop > 0) {
      for (let i = 0; i < drop; i++) this.held -= this.weigh(this.items[i]!)
      this.items = this.items.slice(drop)
      this.base = slowest
    }
    const room = this.room
    if (room !== undefined && (this.held <= this.capacity || this.readers.size === 0)) {
      this.room = undefined
      Deferred.doneUnsafe(room, Effect.void)
    }
  }
}
