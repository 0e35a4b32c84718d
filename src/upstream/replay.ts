/**
 * Replay: an in-process HttpClient that answers from cassettes, with their recorded chunk boundaries, delays and
 * broken connections. Put under `Upstream.layer`, it runs the real protocol code (statuses, SSE decoding,
 * timeouts) with no network, so tests and benchmarks see exactly what a live upstream would produce.
 */
import { Effect, Layer } from "effect"
import { HttpClient, HttpClientError, type HttpClientRequest, HttpClientResponse } from "effect/http"
import type { ProxyConfig } from "../config.ts"
import type { Cassette } from "./cassette.ts"
import { Upstream } from "./Upstream.ts"
import { parseJsonOr } from "../util/json.ts"

export interface ReplayedRequest {
  readonly url: string
  readonly headers: Readonly<Record<string, string>>
  readonly body: unknown
}

/** Chooses the cassette for each request (the n-th request, 0-based). */
export type ReplayScript = (request: ReplayedRequest, n: number) => Cassette

const encoder = new TextEncoder()

const requestBody = (request: HttpClientRequest.HttpClientRequest): unknown => {
  const body = request.body
  if (body._tag !== "Uint8Array") return undefined
  const text = body.text ?? new TextDecoder().decode(body.body)
  return parseJsonOr(text, text)
}

/** The cassette's chunks as a web stream, paced by their delays; it errors where the recording broke off. */
const bodyStream = (cassette: Cassette, signal: AbortSignal): ReadableStream<Uint8Array> => {
  const chunks = cassette.response.chunks
  let next = 0
  let timer: ReturnType<typeof setTimeout> | undefined
  return new ReadableStream<Uint8Array>({
    pull: (controller) =>
      new Promise<void>((resolve) => {
        const chunk = chunks[next++]
        if (chunk === undefined) {
          if (cassette.response.abort) controller.error(new Error("socket hang up"))
          else controller.close()
          return resolve()
        }
        const emit = () => {
          if (!signal.aborted) controller.enqueue(encoder.encode(chunk.text))
          resolve()
        }
        if (chunk.delayMs) timer = setTimeout(emit, chunk.delayMs)
        else emit()
      }),
    cancel: () => clearTimeout(timer)
  })
}

export const replayHttpClient = (script: ReplayScript, seen: Array<ReplayedRequest> = []): HttpClient.HttpClient =>
  HttpClient.make((request, url, signal) =>
    Effect.suspend(() => {
      const replayed: ReplayedRequest = { url: url.toString(), headers: request.headers, body: requestBody(request) }
      seen.push(replayed)
      const cassette = script(replayed, seen.length - 1)
      if (cassette.response.status === 0) {
        return Effect.fail(
          new HttpClientError.HttpClientError({
            reason: new HttpClientError.TransportError({ request, description: "connection refused" })
          })
        )
      }
      const response = new Response(bodyStream(cassette, signal), {
        status: cassette.response.status,
        headers: cassette.response.headers ?? {}
      })
      return Effect.succeed(HttpClientResponse.fromWeb(request, response))
    })
  )

/** The Upstream service answering from cassettes. `seen` collects what the proxy sent. */
export const layerReplay = (
  script: ReplayScript,
  seen: Array<ReplayedRequest> = []
): Layer.Layer<Upstream, never, ProxyConfig> =>
  Upstream.layer.pipe(Layer.provide(Layer.succeed(HttpClient.HttpClient, replayHttpClient(script, seen))))

/** Plays the given cassettes in order, one per request. */
export const inOrder = (...cassettes: ReadonlyArray<Cassette>): ReplayScript => (_request, n) => {
  const cassette = cassettes[n]
  if (cassette === undefined) throw new Error(`replay: no cassette for request #${n + 1}`)
  return cassette
}
