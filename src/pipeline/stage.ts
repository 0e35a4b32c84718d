/**
 * The stage contract. A stage wraps the next handler: it may change the request, answer on its own (a cache hit,
 * a refusal), or transform the reply. `compose` folds an ordered list of stages around the core handler, the first
 * stage being the outermost.
 */
import * as Effect from "effect/Effect"
import type * as Stream from "effect/Stream"
import type { ProxyError } from "../errors.ts"
import type { MessageResponse, MessagesRequest, StreamEvent } from "../protocol/anthropic.ts"

export interface ProxyRequest {
  /** `req_…`, also sent back as the `request-id` header. */
  readonly id: string
  /** The decoded Anthropic request body. Stages may return a copy with changes. */
  readonly body: MessagesRequest
  /** Incoming request headers, lower-cased. */
  readonly headers: Readonly<Record<string, string | undefined>>
  /** The upstream model chosen by the routing stage; until then, the client's model. */
  readonly upstreamModel: string
  /** Size of the body as received, for cheap estimates (no re-serialisation on the hot path). */
  readonly receivedBytes: number
}

/** A whole message or a stream of events; `upstreamModel` says which model answered, when one did. */
export type ProxyReply =
  | { readonly _tag: "Message"; readonly message: MessageResponse; readonly upstreamModel?: string }
  | { readonly _tag: "Stream"; readonly events: Stream.Stream<StreamEvent, ProxyError>; readonly upstreamModel?: string }

export type Handler<R = never> = (request: ProxyRequest) => Effect.Effect<ProxyReply, ProxyError, R>

export interface Stage<R = never> {
  readonly name: string
  readonly wrap: (next: Handler<R>) => Handler<R>
}

/** Builds the handler: `compose([a, b], core)` runs a, then b, then core. */
export const compose = <R>(stages: ReadonlyArray<Stage<R>>, core: Handler<R>): Handler<R> =>
  stages.reduceRight<Handler<R>>((next, stage) => stage.wrap(next), core)

export const messageReply = (message: MessageResponse, upstreamModel?: string): ProxyReply =>
  upstreamModel === undefined ? { _tag: "Message", message } : { _tag: "Message", message, upstreamModel }

export const streamReply = (events: Stream.Stream<StreamEvent, ProxyError>, upstreamModel?: string): ProxyReply =>
  upstreamModel === undefined ? { _tag: "Stream", events } : { _tag: "Stream", events, upstreamModel }

/** A stage that only rewrites the request on its way in. */
export const mapRequest = (
  name: string,
  f: (request: ProxyRequest) => ProxyRequest
): Stage => ({ name, wrap: (next) => (request) => next(f(request)) })

/**
 * A stage that only transforms streamed events (non-streaming replies pass through untouched). The function
 * receives the request too, so it can key its work by request id or model.
 */
export const mapEvents = (
  name: string,
  f: (
    events: Stream.Stream<StreamEvent, ProxyError>,
    request: ProxyRequest
  ) => Stream.Stream<StreamEvent, ProxyError>
): Stage => ({
  name,
  wrap: (next) => (request) =>
    Effect.map(next(request), (reply) => (reply._tag === "Stream" ? { ...reply, events: f(reply.events, request) } : reply))
})
