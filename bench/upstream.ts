/**
 * The scripted OpenAI upstream, run as a child process of the bench (so its CPU never mixes with the load
 * generator's or the proxy's, and /proc can account for it separately).
 *
 * Every `POST …/chat/completions` is read to the end, then answered with the same SSE stream, shaped like the
 * real API's: a role chunk, 20 small content pieces (3–6 characters), a tool call whose id/name arrive first and
 * whose arguments follow in 10 fragments, a finish chunk, a usage chunk with `choices: []`, and `data: [DONE]`.
 * Each chunk is a separate write with an event-loop turn in between (the real API writes tokens as they come).
 *
 * The parent steers it over IPC (see ipc.ts): per-chunk delay, holding streams silent (idle-stream memory),
 * capturing the body of the last request, a rate limit of its own (429 + Retry-After beyond N requests per second).
 * It counts the requests in flight (arrival to the end of the response) and keeps their peak, so the bench can check
 * the proxy's concurrency limit from the outside, and a per-second timeline of requests and 429s. It exits when the
 * parent goes away.
 */
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { NORMAL_MODE, type FromChild, type ToChild, type UpstreamMode } from "./ipc.ts"

const send = (message: FromChild) => process.send?.(message)

const MODEL = "gpt-5-2025-08-07"
const HEAD = { id: "chatcmpl-bench0123456789", object: "chat.completion.chunk", created: 1767225600, model: MODEL, system_fingerprint: "fp_bench" }

const sse = (fields: object) => `data: ${JSON.stringify({ ...HEAD, ...fields })}\n\n`
const choice = (delta: object, finish: string | null = null) => ({
  choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }]
})

/** 20 pieces of 3–6 characters. */
const TEXT = "I'll run the failing test first, then read the module it covers."
const PIECE_LENGTHS = [4, 3, 6, 5, 3, 4, 6, 3, 5, 4, 3, 6, 3, 4, 5, 3, 4, 3, 3, 3]
const pieces: Array<string> = []
{
  let at = 0
  for (const length of PIECE_LENGTHS) {
    pieces.push(TEXT.slice(at, at + length))
    at += length
  }
}

const ARGUMENTS = JSON.stringify({
  command: "npm test -- --run test/convert/stream.test.ts",
  description: "Run the stream conversion tests"
})
const argumentFragments: Array<string> = []
{
  const size = Math.ceil(ARGUMENTS.length / 10)
  for (let at = 0; at < ARGUMENTS.length; at += size) argumentFragments.push(ARGUMENTS.slice(at, at + size))
}

/** Everything but the usage chunk, which depends on the request size. */
const BEFORE_USAGE: ReadonlyArray<string> = [
  sse(choice({ role: "assistant", content: "", refusal: null })),
  ...pieces.map((piece) => sse(choice({ content: piece }))),
  sse(choice({ tool_calls: [{ index: 0, id: "call_bench00000000000000001", type: "function", function: { name: "Bash", arguments: "" } }] })),
  ...argumentFragments.map((fragment) => sse(choice({ tool_calls: [{ index: 0, function: { arguments: fragment } }] }))),
  sse(choice({}, "tool_calls"))
]
const COMPLETION_TOKENS = 58

const usageChunk = (requestBytes: number) => {
  const prompt = Math.round(requestBytes / 4)
  return sse({
    choices: [],
    usage: {
      prompt_tokens: prompt,
      completion_tokens: COMPLETION_TOKENS,
      total_tokens: prompt + COMPLETION_TOKENS,
      prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 }
    }
  })
}

let mode: UpstreamMode = NORMAL_MODE
let requests = 0
let active = 0
let aborted = 0
let inFlight = 0
let maxInFlight = 0
let rateLimited = 0
/** Since the last reset: per second, [requests that arrived, answered 429]. */
let timelineStart = performance.now()
let timeline: Array<[number, number]> = []
/** The upstream's own rate limit: requests admitted in the current wall-clock second. */
let windowSecond = -1
let windowCount = 0
let captured: { body: string; path: string } | null = null
/** Resume functions of held streams. */
const held = new Set<() => void>()

const turn = () => new Promise<void>((resolve) => setImmediate(resolve))
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

const answer = async (res: Http.ServerResponse, bytes: number, current: UpstreamMode) => {
  requests++
  active++
  let closed = false
  res.on("close", () => {
    active--
    if (!res.writableFinished) {
      closed = true
      aborted++
    }
  })
  res.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    "x-request-id": `req_bench${requests}`,
    "openai-processing-ms": "42"
  })
  res.flushHeaders()
  const chunks = [...BEFORE_USAGE, usageChunk(bytes), "data: [DONE]\n\n"]
  for (let i = 0; i < chunks.length; i++) {
    if (current.holdAfter > 0 && i === current.holdAfter) {
      await new Promise<void>((resolve) => {
        const resume = () => {
          held.delete(resume)
          resolve()
        }
        held.add(resume)
        res.once("close", resume)
      })
    }
    if (i < current.delayChunks && current.delayMs > 0) await sleep(current.delayMs)
    else if (i > 0) await turn()
    if (closed) return
    res.write(chunks[i]!)
  }
  res.end()
}

const slot = () => {
  const second = Math.floor((performance.now() - timelineStart) / 1000)
  while (timeline.length <= second) timeline.push([0, 0])
  return timeline[second]!
}

/** Whether this request is over the upstream's own per-second limit (counted when its body has arrived). */
const overLimit = (current: UpstreamMode) => {
  if (current.limitPerSecond <= 0) return false
  const second = Math.floor(Date.now() / 1000)
  if (second !== windowSecond) {
    windowSecond = second
    windowCount = 0
  }
  return ++windowCount > current.limitPerSecond
}

const RATE_LIMIT_BODY = JSON.stringify({
  error: {
    message: "Rate limit reached for gpt-5 in organization org-bench on requests per min (RPM): Limit 300, Used 300, Requested 1.",
    type: "requests",
    param: null,
    code: "rate_limit_exceeded"
  }
})

const server = Http.createServer({ keepAliveTimeout: 65_000, requestTimeout: 0 }, (req, res) => {
  const current = mode
  inFlight++
  if (inFlight > maxInFlight) maxInFlight = inFlight
  slot()[0]++
  res.once("close", () => inFlight--)
  const parts: Array<Buffer> = []
  let bytes = 0
  req.on("data", (part: Buffer) => {
    bytes += part.length
    if (current.capture) parts.push(part)
  })
  req.on("end", () => {
    if (req.method !== "POST" || !(req.url ?? "").split("?")[0]!.endsWith("/chat/completions")) {
      res.writeHead(404, { "content-type": "application/json" })
      res.end(JSON.stringify({ error: { message: `bench upstream: no route ${req.method} ${req.url}`, type: "invalid_request_error" } }))
      return
    }
    if (current.capture) captured = { body: Buffer.concat(parts).toString("utf8"), path: req.url ?? "" }
    if (overLimit(current)) {
      rateLimited++
      slot()[1]++
      res.writeHead(429, {
        "content-type": "application/json",
        "retry-after": String(current.retryAfterSeconds),
        "x-ratelimit-limit-requests": "300",
        "x-ratelimit-remaining-requests": "0"
      })
      res.end(RATE_LIMIT_BODY)
      return
    }
    void answer(res, bytes, current)
  })
})

process.on("message", (raw) => {
  const message = raw as ToChild
  switch (message.type) {
    case "mode":
      mode = message.mode
      if (!mode.capture) captured = null
      send({ type: "ok", id: message.id })
      break
    case "captured":
      send({ type: "captured", id: message.id, body: captured?.body ?? null, path: captured?.path ?? null })
      break
    case "release":
      for (const resume of [...held]) resume()
      send({ type: "ok", id: message.id })
      break
    case "stats":
      send({
        type: "stats",
        id: message.id,
        stats: {
          requests,
          active,
          held: held.size,
          aborted,
          inFlight,
          maxInFlight,
          rateLimited,
          timeline: timeline.map(([arrived, limited], second) => [second, arrived, limited] as const)
        }
      })
      break
    case "reset":
      maxInFlight = inFlight
      timelineStart = performance.now()
      timeline = []
      send({ type: "ok", id: message.id })
      break
  }
})
// The parent went away (even killed): go too.
process.on("disconnect", () => process.exit(0))

server.listen(0, "127.0.0.1", () => send({ type: "ready", port: (server.address() as AddressInfo).port }))
