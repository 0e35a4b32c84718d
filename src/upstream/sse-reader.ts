/**
 * An upstream SSE body (a Node `Readable`) → a stream of OpenAI chunks, with the two clocks a long-lived stream
 * needs folded into the same pull:
 *
 * - **idle**: waiting longer than `idleMillis` without a single byte (SSE comments count: OpenRouter's keep-alives
 *   are activity) fails the stream with `UpstreamTimeout`. Only time spent waiting counts, so a slow client that
 *   holds back reading never trips it.
 * - **silence**: waiting `pingMillis` without producing anything yields `SILENCE`, which the stream converter turns
 *   into a `ping` event so connections on the way to the client stay open through a long reasoning phase.
 *
 * One pull reads everything the socket has buffered and parses it in one pass. There is no fiber per stream and no
 * queue between stages, just one timer, so a token costs a read, a parse and a translation. The timer is not reset
 * per byte: it wakes at the earliest moment something could be due and re-arms for what is left.
 */
import * as Cause from "effect/Cause"
import * as Channel from "effect/Channel"
import * as Effect from "effect/Effect"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { Readable } from "node:stream"
import { type ProxyError, UpstreamTimeout, UpstreamUnreachable } from "../errors.ts"
import { type Chunk, SILENCE, type UpstreamEvent } from "../protocol/openai.ts"
import { SseChunkParser } from "../sse/decode.ts"
import { describeNetworkError } from "./network-errors.ts"

export interface ReaderOptions {
  /** Longest wait for the next byte; 0 or Infinity: no limit. */
  readonly idleMillis: number
  /** A `SILENCE` after this long without output; 0 or Infinity: never. */
  readonly pingMillis: number
  /** Values to scrub from upstream error messages. */
  readonly secrets: ReadonlyArray<string>
}

/** After `[DONE]`, how long the rest of the body may take to end before the request is cut (keeps connections reusable). */
const DRAIN_MILLIS = 1_000

/** Node runs a longer timeout at once; a later due time just re-arms. */
const MAX_TIMER_MILLIS = 2 ** 31 - 1

const ignore = () => undefined

/** What one pull gives: a batch, a failure, or the end. */
type Outcome = Effect.Effect<readonly [UpstreamEvent, ...Array<UpstreamEvent>], ProxyError | Cause.Done>

const enabled = (millis: number) => millis > 0 && Number.isFinite(millis)

/**
 * The body as a stream of chunks. The body belongs to the request's scope: if the stream is never run (its client
 * left between the upstream's answer and the first read), the end of that scope closes the body, so the upstream
 * does not go on generating into a paused socket. Once the stream runs, its own release decides (let the body drain
 * after `[DONE]`, else destroy it). Time comes from the fiber's `Clock`; the single timer is Node's, armed from it.
 */
export const readSse = (
  body: Readable,
  options: ReaderOptions
): Effect.Effect<Stream.Stream<UpstreamEvent, ProxyError>, never, Scope.Scope> =>
  Effect.clockWith((clock) => {
    let claimed = false
    // Scope.addFinalizer, not Effect.addFinalizer: the latter captures the fiber's context and merges it back when
    // it runs, a copy of every service map per request for a finalizer that needs none.
    const closeUnread = Effect.flatMap(Effect.scope, (scope) => Scope.addFinalizer(scope, Effect.sync(() => claimed || body.destroy())))
    return Effect.as(closeUnread, reader(body, options, () => clock.currentTimeMillisUnsafe(), () => (claimed = true)))
  })

const reader = (
  body: Readable,
  options: ReaderOptions,
  clock: () => number,
  claim: () => void
): Stream.Stream<UpstreamEvent, ProxyError> =>
  Stream.fromChannel(Channel.fromTransform((_upstream, scope) =>
    Effect.suspend(() => {
      claim()
      const parser = new SseChunkParser(options.secrets)
      const idle = enabled(options.idleMillis) ? options.idleMillis : undefined
      const ping = enabled(options.pingMillis) ? options.pingMillis : undefined
      let failure: ProxyError | undefined
      let bodyEnded = false
      /** The pending pull, resumed by body events or the timer. */
      let resume: ((outcome: Outcome) => void) | undefined
      /** When the current wait began (pings do not end it), or when the last byte arrived during it; undefined between waits. */
      let waitingSince: number | undefined
      let lastOutput = clock()
      let timer: ReturnType<typeof setTimeout> | undefined

      const wake = () => {
        const pending = resume
        resume = undefined
        pending?.(next)
      }
      const onEnd = () => {
        bodyEnded = true
        wake()
      }
      function onError(error: unknown) {
        failure ??= new UpstreamUnreachable({ message: `connection lost mid-stream (${describeNetworkError(error)})` })
        wake()
      }
      body.on("readable", wake)
      body.on("end", onEnd)
      body.on("error", onError)

      const earliestDue = (now: number): number =>
        Math.min(
          idle === undefined || waitingSince === undefined ? Infinity : waitingSince + idle - now,
          ping === undefined ? Infinity : lastOutput + ping - now
        )

      const onTimer = () => {
        timer = undefined
        if (resume === undefined) return // not waiting: the next wait arms it again
        const now = clock()
        if (idle !== undefined && waitingSince !== undefined && now - waitingSince >= idle) {
          failure ??= new UpstreamTimeout({ phase: "idle", millis: idle })
          return wake()
        }
        if (ping !== undefined && now - lastOutput >= ping) {
          // The wait goes on after a ping: only bytes from the upstream reset the idle clock.
          lastOutput = now
          const pending = resume
          resume = undefined
          return pending(Effect.succeed([SILENCE]))
        }
        arm(now)
      }
      const arm = (now: number) => {
        if (timer !== undefined || (idle === undefined && ping === undefined)) return
        timer = setTimeout(onTimer, Math.min(MAX_TIMER_MILLIS, Math.max(1, earliestDue(now))))
      }

      const read = (out: Array<Chunk>): boolean => {
        let bytes: Buffer | null
        let any = false
        while (!parser.ended && (bytes = body.read() as Buffer | null) !== null) {
          any = true
          parser.push(bytes, out)
        }
        return any
      }

      /** What the body has for us now, or undefined when there is nothing to do but wait. */
      const poll = (): Outcome | undefined => {
        const out: Array<Chunk> = []
        const gotBytes = read(out)
        if (out.length > 0) {
          lastOutput = clock()
          waitingSince = undefined
          return Effect.succeed(out as [Chunk, ...Array<Chunk>])
        }
        if (parser.failure !== undefined) return Effect.fail(parser.failure)
        if (parser.ended) return Cause.done()
        // A body that broke or was closed before we listened says so only through its state.
        if (body.errored) onError(body.errored)
        else if (body.destroyed && !body.readableEnded) onError(new Error("the upstream connection closed"))
        if (failure !== undefined) return Effect.fail(failure)
        if (bodyEnded || body.readableEnded) {
          parser.end(out)
          if (out.length > 0) return Effect.succeed(out as [Chunk, ...Array<Chunk>])
          return parser.failure !== undefined ? Effect.fail(parser.failure) : Cause.done()
        }
        const now = clock()
        if (gotBytes || waitingSince === undefined) waitingSince = now
        return undefined
      }

      // Polling and registering for the wake-up happen in one synchronous step, so no event can fall between them.
      const next: Outcome = Effect.callback((done) => {
        const ready = poll()
        if (ready !== undefined) return done(ready)
        resume = done
        arm(clock())
        return Effect.sync(() => {
          resume = undefined
        })
      })

      const release = Effect.sync(() => {
        clearTimeout(timer)
        resume = undefined
        body.off("readable", wake)
        body.off("end", onEnd)
        body.off("error", onError)
        body.on("error", ignore)
        if (body.readableEnded || body.destroyed) return
        if (parser.ended && parser.failure === undefined) {
          // `[DONE]` arrived: let the body end on its own so the connection goes back to the pool.
          const cut = setTimeout(() => body.destroy(), DRAIN_MILLIS)
          body.once("end", () => clearTimeout(cut))
          body.resume()
        } else {
          // The client went away, or the stream failed: stop the upstream request now.
          body.destroy()
        }
      })
      return Effect.as(Scope.addFinalizer(scope, release), next)
    })
  ))
