/**
 * A FAULTY OpenAI-compatible upstream on a loopback port, controlled at the socket level (`node:net`, not
 * `node:http`), so it can misbehave the ways real networks and vendors do: reset before the headers, reset or stall
 * mid-stream, malformed SSE, HTML where SSE belongs, error statuses with Retry-After, a stream that just ends,
 * one huge write, one byte per write.
 *
 * Every connection serves one request and is closed afterwards (`connection: close`), so a socket still open
 * after a case means the proxy kept an upstream request alive: `openSockets()` counts them. Every timer of ours is
 * cancelled when its socket closes, so our own timers never show up in a timer-leak check.
 *
 * `faultHarness(env)` starts one of these and the proxy (through `test/support/harness.ts`) in front of it.
 */
import { Context, Effect, Layer } from "effect"
import * as Net from "node:net"
import { Harness, harness } from "./harness.ts"

export interface UpstreamRequest {
  readonly method: string
  readonly path: string
  /** Lower-case names. */
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
  /** The body parsed as JSON, or undefined. */
  readonly json: any
}

export interface FaultContext {
  readonly request: UpstreamRequest
  readonly socket: Net.Socket
  /** Aborted when the socket closes (either side). */
  readonly signal: AbortSignal
  /** Writes raw bytes and waits until they are handed to the kernel; false once the socket is gone. */
  readonly write: (bytes: string | Uint8Array) => Promise<boolean>
  /**
   * Status line and headers (with `connection: close`). Framing: "chunked" (transfer-encoding), "close" (the body
   * ends when the connection does), or a content-length when `length` is given.
   */
  readonly head: (
    status: number,
    headers?: Record<string, string>,
    framing?: "chunked" | "close" | { readonly length: number }
  ) => Promise<boolean>
  /** Body bytes in the framing chosen by `head`. */
  readonly body: (bytes: string | Uint8Array) => Promise<boolean>
  /** Ends the body cleanly (terminating chunk when chunked) and closes the connection (FIN). */
  readonly end: () => Promise<void>
  /** Sends a TCP RST. */
  readonly reset: () => void
  /** Resolves after `ms`, or at once when the socket closes; its timer never outlives the socket. */
  readonly sleep: (ms: number) => Promise<void>
}

export type Fault = (context: FaultContext) => Promise<void> | void

export interface FaultyUpstream {
  /** Base URL to use as OPENAI_BASE_URL. */
  readonly url: string
  /** Requests received, in order (including ones whose fault reset them). */
  readonly requests: Array<UpstreamRequest>
  /** Answers for the next requests, in order; when none is queued, `fallback` answers (default: HTTP 500). */
  readonly enqueue: (...faults: Array<Fault>) => void
  /** Sockets accepted and not yet closed. */
  readonly openSockets: () => number
  /** Connections accepted since the last reset. */
  readonly connections: () => number
  /** Sockets that the client (the proxy) closed before our fault was done with them. */
  readonly closedByClient: () => number
  readonly reset: () => void
  /** Waits until no socket is open (or `timeoutMs` passed); returns how many are still open. */
  readonly drained: (timeoutMs?: number) => Promise<number>
  readonly close: () => Promise<void>
}

const REASONS: Record<number, string> = {
  200: "OK",
  400: "Bad Request",
  401: "Unauthorized",
  404: "Not Found",
  408: "Request Timeout",
  429: "Too Many Requests",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  529: "Site Overloaded"
}

const HEADER_END = Buffer.from("\r\n\r\n")

const parseHead = (text: string) => {
  const [requestLine = "", ...lines] = text.split("\r\n")
  const [method = "", path = ""] = requestLine.split(" ")
  const headers: Record<string, string> = {}
  for (const line of lines) {
    const colon = line.indexOf(":")
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
  }
  return { method, path, headers }
}

/** Reads one request (content-length or chunked body) off the socket; undefined if the socket closes first. */
const readRequest = (socket: Net.Socket): Promise<UpstreamRequest | undefined> =>
  new Promise((resolve) => {
    let buffer = Buffer.alloc(0)
    const done = (value: UpstreamRequest | undefined) => {
      socket.off("data", onData)
      socket.off("close", onClose)
      resolve(value)
    }
    const onClose = () => done(undefined)
    const onData = (data: Buffer) => {
      buffer = Buffer.concat([buffer, data])
      const end = buffer.indexOf(HEADER_END)
      if (end < 0) return
      const { method, path, headers } = parseHead(buffer.subarray(0, end).toString("latin1"))
      const rest = buffer.subarray(end + 4)
      let body: Buffer | undefined
      if (headers["transfer-encoding"]?.includes("chunked")) {
        body = dechunk(rest)
      } else {
        const length = Number(headers["content-length"] ?? 0)
        if (rest.length >= length) body = rest.subarray(0, length)
      }
      if (body === undefined) return
      const text = body.toString("utf8")
      let json: unknown
      try {
        json = JSON.parse(text)
      } catch {
        json = undefined
      }
      done({ method, path, headers, body: text, json })
    }
    socket.on("data", onData)
    socket.on("close", onClose)
  })

/** A complete chunked body, or undefined while its last chunk has not arrived. */
const dechunk = (bytes: Buffer): Buffer | undefined => {
  const parts: Array<Buffer> = []
  let at = 0
  for (;;) {
    const lineEnd = bytes.indexOf("\r\n", at)
    if (lineEnd < 0) return undefined
    const size = parseInt(bytes.subarray(at, lineEnd).toString("latin1"), 16)
    if (Number.isNaN(size)) return undefined
    if (size === 0) return Buffer.concat(parts)
    if (bytes.length < lineEnd + 2 + size + 2) return undefined
    parts.push(bytes.subarray(lineEnd + 2, lineEnd + 2 + size))
    at = lineEnd + 2 + size + 2
  }
}

const defaultFault: Fault = async (ctx) => {
  const text = JSON.stringify({ error: { message: "faulty upstream: no fault queued", type: "server_error" } })
  await ctx.head(500, { "content-type": "application/json" }, { length: Buffer.byteLength(text) })
  await ctx.body(text)
  await ctx.end()
}

export const startFaultyUpstream = async (): Promise<FaultyUpstream> => {
  const queue: Array<Fault> = []
  const requests: Array<UpstreamRequest> = []
  const sockets = new Set<Net.Socket>()
  let connections = 0
  let closedByClient = 0

  const serve = async (socket: Net.Socket) => {
    const controller = new AbortController()
    let finished = false
    socket.on("close", () => {
      if (!finished) closedByClient++
      controller.abort()
    })
    const request = await readRequest(socket)
    if (request === undefined) return
    requests.push(request)
    const fault = queue.shift() ?? defaultFault
    let chunked = false
    const write = (bytes: string | Uint8Array): Promise<boolean> =>
      new Promise((resolve) => {
        if (socket.destroyed || !socket.writable) return resolve(false)
        socket.write(bytes, (error) => resolve(error == null))
      })
    const context: FaultContext = {
      request,
      socket,
      signal: controller.signal,
      write,
      head: (status, headers = {}, framing = "chunked") => {
        chunked = framing === "chunked"
        const lines = [`HTTP/1.1 ${status} ${REASONS[status] ?? "Status"}`]
        for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`)
        lines.push("connection: close")
        if (framing === "chunked") lines.push("transfer-encoding: chunked")
        else if (framing !== "close") lines.push(`content-length: ${framing.length}`)
        return write(`${lines.join("\r\n")}\r\n\r\n`)
      },
      body: (bytes) => {
        if (!chunked) return write(bytes)
        const length = typeof bytes === "string" ? Buffer.byteLength(bytes) : bytes.byteLength
        if (length === 0) return Promise.resolve(true)
        return write(Buffer.concat([Buffer.from(`${length.toString(16)}\r\n`), Buffer.from(bytes), Buffer.from("\r\n")]))
      },
      end: async () => {
        if (chunked) await write("0\r\n\r\n")
        finished = true
        if (!socket.destroyed) socket.end()
      },
      reset: () => {
        finished = true
        if (!socket.destroyed) socket.resetAndDestroy()
      },
      sleep: (ms) =>
        new Promise<void>((resolve) => {
          if (controller.signal.aborted) return resolve()
          const timer = setTimeout(() => {
            controller.signal.removeEventListener("abort", onAbort)
            resolve()
          }, ms)
          const onAbort = () => {
            clearTimeout(timer)
            resolve()
          }
          controller.signal.addEventListener("abort", onAbort, { once: true })
        })
    }
    try {
      await fault(context)
    } finally {
      // A fault that returned without ending or resetting: close the connection, this upstream serves one request each.
      finished = true
      if (!socket.destroyed) socket.end()
    }
  }

  const server = Net.createServer((socket) => {
    connections++
    sockets.add(socket)
    socket.setNoDelay(true)
    socket.on("error", () => undefined) // EPIPE / ECONNRESET from a proxy that hung up
    socket.on("close", () => sockets.delete(socket))
    void serve(socket)
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as Net.AddressInfo

  const drained = async (timeoutMs = 2_000) => {
    const deadline = Date.now() + timeoutMs
    while (sockets.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10))
    return sockets.size
  }

  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    enqueue: (...faults) => queue.push(...faults),
    openSockets: () => sockets.size,
    connections: () => connections,
    closedByClient: () => closedByClient,
    reset: () => {
      queue.length = 0
      requests.length = 0
      connections = 0
      closedByClient = 0
    },
    drained,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      })
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Building blocks for faults
// ---------------------------------------------------------------------------------------------------------------

export const sseData = (value: unknown): string => `data: ${JSON.stringify(value)}\n\n`
export const textChunk = (content: string) => ({ choices: [{ index: 0, delta: { content }, finish_reason: null }] })
export const finishChunk = (reason = "stop") => ({ choices: [{ index: 0, delta: {}, finish_reason: reason }] })
export const usageChunk = { choices: [], usage: { prompt_tokens: 7, completion_tokens: 3 } }
export const completion = (content = "ok") => ({
  id: "chatcmpl-faulty",
  object: "chat.completion",
  choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }],
  usage: { prompt_tokens: 7, completion_tokens: 2 }
})
export const SSE_HEADERS = { "content-type": "text/event-stream" } as const

/** A valid answer to whatever was asked: SSE when the request streams, a JSON completion otherwise. */
export const answerOk = (text = "Hello from the faulty upstream"): Fault => async (ctx) => {
  if (ctx.request.json?.stream === true) {
    await ctx.head(200, SSE_HEADERS, "chunked")
    await ctx.body(sseData(textChunk(text)) + sseData(finishChunk()) + sseData(usageChunk) + "data: [DONE]\n\n")
  } else {
    const body = JSON.stringify(completion(text))
    await ctx.head(200, { "content-type": "application/json" }, { length: Buffer.byteLength(body) })
    await ctx.body(body)
  }
  await ctx.end()
}

/** An error status with a JSON error body in OpenAI's shape. */
export const answerStatus = (status: number, headers: Record<string, string> = {}, message = `upstream says ${status}`): Fault =>
async (ctx) => {
  const body = JSON.stringify({ error: { message, type: "upstream_error", code: null } })
  await ctx.head(status, { "content-type": "application/json", ...headers }, { length: Buffer.byteLength(body) })
  await ctx.body(body)
  await ctx.end()
}

// ---------------------------------------------------------------------------------------------------------------
// The proxy in front of a faulty upstream
// ---------------------------------------------------------------------------------------------------------------

export class Faulty extends Context.Service<Faulty, FaultyUpstream>()("test/FaultyUpstream") {}

/**
 * The harness's proxy with OPENAI_BASE_URL pointing at a fresh faulty upstream; both close with the layer.
 * (The harness still starts its own scripted upstream too; it gets no traffic.)
 *
 * The circuit breaker is set out of reach by default: each fault case is about one request, and a suite that
 * fails the upstream on purpose case after case would otherwise open the circuit and turn the next cases into
 * 529s. A case about the breaker passes its own CIRCUIT_BREAKER_FAILURE_THRESHOLD.
 */
export const faultHarness = (env: Record<string, string> = {}): Layer.Layer<Harness | Faulty> =>
  Layer.unwrap(
    Effect.gen(function*() {
      const upstream = yield* Effect.acquireRelease(Effect.promise(startFaultyUpstream), (u) => Effect.promise(u.close))
      return Layer.merge(
        Layer.succeed(Faulty, upstream),
        harness({ CIRCUIT_BREAKER_FAILURE_THRESHOLD: "1000000", ...env, OPENAI_BASE_URL: upstream.url })
      )
    })
  )
