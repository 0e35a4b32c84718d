/**
 * The Node HTTP server under the proxy, with the timeouts an exposed port needs and Anthropic-shaped answers to
 * the requests Node rejects before any handler runs.
 *
 * Three clocks, each for one phase of a connection:
 * - headers: `headersTimeout` bounds receiving a request's headers (a client dribbling bytes is answered 408).
 *   `requestTimeout` stays 0: it would bound headers *and* body, cutting a slow upload of a large body.
 * - body: a socket silent for `bodyIdleTimeout` while its request body is incomplete is closed. A slow upload
 *   that keeps moving is never cut; a stalled one is.
 * - response: nothing. Silence while the proxy waits for the upstream (minutes for a long non-streaming answer)
 *   or between stream events is the upstream timeouts' business, not the socket's.
 * Between requests, `keepAliveTimeout` closes idle connections.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as Duration from "effect/Duration"
import * as Http from "node:http"
import type * as Net from "node:net"
import type { Duplex } from "node:stream"
import type { ErrorBody, ErrorType } from "../protocol/anthropic.ts"

export interface NodeServerOptions {
  /** Longest time to receive a request's headers. */
  readonly headersTimeout?: Duration.Input | undefined
  /** Longest silence while a request body is being received. */
  readonly bodyIdleTimeout?: Duration.Input | undefined
  /** How long an idle connection stays open between requests. */
  readonly keepAliveTimeout?: Duration.Input | undefined
  /** Largest request head (request line and headers) in bytes; larger gets a 431. */
  readonly maxHeaderSize?: number | undefined
  /** Told about each request Node rejected itself (for logs); `status` is undefined when the socket just broke. */
  readonly onClientError?: ((event: { readonly code: string; readonly status: number | undefined }) => void) | undefined
}

/** 30 s: a real client sends its headers in one packet; only a stalled or hostile one needs longer. */
export const DEFAULT_HEADERS_TIMEOUT: Duration.Input = "30 seconds"
/** 60 s without a single body byte: generous for a bad mobile link, short enough to free the socket. */
export const DEFAULT_BODY_IDLE_TIMEOUT: Duration.Input = "60 seconds"
/** 65 s: longer than the 60 s idle timeout of common load balancers, so they, not we, close idle connections. */
export const DEFAULT_KEEP_ALIVE_TIMEOUT: Duration.Input = "65 seconds"
/** Node's default; Claude Code's requests carry about 1 KiB of headers. */
export const DEFAULT_MAX_HEADER_SIZE = 16 * 1024

/** After an error reply the client may keep sending; we wait this long for it to read the reply and hang up. */
const CLOSE_GRACE_MS = 2_000

const millis = (input: Duration.Input): number => Duration.toMillis(Duration.fromInputUnsafe(input))

export interface ClientErrorReply {
  readonly status: number
  readonly type: ErrorType
  readonly message: string
}

/** The answer to a request Node's parser or header clock rejected, or `undefined` when the socket itself broke. */
export const clientErrorReply = (
  error: { readonly code?: string | undefined; readonly reason?: string | undefined },
  limits: { readonly headersTimeoutMs: number; readonly maxHeaderSize: number }
): ClientErrorReply | undefined => {
  switch (error.code) {
    case "HPE_HEADER_OVERFLOW":
      return {
        status: 431,
        type: "request_too_large",
        message: `Request headers exceed the maximum allowed size of ${limits.maxHeaderSize} bytes`
      }
    case "HPE_CHUNK_EXTENSIONS_OVERFLOW":
      return { status: 413, type: "request_too_large", message: "Chunk extensions of the request body are too large" }
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return {
        status: 408,
        type: "invalid_request_error",
        message: `Request headers were not received within ${Math.round(limits.headersTimeoutMs / 1000)} seconds`
      }
  }
  if (!error.code?.startsWith("HPE_")) return undefined // ECONNRESET, EPIPE, …: nobody is listening
  // llhttp's reason ("Invalid method encountered") is ours, not the client's bytes; clipped all the same.
  const reason = (error.reason ?? "").replace(/[^\x20-\x7e]/g, "").slice(0, 200)
  return { status: 400, type: "invalid_request_error", message: `Malformed HTTP request${reason ? `: ${reason}` : ""}` }
}

/** A whole HTTP/1.1 response; the connection closes after it, as Node's own error replies do. */
export const encodeClientErrorReply = (reply: ClientErrorReply): Buffer => {
  const body = JSON.stringify(
    { type: "error", error: { type: reply.type, message: reply.message }, request_id: null } satisfies ErrorBody
  )
  return Buffer.from(
    `HTTP/1.1 ${reply.status} ${Http.STATUS_CODES[reply.status] ?? "Error"}\r\n` +
      "content-type: application/json\r\n" +
      `content-length: ${Buffer.byteLength(body)}\r\n` +
      "x-should-retry: false\r\n" +
      "connection: close\r\n" +
      `\r\n${body}`
  )
}

/** The response Node is writing on this socket. Node's own default `clientError` handling makes the same check. */
const currentResponse = (socket: Duplex | Net.Socket): Http.ServerResponse | undefined =>
  (socket as { _httpMessage?: Http.ServerResponse | null })._httpMessage ?? undefined

export const makeNodeServer = (options: NodeServerOptions = {}): Http.Server => {
  const headersTimeoutMs = millis(options.headersTimeout ?? DEFAULT_HEADERS_TIMEOUT)
  const maxHeaderSize = options.maxHeaderSize ?? DEFAULT_MAX_HEADER_SIZE
  const server = Http.createServer({
    requestTimeout: 0,
    headersTimeout: headersTimeoutMs,
    // Node checks the header clock on this interval (default 30 s, which would double a 30 s timeout).
    connectionsCheckingInterval: Math.min(5_000, Math.max(100, Math.floor(headersTimeoutMs / 4))),
    keepAliveTimeout: millis(options.keepAliveTimeout ?? DEFAULT_KEEP_ALIVE_TIMEOUT),
    maxHeaderSize
  })

  // Node arms `server.timeout` on every new connection and again on every request of a kept-alive one, and
  // reports keep-alive expiry here too. With a listener, closing is ours to decide.
  server.setTimeout(millis(options.bodyIdleTimeout ?? DEFAULT_BODY_IDLE_TIMEOUT), (socket: Net.Socket) => {
    const response = currentResponse(socket)
    const answering = response !== undefined && response.req.complete && !response.writableEnded
    // A response waiting this long for the client to read (`writableNeedDrain`) has a client that stopped
    // reading but kept its socket: closing it ends the stream, which gives back its permit and upstream socket.
    if (!answering || response.writableNeedDrain) socket.destroy()
  })

  const replied = new WeakSet<Duplex>()
  server.on("clientError", (error: NodeJS.ErrnoException & { reason?: string }, socket: Duplex) => {
    // Node reports every later parse failure on the same socket again; the first answer stands.
    if (replied.has(socket)) return
    replied.add(socket)
    const reply = clientErrorReply(error, { headersTimeoutMs, maxHeaderSize })
    options.onClientError?.({ code: error.code ?? "UNKNOWN", status: reply?.status })
    // A response already under way cannot be replaced without corrupting what the client has read.
    if (reply === undefined || !socket.writable || currentResponse(socket)?.headersSent) {
      socket.destroy()
      return
    }
    // End (not destroy) so the reply is not lost to a reset while the client is still sending; then give it a
    // moment to read and hang up.
    socket.end(encodeClientErrorReply(reply))
    const timer = setTimeout(() => socket.destroy(), CLOSE_GRACE_MS)
    timer.unref()
    socket.once("close", () => clearTimeout(timer))
  })

  return server
}

/** A Node HTTP server on HOST:PORT (PORT 0 picks a free port) with the edge's timeouts and error replies. */
export const layerNodeServer = (config: { readonly host: string; readonly port: number } & NodeServerOptions) =>
  NodeHttpServer.layer(() => makeNodeServer(config), { host: config.host, port: config.port })
