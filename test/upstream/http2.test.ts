/**
 * The live upstream client negotiates HTTP/2 over TLS (ALPN) with a local server using a self-signed certificate
 * made for this test, trusted through SSL_CERT_FILE.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Stream } from "effect"
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Http2 from "node:http2"
import type { AddressInfo } from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { parseConfig, ProxyConfig } from "../../src/config.ts"
import { SILENCE } from "../../src/protocol/openai.ts"
import { Upstream } from "../../src/upstream/Upstream.ts"

const makeCertificate = () => {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "ccproxy-h2-"))
  const key = Path.join(dir, "key.pem")
  const cert = Path.join(dir, "cert.pem")
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1",
    "-addext", "subjectAltName=IP:127.0.0.1"
  ], { stdio: "ignore" })
  return { dir, key, cert }
}

interface Seen {
  version: string
  path: string
  authorization: string | undefined
  body: any
}

const startH2Server = (files: { key: string; cert: string }, seen: Array<Seen>) =>
  Effect.acquireRelease(
    Effect.promise(() => {
      const server = Http2.createSecureServer({
        key: Fs.readFileSync(files.key),
        cert: Fs.readFileSync(files.cert),
        allowHTTP1: true
      })
      server.on("request", async (req, res) => {
        let text = ""
        for await (const part of req) text += String(part)
        const body = JSON.parse(text)
        seen.push({ version: req.httpVersion, path: req.url, authorization: req.headers.authorization, body })
        if (body.stream) {
          res.writeHead(200, { "content-type": "text/event-stream" })
          res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: "over h2" }, finish_reason: null }] })}\n\n`)
          res.end("data: [DONE]\n\n")
        } else {
          res.writeHead(200, { "content-type": "application/json" })
          res.end(JSON.stringify({ id: "x", choices: [{ index: 0, message: { role: "assistant", content: "hi" }, finish_reason: "stop" }] }))
        }
      })
      return new Promise<Http2.Http2SecureServer>((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)))
    }),
    (server) => Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve())))
  )

describe("Upstream.layerLive", () => {
  it.live("negotiates HTTP/2 with a TLS upstream and sends the bearer key", () =>
    Effect.gen(function*() {
      const files = makeCertificate()
      const seen: Array<Seen> = []
      const server = yield* startH2Server(files, seen)
      const { port } = server.address() as AddressInfo
      const config = parseConfig({
        OPENAI_API_KEY: "sk-h2-test",
        OPENAI_BASE_URL: `https://127.0.0.1:${port}/v1`,
        SSL_CERT_FILE: files.cert
      })
      const upstream = Layer.provide(Upstream.layerLive, ProxyConfig.make(config))

      const completion = yield* Effect.flatMap(Upstream, (u) =>
        u.provider("generic").complete({ model: "m", messages: [{ role: "user", content: "hi" }] })
      ).pipe(Effect.provide(upstream))
      expect(completion.choices?.[0]?.message?.content).toBe("hi")

      const chunks = yield* Effect.flatMap(Upstream, (u) =>
        Effect.flatMap(u.provider("generic").stream({ model: "m", stream: true, messages: [{ role: "user", content: "hi" }] }), Stream.runCollect)
      ).pipe(Effect.provide(upstream))
      expect(chunks.map((c) => (c === SILENCE ? "silence" : c.choices?.[0]?.delta?.content))).toEqual(["over h2"])

      expect(seen.map((s) => s.version)).toEqual(["2.0", "2.0"])
      expect(seen[0]?.path).toBe("/v1/chat/completions")
      expect(seen[0]?.authorization).toBe("Bearer sk-h2-test")
      Fs.rmSync(files.dir, { recursive: true, force: true })
    }))
})
