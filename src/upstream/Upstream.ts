/**
 * The upstream: one Chat Completions endpoint, spoken to over whatever `HttpClient` the layer is given.
 *
 * - `Upstream.layer` holds the protocol logic (auth headers, status → error mapping, retries before the first
 *   byte, timeouts, SSE decoding) over any HttpClient.
 * - `Upstream.layerLive` adds the real client: undici with HTTP/2 (`allowH2`), its Agent acquired and closed with
 *   the layer's scope.
 * - Tests swap the HttpClient for one that replays cassettes (`upstream/replay.ts`).
 */
import { NodeHttpClient } from "@effect/platform-node"
import { Context, Duration, Effect, Layer, Option, Redacted, Schedule, Stream } from "effect"
import { HttpClient, HttpClientRequest, type HttpClientResponse } from "effect/http"
import type { HttpClientError } from "effect/http/HttpClientError"
import * as tls from "node:tls"
import { ProxyConfig, type ProxyConfigShape } from "../config.ts"
import { fromUpstreamErrorObject, fromUpstreamStatus, readErrorObject } from "../convert/errors.ts"
import { type ProxyError, UpstreamProtocolError, UpstreamTimeout, UpstreamUnreachable } from "../errors.ts"
import type { ChatRequest, ChatResponse, Chunk } from "../protocol/openai.ts"
import { decodeChunks } from "../sse/decode.ts"
import { completionAsChunks } from "./completion-chunks.ts"
import { parseJsonOr } from "../util/json.ts"

export interface UpstreamShape {
  /** A non-streaming completion. */
  readonly complete: (request: ChatRequest) => Effect.Effect<ChatResponse, ProxyError>
  /**
   * A streaming completion. The effect succeeds once the upstream answered 200, so errors before the first byte
   * can still become real HTTP statuses; the stream then fails with a ProxyError on mid-stream trouble.
   * Interrupting the stream aborts the upstream request.
   */
  readonly stream: (request: ChatRequest) => Effect.Effect<Stream.Stream<Chunk, ProxyError>, ProxyError>
}

/** Statuses worth another attempt: the upstream may well answer differently in a moment. */
const RETRYABLE_STATUS = new Set([408, 409, 429, 500, 502, 503, 504, 529])
/** A Retry-After longer than this goes back to the client instead of holding its request open. */
const MAX_RETRY_AFTER_MS = 10_000

const isRetryable = (error: ProxyError): boolean =>
  error._tag === "UpstreamUnreachable" ||
  (error._tag === "UpstreamFailure" && RETRYABLE_STATUS.has(error.upstreamStatus) &&
    (retryAfterMillis(error) ?? 0) <= MAX_RETRY_AFTER_MS)

/** Retry-After as seconds or an HTTP date (the seed crashed on "1.5"). */
export const retryAfterMillis = (error: ProxyError): number | undefined => {
  if (error._tag !== "UpstreamFailure" || error.retryAfter === undefined) return undefined
  const seconds = Number(error.retryAfter)
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000)
  const date = Date.parse(error.retryAfter)
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now())
}

const retryPolicy = (maxRetries: number) =>
  // `max` recurs only while every schedule recurs: exponential backoff, at most `maxRetries` times.
  Schedule.max([Schedule.exponential("500 millis", 2).pipe(Schedule.jittered), Schedule.recurs(maxRetries)]).pipe(
    Schedule.setInputType<ProxyError>(),
    Schedule.while(({ input }) => isRetryable(input)),
    Schedule.modifyDelay(({ input, duration }) => {
      const wait = retryAfterMillis(input)
      return Effect.succeed(wait === undefined ? duration : Duration.max(duration, Duration.millis(wait)))
    })
  )

/** A short reason such as `ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:9` (never the request, so never the key). */
const describeTransport = (error: HttpClientError): string => {
  const reason = error.reason as { _tag: string; description?: string; cause?: unknown }
  const cause = reason.cause as { code?: string; message?: string; cause?: { code?: string; message?: string } } | undefined
  const code = cause?.code ?? cause?.cause?.code
  const message = cause?.cause?.message ?? cause?.message ?? reason.description ?? reason._tag
  return code && !message.includes(code) ? `${code}: ${message}` : message
}

const isConnectTimeout = (error: HttpClientError): boolean => {
  const cause = error.reason.cause as { code?: string; name?: string } | undefined
  return cause?.code === "UND_ERR_CONNECT_TIMEOUT" || cause?.name === "ConnectTimeoutError"
}

export const make = Effect.gen(function*() {
  const config = yield* ProxyConfig
  const http = yield* HttpClient.HttpClient
  const url = `${config.baseUrl}/chat/completions`
  const connectMillis = Duration.toMillis(config.connectTimeout)
  const firstByteMillis = Duration.toMillis(config.firstByteTimeout)
  const idleMillis = Duration.toMillis(config.idleTimeout)
  const headers = upstreamHeaders(config)
  const secrets = secretValues(config)

  const transportError = (error: HttpClientError): ProxyError =>
    isConnectTimeout(error)
      ? new UpstreamTimeout({ phase: "connect", millis: connectMillis })
      : new UpstreamUnreachable({ message: describeTransport(error) })

  /**
   * One attempt: send, wait for a 2xx status (error statuses are read and mapped), then `read` what must arrive
   * before anything goes to the client. Each attempt gets the first-byte timeout; retries wrap whole attempts.
   */
  const attempt = <A>(
    request: ChatRequest,
    read: (response: HttpClientResponse.HttpClientResponse) => Effect.Effect<A, ProxyError>
  ): Effect.Effect<A, ProxyError> =>
    http.execute(
      HttpClientRequest.post(url).pipe(
        HttpClientRequest.setHeaders(headers),
        HttpClientRequest.setHeader("accept", request.stream ? "text/event-stream" : "application/json"),
        HttpClientRequest.bodyText(JSON.stringify(request), "application/json")
      )
    ).pipe(
      Effect.mapError(transportError),
      Effect.flatMap((response) =>
        response.status >= 200 && response.status < 300
          ? read(response)
          : response.status < 400
          ? Effect.fail(
            new UpstreamProtocolError({
              message: `upstream answered HTTP ${response.status}${
                response.headers.location ? ` (to ${response.headers.location})` : ""
              }; check OPENAI_BASE_URL`
            })
          )
          : response.text.pipe(
          Effect.orElseSucceed(() => ""),
          Effect.flatMap((text) =>
            Effect.fail(fromUpstreamStatus(response.status, text, response.headers["retry-after"], secrets))
          )
        )
      ),
      Effect.timeoutOrElse({
        duration: config.firstByteTimeout,
        orElse: () => Effect.fail(new UpstreamTimeout({ phase: "first_byte", millis: firstByteMillis }))
      }),
      Effect.retry(retryPolicy(config.maxRetries)),
      Effect.provideService(HttpClient.TracerPropagationEnabled, false)
    )

  const readCompletion = (response: HttpClientResponse.HttpClientResponse): Effect.Effect<ChatResponse, ProxyError> =>
    Effect.mapError(response.text, transportError).pipe(
      Effect.flatMap((text): Effect.Effect<ChatResponse, ProxyError> => {
        const body = parseJsonOr(text, undefined)
        if (typeof body !== "object" || body === null) {
          return Effect.fail(new UpstreamProtocolError({ message: `expected a JSON completion, got: ${text.slice(0, 200)}` }))
        }
        const response = body as ChatResponse
        const error = response.choices?.length ? undefined : readErrorObject(body)
        return error ? Effect.fail(fromUpstreamErrorObject(error, secrets)) : Effect.succeed(response)
      })
    )

  const complete = (request: ChatRequest): Effect.Effect<ChatResponse, ProxyError> => attempt(request, readCompletion)

  /** SSE as it arrives; a JSON answer to a stream request (an error, or a server that ignores `stream`) is read whole. */
  const readStream = (response: HttpClientResponse.HttpClientResponse): Effect.Effect<Stream.Stream<Chunk, ProxyError>, ProxyError> =>
    (response.headers["content-type"] ?? "").includes("application/json")
      ? Effect.map(readCompletion(response), (completion) => Stream.fromIterable(completionAsChunks(completion)))
      : Effect.succeed(decodeChunks(
        response.stream.pipe(
          Stream.mapError((error): ProxyError =>
            new UpstreamUnreachable({ message: `connection lost mid-stream (${describeTransport(error)})` })
          ),
          // On the bytes, not the decoded chunks: SSE comments (OpenRouter's keep-alives) count as activity.
          Stream.timeoutOrElse({
            duration: config.idleTimeout,
            orElse: () => Stream.fail(new UpstreamTimeout({ phase: "idle", millis: idleMillis }))
          })
        ),
        secrets
      ))

  const stream = (request: ChatRequest): Effect.Effect<Stream.Stream<Chunk, ProxyError>, ProxyError> =>
    attempt(request, readStream)

  return Upstream.of({ complete, stream })
})

/** What must never reach a client or a log, should the upstream echo it back. */
export const secretValues = (config: ProxyConfigShape): ReadonlyArray<string> =>
  Option.match(config.apiKey, { onNone: () => [], onSome: (key) => [Redacted.value(key)] })

const upstreamHeaders = (config: ProxyConfigShape): Record<string, string> => {
  const headers: Record<string, string> = {}
  if (Option.isSome(config.apiKey)) headers.authorization = `Bearer ${Redacted.value(config.apiKey.value)}`
  if (config.provider === "openrouter") {
    headers["http-referer"] = config.referer
    headers["x-title"] = config.appName
  }
  return headers
}

/** The real HTTP client: an undici Agent that negotiates HTTP/2 over TLS, closed when the layer's scope ends. */
export const layerHttpClient: Layer.Layer<HttpClient.HttpClient, never, ProxyConfig> = Layer.unwrap(
  Effect.gen(function*() {
    const config = yield* ProxyConfig
    const ca = config.caCertificates === undefined ? undefined : [...tls.rootCertificates, config.caCertificates]
    return NodeHttpClient.layerUndiciOptions({
      allowH2: true,
      connect: { timeout: Duration.toMillis(config.connectTimeout), ...(ca ? { ca } : {}) },
      keepAliveTimeout: 30_000
    })
  })
)

export class Upstream extends Context.Service<Upstream, UpstreamShape>()("ccproxy/Upstream") {
  /** Protocol logic over the HttpClient in context. */
  static readonly layer: Layer.Layer<Upstream, never, HttpClient.HttpClient | ProxyConfig> = Layer.effect(this, make)
  /** Real network: HTTP/2-capable undici Agent. */
  static readonly layerLive: Layer.Layer<Upstream, never, ProxyConfig> = this.layer.pipe(
    Layer.provide(layerHttpClient)
  )
}
