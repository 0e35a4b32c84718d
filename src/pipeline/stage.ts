/**
 * The stage contract. A stage wraps the next handler: it may change the request, answer on its own (a cache hit, a
 * refusal, an open circuit), or transform the reply. `compose` folds an ordered list of stages around the core
 * handler, the first stage being the outermost.
 *
 * Every request runs in its own `Scope`, the one the HTTP edge opens for it, and a streamed reply keeps that scope
 * open until its last byte is written (or the client hangs up, or the server shuts down). So whatever a stage
 * acquires in it (`Semaphore` permits, rate-limit tickets, the upstream body) is released exactly once, however the
 * reply ends, even when its stream is never pulled.
 *
 * A stage is built by an `Effect<Stage, never, R>`, so it can use services (ours and a user's own layers alike);
 * the build runs once, when the pipeline is made, not per request.
 */
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { Converted } from "../convert/request.ts"
import type { ProxyError } from "../errors.ts"
import type { MessageResponse, MessagesRequest, StreamEvent } from "../protocol/anthropic.ts"

export interface ProxyRequest {
  /** `req_…`, also sent back as the `request-id` header. */
  readonly id: string
  /** The decoded Anthropic request body. Stages may return a copy with changes. */
  readonly body: MessagesRequest
  /** Incoming request headers, lower-cased. */
  readonly headers: Readonly<Record<string, string | undefined>>
  /** Who is asking: the fingerprint of their proxy key (never the key) and their address. */
  readonly client: ClientIdentity
  /** The upstream (provider) that will answer; limits, breakers and metrics are kept per upstream. */
  readonly upstream: string
  /** The upstream model chosen by the routing stage; until then, the client's model. */
  readonly upstreamModel: string
  /** Size of the body as received. */
  readonly receivedBytes: number
  /** A cheap estimate of the prompt's tokens (no tokenizer on the hot path); the reply's usage corrects it. */
  readonly estimatedTokens: number
  /**
   * The Chat Completions request, once the conversion stage ran. It belongs to `body` and `upstreamModel` as they
   * were then: a later stage that changes either gets a fresh conversion in the core (see `currentConversion`).
   */
  readonly conversion?: Conversion | undefined
}

export interface ClientIdentity {
  /** Short fingerprint of the client's proxy key, when PROXY_API_KEYS is set. */
  readonly keyFingerprint?: string | undefined
  /** The peer address, when known. */
  readonly address?: string | undefined
}

export interface Conversion extends Converted {
  /** The body, model and upstream it was made for (the upstream's profile chose the dialect). */
  readonly body: MessagesRequest
  readonly model: string
  readonly upstream: string
}

/** The request's conversion if it still matches its body, model and upstream; undefined when it must be made again. */
export const currentConversion = (request: ProxyRequest): Conversion | undefined => {
  const conversion = request.conversion
  return conversion !== undefined && conversion.body === request.body && conversion.model === request.upstreamModel &&
    conversion.upstream === request.upstream
    ? conversion
    : undefined
}

/**
 * A whole message or a stream of events; `upstreamModel` says which model answered, when one did, and `headers` are
 * extra response headers a stage wants the client to see (e.g. `x-ccproxy-cache`).
 */
export type ProxyReply =
  | {
    readonly _tag: "Message"
    readonly message: MessageResponse
    readonly upstreamModel?: string
    readonly headers?: Readonly<Record<string, string>>
  }
  | {
    readonly _tag: "Stream"
    readonly events: Stream.Stream<StreamEvent, ProxyError>
    readonly upstreamModel?: string
    readonly headers?: Readonly<Record<string, string>>
  }

/**
 * Handles one request in its request scope. The effect it returns runs at most once (the default stages hand the
 * request on and let it go, see `handOff`): a stage that wants another try calls `next(request)` again rather than
 * re-running that effect.
 */
export type Handler = (request: ProxyRequest) => Effect.Effect<ProxyReply, ProxyError, Scope.Scope>

export interface Stage {
  readonly name: string
  readonly wrap: (next: Handler) => Handler
}

/**
 * `next(request)`, to be called later (after an effect: a permit, an admission, a service lookup) without the
 * continuation keeping the request. The outer stages' frames (an `onExit`, a `provideService`) hold the effect tree
 * they run until the reply comes back, so a continuation that captured the request would keep its body and its
 * conversion (~125 KB for a Claude Code turn) alive while the upstream thinks, for the young-generation GC to copy
 * again and again: on the bench that doubled the bytes each scavenge copies. The thunk hands the request on once;
 * an effect tree is run once per request (to try again, a stage calls `next` again).
 */
export const handOff = (next: Handler, request: ProxyRequest): (() => ReturnType<Handler>) => {
  let held: ProxyRequest | undefined = request
  return () => {
    const taken = held
    held = undefined
    if (taken === undefined) return Effect.die(new Error("a stage ran the same inner pipeline twice; call next(request) again instead"))
    return next(taken)
  }
}

/**
 * Builds the handler: `compose([a, b], core)` runs a, then b, then core. With `traced`, each stage (and the core)
 * runs in a span named after it (`stage a`, `stage b`, `core`); without it, nothing is added to any handler.
 */
export const compose = (stages: ReadonlyArray<Stage>, core: Handler, traced = false): Handler =>
  traced
    ? stages.reduceRight<Handler>((next, stage) => spanned(`stage ${stage.name}`, stage.wrap(next)), spanned("core", core))
    : stages.reduceRight<Handler>((next, stage) => stage.wrap(next), core)

/** A span for the handler's own run (a stream it returns runs on after it, under the request's span). */
const spanned = (name: string, handler: Handler): Handler => (request) =>
  Effect.withSpan(handler(request), name, { captureStackTrace: false })

export const messageReply = (message: MessageResponse, upstreamModel?: string): ProxyReply =>
  upstreamModel === undefined ? { _tag: "Message", message } : { _tag: "Message", message, upstreamModel }

export const streamReply = (events: Stream.Stream<StreamEvent, ProxyError>, upstreamModel?: string): ProxyReply =>
  upstreamModel === undefined ? { _tag: "Stream", events } : { _tag: "Stream", events, upstreamModel }

/**
 * Runs `f` with the stream's exit once it has ended (completed, failed, or interrupted by a client that left). The
 * events pass through untouched: unlike `Stream.onExit`, which measured 15–20 µs per 37-chunk stream in the bench,
 * this adds no step per chunk, only one finalizer per stream.
 */
export const onStreamEnd = <A, E, R>(
  events: Stream.Stream<A, E, R>,
  f: (exit: Exit.Exit<unknown, E>) => Effect.Effect<void>
): Stream.Stream<A, E, R> =>
  Stream.transformPullBracket(events, (pull, _scope, streamScope) =>
    Effect.as(Scope.addFinalizerExit(streamScope, (exit) => f(exit as Exit.Exit<unknown, E>)), pull))

/** A stage that only rewrites the request on its way in. */
export const mapRequest = (name: string, f: (request: ProxyRequest) => ProxyRequest): Stage => ({
  name,
  wrap: (next) => (request) => next(f(request))
})

/**
 * A stage that transforms streamed events. Whole-message replies pass through untouched: a transformer that must
 * see those too is a plain `Stage` that handles both tags. The function receives the request too, so it can key its
 * work by request id or model.
 */
export const mapEvents = (
  name: string,
  f: (events: Stream.Stream<StreamEvent, ProxyError>, request: ProxyRequest) => Stream.Stream<StreamEvent, ProxyError>
): Stage => ({
  name,
  wrap: (next) => (request) =>
    Effect.map(next(request), (reply) => (reply._tag === "Stream" ? { ...reply, events: f(reply.events, request) } : reply))
})
