/**
 * The upstream: one Chat Completions endpoint, spoken to over whatever `Transport` the layer is given.
 *
 * - `Upstream.layer` holds the protocol logic (auth headers, status → error mapping, retries before the first
 *   byte, timeouts, SSE reading with idle timeout and silences) over any Transport.
 * - `Upstream.layerLive` adds the real network: undici with HTTP/2 (`allowH2`), its Agent acquired and closed with
 *   the layer's scope.
 * - Tests swap the Transport for one that replays cassettes (`upstream/replay.ts`).
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Tracer from "effect/Tracer"
import type { Readable } from "node:stream"
import { ProxyConfig, type ProxyConfigShape } from "../config.ts"
import { providerSecrets, type ProviderSettings } from "../config/providers.ts"
import { FallbackAvailable } from "../routing/fallback.ts"
import { profile } from "../convert/profiles.ts"
import { type AttemptOutcome, attemptFinished } from "../observability/metrics.ts"
import { RequestStats } from "../observability/record.ts"
import { fromUpstreamErrorObject, fromUpstreamStatus, readErrorObject, redactSecrets } from "../convert/errors.ts"
import { type ProxyError, UpstreamProtocolError, UpstreamTimeout, UpstreamUnreachable } from "../errors.ts"
import { attemptSpan, traceparent, tracingActive } from "../observability/tracing.ts"
import type { ChatRequest, ChatResponse, UpstreamEvent } from "../protocol/openai.ts"
import { parseJsonOr } from "../util/json.ts"
import { clip } from "../util/text.ts"
import { completionAsChunks } from "./completion-chunks.ts"
import { describeNetworkError, isConnectTimeout } from "./network-errors.ts"
import { LiteralCache, serializeChatRequest } from "./request-body.ts"
import { readSse } from "./sse-reader.ts"
import { Transport, type TransportRequest, type TransportResponse, type TransportShape } from "./transport.ts"

/** One provider's Chat Completions endpoint. */
export interface UpstreamClient {
  /** A non-streaming completion. */
  readonly complete: (request: ChatRequest) => Effect.Effect<ChatResponse, ProxyError>
  /**
   * A streaming completion. The effect succeeds once the upstream answered 200, so errors before the first byte
   * can still become real HTTP statuses; the stream then fails with a ProxyError on mid-stream trouble.
   * Interrupting the stream aborts the upstream request; the upstream body belongs to the caller's scope, so it is
   * closed when that scope ends even if the stream never runs.
   */
  readonly stream: (request: ChatRequest) => Effect.Effect<Stream.Stream<UpstreamEvent, ProxyError>, ProxyError, Scope.Scope>
}

/** Every configured provider's client, by provider name. */
export interface UpstreamShape {
  /** The named provider's client; routing only names configured providers, so an unknown name is a defect. */
  readonly provider: (name: string) => UpstreamClient
}

/** Statuses worth another attempt: the upstream may well answer differently in a moment. */
const RETRYABLE_STATUS = new Set([408, 409, 429, 500, 502, 503, 504, 529])
/** A Retry-After longer than this goes back to the client instead of holding its request open. */
const MAX_RETRY_AFTER_MS = 10_000

const isRetryable = (error: ProxyError): boolean =>
  error._tag === "UpstreamUnreachable" ||
  (error._tag === "UpstreamFailure" && RETRYABLE_STATUS.has(error.upstreamStatus) &&
    (retryAfterMillis(error) ?? 0) <= MAX_RETRY_AFTER_MS)

/** The upstream's Retry-After (read when the failure was made, see `fromUpstreamStatus`), in milliseconds. */
export const retryAfterMillis = (error: ProxyError): number | undefined =>
  error._tag === "UpstreamFailure" && error.retryAfter !== undefined ? Duration.toMillis(error.retryAfter) : undefined

const retryPolicy = (maxRetries: number) =>
  // `max` recurs only while every schedule recurs: exponential backoff, at most `maxRetries` times.
  Schedule.max([Schedule.exponential("500 millis", 2).pipe(Schedule.jittered), Schedule.recurs(maxRetries)]).pipe(
    Schedule.setInputType<ProxyError>(),
    // With another target of a fallback chain ready, no retry: the next provider is the better retry, and sooner.
    Schedule.while(({ input }) => isRetryable(input) && Effect.map(FallbackAvailable, (fallback) => !fallback)),
    Schedule.modifyDelay(({ input, duration }) => {
      const wait = retryAfterMillis(input)
      return Effect.succeed(wait === undefined ? duration : Duration.max(duration, Duration.millis(wait)))
    })
  )

/** One more attempt, in the request's stats (for its log line and the metrics). */
const countRetry = Effect.flatMap(Effect.serviceOption(RequestStats), (stats) => {
  if (Option.isSome(stats)) stats.value.retries++
  return Effect.void
})

/** How an attempt ended, for the attempt-duration metric. */
const attemptOutcome = (exit: Exit.Exit<unknown, ProxyError>): AttemptOutcome => {
  if (Exit.isSuccess(exit)) return "success"
  const error = Cause.findErrorOption(exit.cause)
  if (Option.isNone(error)) return "interrupted"
  switch (error.value._tag) {
    case "UpstreamTimeout":
      return "timeout"
    case "UpstreamUnreachable":
      return "unreachable"
    case "UpstreamFailure":
      return error.value.upstreamStatus === 429 ? "rate_limited" : error.value.upstreamStatus >= 500 ? "server_error" : "client_error"
    default:
      return "server_error"
  }
}

/** A whole body as text: error answers and non-streamed completions. Interrupting it stops the upstream request. */
const readText = (body: Readable): Effect.Effect<string, ProxyError> =>
  Effect.tryPromise({
    try: async (signal) => {
      signal.addEventListener("abort", () => body.destroy(), { once: true })
      const parts: Array<Buffer> = []
      for await (const part of body) parts.push(part as Buffer)
      return Buffer.concat(parts).toString("utf8")
    },
    catch: (error) => new UpstreamUnreachable({ message: `connection lost mid-answer (${describeNetworkError(error)})` })
  })

/** Bytes of long strings kept from earlier requests (the same conversation comes back every turn). */
const LITERAL_CACHE_BYTES = 32 * 1024 * 1024

/**
 * Where each attempt meets the adaptive rate limits (`app.ts` points it at them). Every 429 an attempt gets is
 * reported, even one that a retry then hides from the client, so the limits learn from each; and every retry waits
 * for the upstream's cool-down and is charged a request against its budget like a first attempt, or the retries of
 * requests already admitted would go on hammering an upstream that just said 429 (in the bench's storm they were
 * two thirds of what it got). A reference with a do-nothing default: the upstream works without.
 */
export interface RateLimitGate {
  readonly rateLimited: (upstream: string, retryAfter: Duration.Duration | undefined) => Effect.Effect<void>
  /** Waits until another attempt may go; fails (429) when that is further away than the queue timeout. */
  readonly beforeRetry: (upstream: string) => Effect.Effect<void, ProxyError>
}

export const RateLimitGate = Context.Reference<RateLimitGate>("ccproxy/RateLimitGate", {
  defaultValue: () => ({ rateLimited: () => Effect.void, beforeRetry: () => Effect.void })
})

/** What every provider's client shares: the settings, the wire, the rate-limit gate, the literal cache. */
interface Shared {
  readonly config: ProxyConfigShape
  readonly transport: TransportShape
  readonly gate: RateLimitGate
  readonly traced: boolean
  readonly literals: LiteralCache
}

export const make = Effect.gen(function*() {
  const config = yield* ProxyConfig
  const shared: Shared = {
    config,
    transport: yield* Transport,
    gate: yield* RateLimitGate,
    traced: yield* tracingActive,
    // One for all providers: a conversation that falls back to another provider repeats the same strings.
    literals: new LiteralCache(LITERAL_CACHE_BYTES)
  }
  const clients = new Map(config.providers.map((provider) => [provider.name, makeClient(provider, shared)]))
  return Upstream.of({
    provider: (name) => {
      const client = clients.get(name)
      if (client === undefined) throw new Error(`no upstream provider named "${name}" (have ${[...clients.keys()].join(", ")})`)
      return client
    }
  })
})

const makeClient = (provider: ProviderSettings, { config, gate, literals, traced, transport }: Shared): UpstreamClient => {
  const upstreamName = provider.name
  const url = `${provider.baseUrl}/chat/completions`
  const connectMillis = Duration.toMillis(config.connectTimeout)
  const firstByteMillis = Duration.toMillis(config.firstByteTimeout)
  const baseHeaders = upstreamHeaders(provider, config)
  const streamHeaders = { ...baseHeaders, "content-type": "application/json", accept: "text/event-stream" }
  const jsonHeaders = { ...baseHeaders, "content-type": "application/json", accept: "application/json" }
  const secrets = providerSecrets(provider)
  // Where a user fixes a wrong URL: the environment's variable, or the provider's field in the config file.
  const baseUrlSetting = config.configFile === undefined ? "OPENAI_BASE_URL" : `the base_url of provider "${provider.name}"`
  const spanAttributes = traced ? upstreamSpanAttributes(upstreamName, url) : {}
  const readerOptions = {
    idleMillis: Duration.toMillis(config.idleTimeout),
    pingMillis: Duration.toMillis(config.pingInterval),
    secrets
  }

  // Built once: every request's attempts share them (a schedule's state lives in each run, not in the schedule).
  const retrySchedule = retryPolicy(config.maxRetries)
  const firstByteTimeout = {
    duration: config.firstByteTimeout,
    orElse: () => Effect.fail(new UpstreamTimeout({ phase: "first_byte", millis: firstByteMillis }))
  }
  const reportRateLimited = (error: ProxyError): Effect.Effect<void> =>
    error._tag === "UpstreamFailure" && error.upstreamStatus === 429 ? gate.rateLimited(upstreamName, error.retryAfter) : Effect.void

  const networkError = (error: unknown): ProxyError =>
    isConnectTimeout(error)
      ? new UpstreamTimeout({ phase: "connect", millis: connectMillis })
      : new UpstreamUnreachable({ message: describeNetworkError(error) })

  /**
   * The call: send, wait for a 2xx status (error statuses are read and mapped), then `read` what must arrive before
   * anything goes to the client. Each attempt gets the first-byte timeout; retries wrap whole attempts.
   * The body is serialised here, once, when the call is made: from then on only its bytes are held (off the JS
   * heap), and the request objects can be collected while the upstream thinks.
   */
  const attempt = <A, R>(
    request: ChatRequest,
    read: (response: TransportResponse) => Effect.Effect<A, ProxyError, R>
  ): Effect.Effect<A, ProxyError, R> => {
    const call = {
      url,
      headers: request.stream ? streamHeaders : jsonHeaders,
      body: serializeChatRequest(request, literals)
    }
    // The current attempt's span, when tracing is on: it goes upstream as `traceparent` and gets the status.
    let span: Tracer.Span | undefined
    const attemptOnce = Effect.suspend(() => {
      let answered: TransportResponse | undefined
      return Effect.tryPromise({
        try: (signal) =>
          transport.send(span === undefined ? call : withTraceparent(call, span), signal).then((response) => {
            answered = response
            span?.attribute("http.response.status_code", response.status)
            return response
          }),
        catch: networkError
      }).pipe(
        Effect.flatMap((response) => answer(response, read)),
        // Ended any other way than by handing the body on (interrupted just after the answer, timed out while
        // reading it): close it, so the upstream request does not stay open.
        Effect.onExit((exit) => (Exit.isSuccess(exit) ? Effect.void : Effect.sync(() => answered?.body.destroy())))
      )
    })
    const timed = Effect.flatMap(Clock.currentTimeMillis, (started) =>
      Effect.onExit(attemptOnce, (exit) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => attemptFinished(upstreamName, now - started, attemptOutcome(exit)))))
    // The last attempt's failure: what the client gets when the rate limits refuse the retry it would have had.
    let failed: ProxyError | undefined
    const tried = Effect.timeoutOrElse(
      Effect.tapError(timed, (error) => {
        failed = error
        return reportRateLimited(error)
      }),
      firstByteTimeout
    )
    const traceable = traced
      ? attemptSpan({ ...spanAttributes, "gen_ai.request.model": request.model, "ccproxy.stream": request.stream === true }, (s) => {
        span = s
        return tried
      })
      : tried
    // A retry waits at the gate outside the attempt's first-byte timeout: queueing for the budget is not the
    // upstream being slow. Refused there, the request ends with the upstream's own last answer (a 503 stays a 503,
    // for the client and for the breaker), and is not counted as a retry.
    let attempts = 0
    return Effect.retry(
      Effect.suspend(() =>
        attempts++ === 0 ? traceable : Effect.andThen(
          Effect.catch(gate.beforeRetry(upstreamName), (refused) => Effect.fail(failed ?? refused)),
          Effect.andThen(countRetry, traceable)
        )
      ),
      retrySchedule
    )
  }

  /** A 2xx goes to `read`; anything else becomes the error it stands for. */
  const answer = <A, R>(
    response: TransportResponse,
    read: (response: TransportResponse) => Effect.Effect<A, ProxyError, R>
  ): Effect.Effect<A, ProxyError, R> => {
    if (response.status >= 200 && response.status < 300) return read(response)
    if (response.status < 400) {
      const location = response.headers.location
      return Effect.fail(
        new UpstreamProtocolError({
          message: `upstream answered HTTP ${response.status}${location ? ` (to ${location})` : ""}; check ${baseUrlSetting}`
        })
      )
    }
    return readText(response.body).pipe(
      Effect.orElseSucceed(() => ""),
      Effect.flatMap((text) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          Effect.fail(fromUpstreamStatus(response.status, text, response.headers["retry-after"], secrets, now)))
      )
    )
  }

  const readCompletion = (response: TransportResponse): Effect.Effect<ChatResponse, ProxyError> =>
    Effect.flatMap(readText(response.body), (text): Effect.Effect<ChatResponse, ProxyError> => {
      const body = parseJsonOr(text, undefined)
      if (typeof body !== "object" || body === null) {
        return Effect.fail(new UpstreamProtocolError({ message: `expected a JSON completion, got: ${clip(redactSecrets(text, secrets), 200)}` }))
      }
      const response = body as ChatResponse
      const error = response.choices?.length ? undefined : readErrorObject(body)
      return error ? Effect.fail(fromUpstreamErrorObject(error, secrets)) : Effect.succeed(response)
    })

  const complete = (request: ChatRequest): Effect.Effect<ChatResponse, ProxyError> => attempt(request, readCompletion)

  /**
   * SSE as it arrives; a JSON answer to a stream request (an error, or a server that ignores `stream`) is read
   * whole; an HTML page (a login wall, a proxy's error page, a wrong base URL) fails before any event goes out.
   */
  const readStream = (
    response: TransportResponse
  ): Effect.Effect<Stream.Stream<UpstreamEvent, ProxyError>, ProxyError, Scope.Scope> => {
    const contentType = response.headers["content-type"] ?? ""
    if (contentType.includes("application/json")) {
      return Effect.map(readCompletion(response), (completion) => Stream.fromIterable(completionAsChunks(completion)))
    }
    if (contentType.includes("text/html")) {
      return Effect.flatMap(readText(response.body), (text) =>
        Effect.fail(new UpstreamProtocolError({ message: `expected an event stream, got an HTML page: ${clip(redactSecrets(text.trim(), secrets), 200)}; check ${baseUrlSetting}` })))
    }
    return readSse(response.body, readerOptions)
  }

  const stream = (request: ChatRequest): Effect.Effect<Stream.Stream<UpstreamEvent, ProxyError>, ProxyError, Scope.Scope> =>
    attempt(request, readStream)

  return { complete, stream }
}

/** What every attempt span says about where it went (no path or query: a base URL may carry a key). */
const upstreamSpanAttributes = (upstream: string, url: string): Record<string, unknown> => {
  const parsed = new URL(url)
  return {
    "ccproxy.upstream": upstream,
    "gen_ai.operation.name": "chat",
    "http.request.method": "POST",
    "server.address": parsed.hostname,
    "server.port": Number(parsed.port || (parsed.protocol === "https:" ? 443 : 80))
  }
}

const withTraceparent = (call: TransportRequest, span: Tracer.Span): TransportRequest => ({
  ...call,
  headers: { ...call.headers, traceparent: traceparent(span) }
})

/** What must never reach a client or a log, should an upstream echo it back: every provider's credentials. */
export const secretValues = (config: ProxyConfigShape): ReadonlyArray<string> => config.providers.flatMap(providerSecrets)

/** What every request to `provider` carries: its key, its vendor's headers, its own headers (which win). */
export const upstreamHeaders = (provider: ProviderSettings, config: Pick<ProxyConfigShape, "referer" | "appName">): Record<string, string> => {
  const headers: Record<string, string> = {}
  if (Option.isSome(provider.apiKey)) headers.authorization = `Bearer ${Redacted.value(provider.apiKey.value)}`
  Object.assign(headers, profile(provider.profile).headers?.({ referer: config.referer, appName: config.appName }))
  // The provider's own headers last: a gateway that wants its key in `api-key`, or another referer, gets it.
  return { ...headers, ...provider.headers }
}

export class Upstream extends Context.Service<Upstream, UpstreamShape>()("ccproxy/Upstream") {
  /** Protocol logic over the Transport in context. */
  static readonly layer: Layer.Layer<Upstream, never, Transport | ProxyConfig> = Layer.effect(this, make)
  /** Real network: HTTP/2-capable undici Agent. */
  static readonly layerLive: Layer.Layer<Upstream, never, ProxyConfig> = this.layer.pipe(
    Layer.provide(Transport.layerUndici)
  )
}
