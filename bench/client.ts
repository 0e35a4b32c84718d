/**
 * Single streaming requests with node:http, timed at each step: response headers (first byte), first body byte,
 * first text delta. Used sequentially for time-to-first-delta, and many at once for idle-stream memory.
 */
import * as Http from "node:http"

export interface Endpoint {
  readonly name: string
  readonly port: number
  readonly path: string
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
  /** Whether the body so far holds the first text delta. */
  readonly hasText: (soFar: string) => boolean
  /** Whether a whole body is a complete stream. */
  readonly complete: (body: string) => boolean
}

export interface Timing {
  readonly status: number
  readonly headersMs: number
  readonly firstByteMs: number
  readonly firstTextMs: number
  readonly totalMs: number
  readonly complete: boolean
  readonly body: string
}

/** One request, read to the end; times from just before the request is written. */
export const timeRequest = (endpoint: Endpoint, agent: Http.Agent): Promise<Timing> =>
  new Promise((resolve, reject) => {
    const started = performance.now()
    let headersMs = Number.NaN
    let firstByteMs = Number.NaN
    let firstTextMs = Number.NaN
    let body = ""
    const request = Http.request(
      { host: "127.0.0.1", port: endpoint.port, method: "POST", path: endpoint.path, headers: endpoint.headers, agent },
      (response) => {
        headersMs = performance.now() - started
        response.setEncoding("utf8")
        response.on("data", (chunk: string) => {
          const now = performance.now() - started
          if (Number.isNaN(firstByteMs)) firstByteMs = now
          body += chunk
          if (Number.isNaN(firstTextMs) && endpoint.hasText(body)) firstTextMs = now
        })
        response.on("end", () =>
          resolve({
            status: response.statusCode ?? 0,
            headersMs,
            firstByteMs,
            firstTextMs,
            totalMs: performance.now() - started,
            complete: endpoint.complete(body),
            body
          }))
        response.on("error", reject)
      }
    )
    request.on("error", reject)
    request.end(endpoint.body)
  })

export const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  if (sorted.length === 0) return Number.NaN
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

export interface OpenStream {
  /** Resolves when the stream has ended: whether it ended complete. */
  readonly done: Promise<boolean>
  readonly destroy: () => void
}

/**
 * Opens one stream and resolves once its first text delta arrived (the stream is then established end to end);
 * it keeps reading (pings, the rest once released) until the server ends it.
 */
export const openStream = (endpoint: Endpoint, agent: Http.Agent): Promise<OpenStream> =>
  new Promise((resolve, reject) => {
    let body = ""
    let opened = false
    let settleDone: (complete: boolean) => void = () => {}
    const done = new Promise<boolean>((r) => (settleDone = r))
    const request = Http.request(
      { host: "127.0.0.1", port: endpoint.port, method: "POST", path: endpoint.path, headers: endpoint.headers, agent },
      (response) => {
        response.setEncoding("utf8")
        response.on("data", (chunk: string) => {
          body += chunk
          if (!opened && endpoint.hasText(body)) {
            opened = true
            resolve({ done, destroy: () => request.destroy() })
          }
        })
        response.on("end", () => {
          if (!opened) reject(new Error(`${endpoint.name}: stream ended before any text (HTTP ${response.statusCode}): ${body.slice(0, 300)}`))
          settleDone(endpoint.complete(body))
        })
        response.on("error", () => settleDone(false))
      }
    )
    request.on("error", (error) => {
      if (!opened) reject(error)
      settleDone(false)
    })
    request.end(endpoint.body)
  })
