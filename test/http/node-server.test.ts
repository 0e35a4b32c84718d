/**
 * The edge once exposed, tried with raw sockets: header dribblers and stalled bodies are closed, Node's own
 * rejections carry Anthropic error bodies, and long quiet responses and slow uploads are left alone.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as HttpServer from "effect/http/HttpServer"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import type * as Http from "node:http"
import * as Net from "node:net"
import { setTimeout as sleep } from "node:timers/promises"
import { clientErrorReply, layerNodeServer, makeNodeServer, type NodeServerOptions } from "../../src/http/node-server.ts"

interface Served {
  readonly port: number
  readonly clientErrors: Array<{ code: string; status: number | undefined }>
  readonly close: () => Promise<void>
}

const serve = async (options: NodeServerOptions, handler: Http.RequestListener): Promise<Served> => {
  const clientErrors: Served["clientErrors"] = []
  const server = makeNodeServer({ ...options, onClientError: (event) => clientErrors.push(event) })
  server.on("request", handler)
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  return {
    port: (server.address() as Net.AddressInfo).port,
    clientErrors,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}

const withServer = async (
  options: NodeServerOptions,
  handler: Http.RequestListener,
  test: (served: Served) => Promise<void>
) => {
  const served = await serve(options, handler)
  try {
    await test(served)
  } finally {
    await served.close()
  }
}

interface Exchange {
  /** Everything the server sent. */
  readonly text: string
  /** Milliseconds from connecting until the server closed the connection. */
  readonly closedAfter: number
}

/** Connects, runs `script`, and collects what comes back until the server closes (or `giveUpMs` passes). */
const exchange = (port: number, script: (socket: Net.Socket) => void, giveUpMs = 10_000): Promise<Exchange> =>
  new Promise((resolve) => {
    const started = performance.now()
    const chunks: Array<Buffer> = []
    const socket = Net.connect(port, "127.0.0.1")
    const giveUp = setTimeout(() => socket.destroy(), giveUpMs)
    socket.on("data", (chunk) => chunks.push(chunk))
    socket.on("error", () => {}) // writing after the server closed: expected in these tests
    socket.on("connect", () => script(socket))
    socket.on("close", () => {
      clearTimeout(giveUp)
      resolve({ text: Buffer.concat(chunks).toString("latin1"), closedAfter: performance.now() - started })
    })
  })

/** Writes `bytes` one at a time, `everyMs` apart, for as long as the socket is open. */
const dribble = (socket: Net.Socket, bytes: string, everyMs: number) => {
  let i = 0
  const timer = setInterval(() => {
    if (socket.destroyed || !socket.writable) return clearInterval(timer)
    socket.write(bytes[i++ % bytes.length]!)
  }, everyMs)
  socket.once("close", () => clearInterval(timer))
}

const parseResponse = (text: string) => {
  const split = text.indexOf("\r\n\r\n")
  const [statusLine, ...headerLines] = text.slice(0, split).split("\r\n")
  const headers = Object.fromEntries(headerLines.map((line) => {
    const colon = line.indexOf(":")
    return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()]
  }))
  return { status: Number(statusLine!.split(" ")[1]), headers, body: text.slice(split + 4) }
}

const expectAnthropicError = (text: string, status: number, type: string) => {
  const response = parseResponse(text)
  expect(response.status).toBe(status)
  expect(response.headers).toMatchObject({
    "content-type": "application/json",
    "x-should-retry": "false",
    connection: "close",
    "content-length": String(Buffer.byteLength(response.body))
  })
  const body = JSON.parse(response.body)
  expect(body).toMatchObject({ type: "error", error: { type }, request_id: null })
  expect(body.error.message).toEqual(expect.any(String))
  return body.error.message as string
}

const ok: Http.RequestListener = (_req, res) => {
  res.writeHead(200, { "content-type": "text/plain" })
  res.end("ok")
}

describe.concurrent("makeNodeServer", () => {
  it("a client dribbling its headers a byte at a time is answered 408 and closed", async () => {
    await withServer({ headersTimeout: "1 second" }, ok, async ({ port, clientErrors }) => {
      const result = await exchange(port, (socket) => {
        socket.write("GET / HTTP/1.1\r\nHost: x\r\n")
        dribble(socket, "x-slow: aaaaaaaaaaaaaaaaaaaa\r\n", 50)
      })
      // Checked every 250 ms (a quarter of the timeout).
      expect(result.closedAfter).toBeGreaterThanOrEqual(900)
      expect(result.closedAfter).toBeLessThan(2_500)
      expect(expectAnthropicError(result.text, 408, "invalid_request_error")).toContain("1 seconds")
      expect(clientErrors).toEqual([{ code: "ERR_HTTP_REQUEST_TIMEOUT", status: 408 }])
    })
  })

  it("a connection that sends nothing is closed after the headers timeout", async () => {
    await withServer({ headersTimeout: "1 second" }, ok, async ({ port }) => {
      const result = await exchange(port, () => {})
      expect(result.closedAfter).toBeLessThan(2_500)
      expectAnthropicError(result.text, 408, "invalid_request_error")
    })
  })

  it("oversized headers → 431 with an Anthropic body", async () => {
    await withServer({}, ok, async ({ port, clientErrors }) => {
      const result = await exchange(port, (socket) => {
        socket.write(`GET / HTTP/1.1\r\nHost: x\r\nx-big: ${"a".repeat(32 * 1024)}\r\n\r\n`)
      })
      expect(expectAnthropicError(result.text, 431, "request_too_large")).toContain("16384 bytes")
      expect(clientErrors[0]).toEqual({ code: "HPE_HEADER_OVERFLOW", status: 431 })
    })
  })

  it("a malformed request line → 400 with an Anthropic body", async () => {
    await withServer({}, ok, async ({ port }) => {
      const result = await exchange(port, (socket) => socket.write("HELLO WORLD\r\n\r\n"))
      expect(expectAnthropicError(result.text, 400, "invalid_request_error")).toMatch(/^Malformed HTTP request/)
    })
  })

  it("garbage after a good request on a kept-alive connection: the good answer, then a 400, then close", async () => {
    await withServer({}, ok, async ({ port }) => {
      const result = await exchange(port, (socket) => {
        socket.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        setTimeout(() => socket.write("\x00\x01\x02 nonsense\r\n\r\n"), 100)
      })
      expect(result.text.startsWith("HTTP/1.1 200 OK")).toBe(true)
      expectAnthropicError(result.text.slice(result.text.indexOf("HTTP/1.1 400")), 400, "invalid_request_error")
    })
  })

  it("a long response with quiet spells longer than every timeout is not cut", async () => {
    const handler: Http.RequestListener = async (_req, res) => {
      await sleep(1_300) // the upstream thinking before its first byte
      res.writeHead(200, { "content-type": "text/event-stream" })
      for (let i = 0; i < 10; i++) {
        res.write(`data: ${i}\n\n`)
        await sleep(i === 4 ? 1_300 : 100) // and once more in the middle
      }
      res.end()
    }
    await withServer(
      { headersTimeout: "1 second", bodyIdleTimeout: "1 second", keepAliveTimeout: "1 second" },
      handler,
      async ({ port }) => {
        const started = performance.now()
        const response = await fetch(`http://127.0.0.1:${port}/`)
        const body = await response.text()
        expect(performance.now() - started).toBeGreaterThan(3_000)
        expect(body).toBe(Array.from({ length: 10 }, (_, i) => `data: ${i}\n\n`).join(""))
      }
    )
  })

  it("a slow upload that keeps moving is not cut", async () => {
    const handler: Http.RequestListener = async (req, res) => {
      let size = 0
      for await (const chunk of req) size += (chunk as Buffer).length
      res.end(String(size))
    }
    await withServer({ headersTimeout: "1 second", bodyIdleTimeout: "1 second" }, handler, async ({ port }) => {
      const result = await exchange(port, async (socket) => {
        socket.write("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\n")
        for (let i = 0; i < 12; i++) {
          await sleep(300)
          socket.write("x")
        }
        setTimeout(() => socket.end(), 200)
      })
      const response = parseResponse(result.text)
      expect(response.status).toBe(200)
      expect(response.body).toBe("12")
    })
  })

  it("a client that stops reading a response (but keeps its socket) is closed, so the stream ends", async () => {
    let ended: "finished" | "closed" | undefined
    const handler: Http.RequestListener = async (_req, res) => {
      res.on("close", () => (ended ??= res.writableFinished ? "finished" : "closed"))
      res.writeHead(200, { "content-type": "text/event-stream" })
      const chunk = Buffer.alloc(64 * 1024, "x")
      // Writes until the socket pushes back, then waits for a drain that never comes.
      for (let i = 0; i < 10_000 && !res.destroyed; i++) {
        if (!res.write(chunk)) await new Promise((resolve) => res.once("drain", resolve).once("close", resolve))
      }
      res.end()
    }
    await withServer({ headersTimeout: "1 second", bodyIdleTimeout: "1 second" }, handler, async ({ port }) => {
      const socket = Net.connect(port, "127.0.0.1")
      socket.pause() // never read
      socket.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
      socket.on("error", () => undefined)
      // The server side is what matters: its response is closed (so a proxied stream would end), not left waiting.
      const until = Date.now() + 8_000
      while (ended === undefined && Date.now() < until) await sleep(50)
      socket.destroy()
      expect(ended).toBe("closed")
    })
  })

  it("a body that stalls is closed after the body idle timeout", async () => {
    let sawEnd = false
    const handler: Http.RequestListener = async (req, res) => {
      try {
        for await (const _ of req) {
          // reading
        }
        sawEnd = true
        res.end()
      } catch {
        // the server closed the stalled connection
      }
    }
    await withServer({ headersTimeout: "1 second", bodyIdleTimeout: "1 second" }, handler, async ({ port }) => {
      const result = await exchange(port, (socket) => {
        socket.write("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
      })
      expect(result.closedAfter).toBeGreaterThanOrEqual(900)
      expect(result.closedAfter).toBeLessThan(2_500)
      expect(result.text).toBe("")
      expect(sawEnd).toBe(false)
    })
  })

  it("a kept-alive connection idle longer than the headers timeout still serves its next request", async () => {
    await withServer({ headersTimeout: "500 millis", keepAliveTimeout: "5 seconds" }, ok, async ({ port }) => {
      const result = await exchange(port, async (socket) => {
        socket.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await sleep(1_500)
        socket.end("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
      })
      expect(result.text.match(/HTTP\/1\.1 200 OK/g)).toHaveLength(2)
    })
  })

  it("an idle kept-alive connection is closed after the keep-alive timeout", async () => {
    await withServer({ keepAliveTimeout: "200 millis" }, ok, async ({ port }) => {
      const result = await exchange(port, (socket) => socket.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
      expect(parseResponse(result.text).status).toBe(200)
      // Node adds a 1 s buffer to the advertised keep-alive timeout.
      expect(result.closedAfter).toBeLessThan(2_500)
    })
  })
})

describe("clientErrorReply", () => {
  const limits = { headersTimeoutMs: 30_000, maxHeaderSize: 16_384 }
  it("maps Node's rejections and leaves broken sockets alone", () => {
    expect(clientErrorReply({ code: "HPE_HEADER_OVERFLOW" }, limits)?.status).toBe(431)
    expect(clientErrorReply({ code: "HPE_CHUNK_EXTENSIONS_OVERFLOW" }, limits)?.status).toBe(413)
    expect(clientErrorReply({ code: "ERR_HTTP_REQUEST_TIMEOUT" }, limits)?.message).toContain("30 seconds")
    expect(clientErrorReply({ code: "HPE_INVALID_METHOD", reason: "Invalid method encountered" }, limits)).toEqual({
      status: 400,
      type: "invalid_request_error",
      message: "Malformed HTTP request: Invalid method encountered"
    })
    expect(clientErrorReply({ code: "ECONNRESET" }, limits)).toBeUndefined()
    expect(clientErrorReply({ code: "EPIPE" }, limits)).toBeUndefined()
    expect(clientErrorReply({}, limits)).toBeUndefined()
  })
})

describe("layerNodeServer", () => {
  it.live("serves an Effect app, with Anthropic-shaped answers to what Node rejects", () =>
    Effect.gen(function*() {
      const context = yield* Layer.build(
        HttpServer.serve(Effect.succeed(HttpServerResponse.text("hello"))).pipe(
          Layer.provideMerge(layerNodeServer({ host: "127.0.0.1", port: 0, headersTimeout: "1 second" }))
        )
      )
      const address = (yield* Effect.provide(HttpServer.HttpServer, context)).address
      const port = address._tag === "UnixPathAddress" ? 0 : address.port
      const good = yield* Effect.promise(() => fetch(`http://127.0.0.1:${port}/`).then((r) => r.text()))
      expect(good).toBe("hello")
      const bad = yield* Effect.promise(() => exchange(port, (socket) => socket.write("HELLO WORLD\r\n\r\n")))
      expectAnthropicError(bad.text, 400, "invalid_request_error")
      const slow = yield* Effect.promise(() =>
        exchange(port, (socket) => {
          socket.write("GET / HTTP/1.1\r\n")
          dribble(socket, "x-slow: aaaa\r\n", 50)
        })
      )
      expectAnthropicError(slow.text, 408, "invalid_request_error")
    }))
})
