/**
 * `Upstream.layerLive` over plain HTTP/1.1 to a local server: a retried attempt sends the very same bytes with a
 * content-length that counts bytes, not characters.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Stream } from "effect"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { parseConfig, ProxyConfig } from "../../src/config.ts"
import { SILENCE } from "../../src/protocol/openai.ts"
import { Upstream } from "../../src/upstream/Upstream.ts"

interface Received {
  readonly contentLength: string | undefined
  readonly body: Buffer
}

const startServer = (received: Array<Received>) =>
  Effect.acquireRelease(
    Effect.promise(() =>
      new Promise<Http.Server>((resolve) => {
        const server = Http.createServer((req, res) => {
          const parts: Array<Buffer> = []
          req.on("data", (part: Buffer) => parts.push(part))
          req.on("end", () => {
            received.push({ contentLength: req.headers["content-length"], body: Buffer.concat(parts) })
            if (received.length === 1) {
              res.writeHead(503, { "content-type": "application/json" })
              res.end(JSON.stringify({ error: { message: "busy", type: "server_error" } }))
              return
            }
            res.writeHead(200, { "content-type": "text/event-stream" })
            res.end(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: "ok" } }] })}\n\ndata: [DONE]\n\n`)
          })
        })
        server.listen(0, "127.0.0.1", () => resolve(server))
      })
    ),
    (server) => Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve())))
  )

describe("Upstream.layerLive over HTTP/1.1", () => {
  it.live("a retry re-sends the same bytes, and content-length counts bytes", () =>
    Effect.gen(function*() {
      const received: Array<Received> = []
      const server = yield* startServer(received)
      const config = parseConfig({
        OPENAI_API_KEY: "sk-live-test",
        OPENAI_BASE_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
        UPSTREAM_MAX_RETRIES: "1"
      })
      const text = `héllo — 🤖 ${"long text that goes through the literal cache ".repeat(40)}`
      const chunks = yield* Effect.flatMap(Upstream, (upstream) =>
        Effect.flatMap(
          upstream.provider("generic").stream({ model: "m", stream: true, messages: [{ role: "user", content: text }] }),
          Stream.runCollect
        )
      ).pipe(Effect.provide(Layer.provide(Upstream.layerLive, ProxyConfig.make(config))))

      expect(chunks.map((c) => (c === SILENCE ? "silence" : c.choices?.[0]?.delta?.content))).toEqual(["ok"])
      expect(received).toHaveLength(2)
      const [first, second] = received
      expect(second!.body.equals(first!.body)).toBe(true)
      expect(Number(first!.contentLength)).toBe(first!.body.byteLength)
      expect(JSON.parse(first!.body.toString("utf8")).messages[0].content).toBe(text)
    }).pipe(Effect.scoped))
})
