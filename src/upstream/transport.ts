/**
 * The wire under the upstream: send one POST, get back the status, the headers and the body as a Node `Readable`.
 *
 * A service of its own so the protocol code in `Upstream.ts` runs unchanged over the real network (`layerUndici`:
 * an undici Agent with HTTP/2, scoped to the layer) and over recorded traffic (`replay.ts`). The body stays a Node
 * stream on purpose: the SSE reader waits on it directly, with its timers beside it, instead of through a chain of
 * stream stages and fibers (the hot path of every streamed token).
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Readable } from "node:stream"
import * as tls from "node:tls"
import { Agent } from "undici"
import { ProxyConfig } from "../config.ts"

export interface TransportRequest {
  readonly url: string
  /** Lower-case names. */
  readonly headers: Readonly<Record<string, string>>
  readonly body: Uint8Array
}

export interface TransportResponse {
  readonly status: number
  /** Lower-case names; repeated headers joined with ", ". */
  readonly headers: Readonly<Record<string, string | undefined>>
  /** Unread; the caller reads it to the end or destroys it. */
  readonly body: Readable
}

export interface TransportShape {
  /** Rejects with the network error (`code` such as `ECONNREFUSED`, `UND_ERR_CONNECT_TIMEOUT`) on failure. */
  readonly send: (request: TransportRequest, signal: AbortSignal) => Promise<TransportResponse>
}

const ignore = () => undefined

const flattenHeaders = (headers: Record<string, string | Array<string> | undefined>) => {
  const flat: Record<string, string | undefined> = {}
  for (const name in headers) {
    const value = headers[name]
    flat[name.toLowerCase()] = Array.isArray(value) ? value.join(", ") : value
  }
  return flat
}

/** The undici Agent: HTTP/2 where the server offers it over TLS, keep-alive pools otherwise. */
const makeAgent = Effect.map(ProxyConfig, (config) => {
  const ca = config.caCertificates === undefined ? undefined : [...tls.rootCertificates, config.caCertificates]
  return new Agent({
    allowH2: true,
    connect: { timeout: Duration.toMillis(config.connectTimeout), ...(ca ? { ca } : {}) },
    keepAliveTimeout: 30_000,
    // Our own timers watch the first byte and the silences in between (Upstream.ts, sse-reader.ts).
    headersTimeout: 0,
    bodyTimeout: 0
  })
})

/**
 * The body as a stream that hands its bytes over once and then forgets them: undici keeps the body it was given
 * until the response ends, which for a stream is minutes, and a long session's body is megabytes.
 */
const handOver = (bytes: Uint8Array): Readable => {
  let pending: Uint8Array | null = bytes
  return new Readable({
    read() {
      const taken = pending
      pending = null
      this.push(taken)
      if (taken !== null) this.push(null)
    }
  })
}

export const undiciTransport = (agent: Agent): TransportShape => ({
  send: async (request, signal) => {
    const url = new URL(request.url)
    const answer = await agent.request({
      origin: url.origin,
      path: url.pathname + url.search,
      method: "POST",
      headers: { ...request.headers, "content-length": String(request.body.byteLength) },
      body: handOver(request.body),
      signal
    })
    // Until a reader attaches, an error on the body (a reset) must not go unhandled and end the process.
    answer.body.on("error", ignore)
    return { status: answer.statusCode, headers: flattenHeaders(answer.headers), body: answer.body }
  }
})

export class Transport extends Context.Service<Transport, TransportShape>()("ccproxy/Transport") {
  /** The real network; the Agent and its connections close with the layer's scope. */
  static readonly layerUndici: Layer.Layer<Transport, never, ProxyConfig> = Layer.effect(
    this,
    Effect.map(
      Effect.acquireRelease(makeAgent, (agent) => Effect.promise(() => agent.close().catch(() => undefined))),
      undiciTransport
    )
  )
}
