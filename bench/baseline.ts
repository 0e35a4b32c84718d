/**
 * The baseline: the least a Node HTTP proxy can do. Every request is piped byte for byte to the upstream (same
 * method, path, headers and body) over a keep-alive `http.Agent`, and the answer is piped back unchanged. No
 * parsing, no conversion, no logging: the physical limit of any `node:http` proxy on this machine.
 *
 * Run as a child of the bench: `UPSTREAM_PORT=<port> node bench/baseline.ts`; reports its port over IPC and exits
 * when the parent goes away.
 */
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import type { FromChild } from "./ipc.ts"

const upstreamPort = Number(process.env.UPSTREAM_PORT)
if (!Number.isInteger(upstreamPort) || upstreamPort <= 0) throw new Error("UPSTREAM_PORT must be set")

const agent = new Http.Agent({ keepAlive: true, keepAliveMsecs: 30_000, scheduling: "lifo" })

/** Hop-by-hop headers are the only thing a proxy must not pass through. */
const HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer"])
const endToEnd = (headers: Http.IncomingHttpHeaders): Http.OutgoingHttpHeaders => {
  const out: Http.OutgoingHttpHeaders = {}
  for (const name in headers) if (!HOP.has(name)) out[name] = headers[name]
  return out
}

const server = Http.createServer({ keepAliveTimeout: 65_000, requestTimeout: 0 }, (req, res) => {
  const upstream = Http.request(
    { host: "127.0.0.1", port: upstreamPort, method: req.method, path: req.url, headers: endToEnd(req.headers), agent },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, endToEnd(answer.headers))
      // A byte pipe passes the status line and headers on as they come, not with the first body chunk.
      res.flushHeaders()
      answer.pipe(res)
    }
  )
  upstream.on("error", (error) => {
    if (!res.headersSent) {
      res.writeHead(502, { "content-type": "application/json" })
      res.end(JSON.stringify({ error: { message: `baseline: ${error.message}`, type: "upstream_error" } }))
    } else res.destroy()
  })
  // The client went away mid-answer: abort the upstream request too.
  res.on("close", () => {
    if (!res.writableFinished) upstream.destroy()
  })
  req.pipe(upstream)
})

process.on("disconnect", () => process.exit(0))
server.listen(0, "127.0.0.1", () => {
  const message: FromChild = { type: "ready", port: (server.address() as AddressInfo).port }
  process.send?.(message)
})
