/**
 * Replay: a Transport that answers from cassettes, with their recorded chunk boundaries, delays and broken
 * connections. Put under `Upstream.layer`, it runs the real protocol code (statuses, SSE reading, timeouts, retries)
 * with no network, so tests and benchmarks see exactly what a live upstream would produce.
 */
import * as Layer from "effect/Layer"
import { Readable } from "node:stream"
import type { ProxyConfig } from "../config.ts"
import { parseJsonOr } from "../util/json.ts"
import type { Cassette } from "./cassette.ts"
import { Transport, type TransportShape } from "./transport.ts"
import { Upstream } from "./Upstream.ts"

export interface ReplayedRequest {
  readonly url: string
  readonly headers: Readonly<Record<string, string>>
  readonly body: unknown
}

/** Chooses the cassette for each request (the n-th request, 0-based). */
export type ReplayScript = (request: ReplayedRequest, n: number) => Cassette

const decoder = new TextDecoder()

/** The cassette's chunks as a Node stream, paced by their delays; it errors where the recording broke off. */
export const cassetteBody = (cassette: Cassette): Readable => {
  const chunks = cassette.response.chunks
  let next = 0
  let timer: ReturnType<typeof setTimeout> | undefined
  return new Readable({
    read() {
      if (timer !== undefined) return
      const chunk = chunks[next++]
      if (chunk === undefined) {
        if (cassette.response.abort) this.destroy(Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }))
        else this.push(null)
        return
      }
      if (!chunk.delayMs) {
        this.push(chunk.text)
        return
      }
      timer = setTimeout(() => {
        timer = undefined
        this.push(chunk.text)
      }, chunk.delayMs)
    },
    destroy(error, callback) {
      clearTimeout(timer)
      callback(error)
    }
  })
}

/** `seen`, when given, collects every request; without it nothing is kept (a long replay session holds no bodies). */
export const replayTransport = (script: ReplayScript, seen?: Array<ReplayedRequest>): TransportShape => {
  let count = 0
  return {
    send: async (request, signal) => {
      const text = decoder.decode(request.body)
      const replayed: ReplayedRequest = { url: request.url, headers: request.headers, body: parseJsonOr(text, text) }
      seen?.push(replayed)
      const cassette = script(replayed, count++)
      if (cassette.response.status === 0) {
        throw Object.assign(new Error("connection refused (replayed)"), { code: "ECONNREFUSED" })
      }
      const body = cassetteBody(cassette)
      signal.addEventListener("abort", () => body.destroy(), { once: true })
      body.on("error", () => undefined)
      const headers: Record<string, string> = {}
      for (const [name, value] of Object.entries(cassette.response.headers ?? {})) headers[name.toLowerCase()] = value
      return { status: cassette.response.status, headers, body }
    }
  }
}

/** The Upstream service answering from cassettes. `seen` collects what the proxy sent. */
export const layerReplay = (
  script: ReplayScript,
  seen: Array<ReplayedRequest> = []
): Layer.Layer<Upstream, never, ProxyConfig> =>
  Upstream.layer.pipe(Layer.provide(Layer.succeed(Transport, replayTransport(script, seen))))

/** Plays the given cassettes in order, one per request. */
export const inOrder = (...cassettes: ReadonlyArray<Cassette>): ReplayScript => (_request, n) => {
  const cassette = cassettes[n]
  if (cassette === undefined) throw new Error(`replay: no cassette for request #${n + 1}`)
  return cassette
}
