/**
 * A scripted OpenAI-compatible upstream on a loopback port: it records every request and answers each from a
 * queue of cassettes, honouring recorded chunk timing and broken connections.
 */
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import type { Cassette } from "../../src/upstream/cassette.ts"

export interface RecordedRequest {
  readonly method: string
  readonly path: string
  readonly headers: Http.IncomingHttpHeaders
  readonly body: any
}

export type Script = Cassette | ((request: RecordedRequest) => Cassette)

export interface ScriptedUpstream {
  /** Base URL to use as OPENAI_BASE_URL. */
  readonly url: string
  readonly requests: Array<RecordedRequest>
  /** Answers for the next requests, in order. */
  readonly enqueue: (...scripts: Array<Script>) => void
  /** Closed connections seen while a response was still being written (client went away). */
  readonly aborted: () => number
  readonly reset: () => void
  readonly close: () => Promise<void>
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export const jsonCassette = (body: unknown, status = 200, headers: Record<string, string> = {}): Cassette => ({
  name: "json",
  response: {
    status,
    headers: { "content-type": "application/json", ...headers },
    chunks: [{ text: JSON.stringify(body) }]
  }
})

/** A whole Chat Completions answer with `content` and its usage, as a JSON cassette. */
export const completionCassette = (content: string, usage = { prompt_tokens: 5, completion_tokens: 2 }): Cassette =>
  jsonCassette({
    id: "chatcmpl-scripted",
    object: "chat.completion",
    choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }],
    usage
  })

export const startScriptedUpstream = async (): Promise<ScriptedUpstream> => {
  const queue: Array<Script> = []
  const requests: Array<RecordedRequest> = []
  let aborted = 0

  const server = Http.createServer(async (req, res) => {
    const parts: Array<Buffer> = []
    for await (const part of req) parts.push(part as Buffer)
    const text = Buffer.concat(parts).toString("utf8")
    let body: unknown = text
    try {
      body = JSON.parse(text)
    } catch {
      // keep raw text
    }
    const recorded: RecordedRequest = { method: req.method ?? "", path: req.url ?? "", headers: req.headers, body }
    requests.push(recorded)
    const script = queue.shift()
    if (!script) {
      res.writeHead(500, { "content-type": "application/json" })
      res.end(JSON.stringify({ error: { message: "scripted upstream: no response queued", type: "server_error" } }))
      return
    }
    const cassette = typeof script === "function" ? script(recorded) : script
    let closed = false
    res.on("close", () => {
      if (!res.writableFinished) {
        closed = true
        aborted++
      }
    })
    res.writeHead(cassette.response.status, cassette.response.headers ?? {})
    res.flushHeaders()
    for (const chunk of cassette.response.chunks) {
      if (chunk.delayMs) await sleep(chunk.delayMs)
      if (closed) return
      res.write(chunk.text)
    }
    if (cassette.response.abort) {
      res.socket?.destroy()
      return
    }
    res.end()
  })

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    enqueue: (...scripts) => queue.push(...scripts),
    aborted: () => aborted,
    reset: () => {
      queue.length = 0
      requests.length = 0
      aborted = 0
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}
