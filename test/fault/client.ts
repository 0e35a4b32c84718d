/**
 * A client for the fault suite, on `node:http` with a fresh connection per request (`agent: false`), so nothing of
 * the client lingers between cases, and with every way of hanging up a test needs. Every call is bounded: a reply
 * that does not end within `timeoutMs` fails the test as a hang instead of stalling the suite.
 */
import { expect } from "@effect/vitest"
import { Effect } from "effect"
import * as Http from "node:http"

export interface SseEvent {
  readonly event: string | undefined
  readonly data: any
}

export interface Reply {
  readonly status: number
  readonly headers: Http.IncomingHttpHeaders
  readonly text: string
  readonly elapsedMs: number
  /** We hung up on purpose before the end. */
  readonly hungUp: boolean
}

export type HangUp =
  /** Once the proxy has the request (`when` says when that is), before any response header. */
  | { readonly at: "before-headers"; readonly when: () => boolean }
  /** Right after the first SSE event arrived. */
  | { readonly at: "after-first-event" }
  /** After this many `content_block_delta` events. */
  | { readonly at: "mid-stream"; readonly afterDeltas: number }
  /** After this long, whatever has happened by then. */
  | { readonly at: "after-ms"; readonly ms: number }

export interface PostOptions {
  readonly timeoutMs?: number
  readonly hangUp?: HangUp
  readonly path?: string
}

export const MINIMAL = { model: "claude-sonnet-4-6", max_tokens: 50, messages: [{ role: "user", content: "hi" }] }
export const streamBody = (extra: Record<string, unknown> = {}) => JSON.stringify({ ...MINIMAL, stream: true, ...extra })
export const jsonBody = (extra: Record<string, unknown> = {}) => JSON.stringify({ ...MINIMAL, ...extra })

const countDeltas = (text: string) => text.split("event: content_block_delta\n").length - 1

export const post = (baseUrl: string, body: string, options: PostOptions = {}): Promise<Reply> =>
  new Promise((resolve, reject) => {
    const started = Date.now()
    const timeoutMs = options.timeoutMs ?? 10_000
    const url = new URL(options.path ?? "/v1/messages", baseUrl)
    const hangUp = options.hangUp
    let settled = false
    let poll: ReturnType<typeof setInterval> | undefined
    let status = 0
    let headers: Http.IncomingHttpHeaders = {}
    let text = ""
    const finish = (hungUp: boolean, error?: Error) => {
      if (settled) return
      settled = true
      clearTimeout(deadline)
      clearInterval(poll)
      if (error) reject(error)
      else resolve({ status, headers, text, elapsedMs: Date.now() - started, hungUp })
    }
    const request = Http.request(url, {
      method: "POST",
      agent: false,
      headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) }
    })
    const hangUpNow = () => {
      request.destroy()
      finish(true)
    }
    const deadline = setTimeout(() => {
      request.destroy()
      finish(false, new Error(`no end of the reply within ${timeoutMs} ms (status ${status}, ${text.length} chars so far): a hang`))
    }, timeoutMs)
    request.on("error", (error) => finish(false, error))
    request.on("response", (response) => {
      status = response.statusCode ?? 0
      headers = response.headers
      response.setEncoding("utf8")
      response.on("data", (piece: string) => {
        text += piece
        if (hangUp?.at === "after-first-event" && text.includes("\n\n")) hangUpNow()
        else if (hangUp?.at === "mid-stream" && countDeltas(text) >= hangUp.afterDeltas) hangUpNow()
      })
      response.on("end", () => finish(false))
      response.on("error", (error) => finish(false, error))
      response.on("aborted", () => finish(false, new Error("the proxy aborted the response")))
    })
    request.end(body)
    if (hangUp?.at === "before-headers") {
      poll = setInterval(() => {
        if (status === 0 && hangUp.when()) hangUpNow()
      }, 5)
    } else if (hangUp?.at === "after-ms") {
      poll = setInterval(() => {
        if (Date.now() - started >= hangUp.ms) hangUpNow()
      }, 5)
    }
  })

export const postEffect = (baseUrl: string, body: string, options: PostOptions = {}) =>
  Effect.promise(() => post(baseUrl, body, options))

/** An SSE body's events, in order; a last event without its blank line is kept (and would fail the shape checks). */
export const sseEvents = (text: string): Array<SseEvent> =>
  text.split("\n\n").filter((block) => block.trim() !== "").map((block) => {
    const lines = block.split("\n")
    const event = lines.find((l) => l.startsWith("event: "))?.slice(7)
    const data = lines.filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n")
    let parsed: unknown = data
    try {
      parsed = JSON.parse(data)
    } catch {
      // kept as text: the shape checks will name it
    }
    return { event, data: parsed }
  })

export const streamText = (events: ReadonlyArray<SseEvent>): string =>
  events
    .filter((e) => e.data?.type === "content_block_delta" && e.data.delta?.type === "text_delta")
    .map((e) => e.data.delta.text as string)
    .join("")

/** A JSON error in Anthropic's shape, with this status and type, and the request id of the header. */
export const expectAnthropicError = (reply: Reply, status: number, type: string) => {
  const context = `reply ${reply.status} ${reply.text.slice(0, 300)}`
  expect(reply.status, context).toBe(status)
  expect(String(reply.headers["content-type"]), context).toContain("application/json")
  const body = JSON.parse(reply.text)
  expect(body, context).toEqual({
    type: "error",
    error: { type, message: expect.any(String) },
    request_id: expect.stringMatching(/^req_/)
  })
  expect(body.error.message.length, context).toBeGreaterThan(0)
  expect(body.request_id).toBe(reply.headers["request-id"])
  // README: 429, 529, 504 and the upstream's 5xx leave retrying to the client's SDK (no `x-should-retry: false`);
  // an error no retry can fix (400 and the other 4xx) says `x-should-retry: false`.
  if ([429, 504, 529].includes(status)) expect(reply.headers["x-should-retry"], context).not.toBe("false")
  if (status >= 400 && status < 500 && status !== 429) expect(reply.headers["x-should-retry"], context).toBe("false")
  return body as { type: "error"; error: { type: string; message: string }; request_id: string }
}

/**
 * A well-formed SSE reply: 200, text/event-stream, `message_start` first, every `event:` line naming its data's
 * type, and exactly one terminal event (`message_stop` or `error`), last. Returns the events.
 */
export const expectStreamEndingWith = (reply: Reply, terminal: "message_stop" | "error", errorType?: string) => {
  const context = `reply ${reply.status} ${reply.text.slice(-600)}`
  expect(reply.status, context).toBe(200)
  expect(String(reply.headers["content-type"]), context).toContain("text/event-stream")
  expect(reply.text.endsWith("\n\n"), context).toBe(true)
  const events = sseEvents(reply.text)
  expect(events[0]?.event, context).toBe("message_start")
  for (const event of events) expect(event.event, context).toBe(event.data?.type)
  const terminals = events.filter((e) => e.event === "message_stop" || e.event === "error")
  expect(terminals.map((e) => e.event), context).toEqual([terminal])
  expect(events.at(-1)?.event, context).toBe(terminal)
  if (terminal === "error") {
    expect(events.at(-1)?.data, context).toEqual({ type: "error", error: { type: errorType ?? expect.any(String), message: expect.any(String) } })
  }
  // Every block that opened was closed before the end.
  const opened = events.filter((e) => e.event === "content_block_start").map((e) => e.data.index)
  const closed = events.filter((e) => e.event === "content_block_stop").map((e) => e.data.index)
  expect(closed, context).toEqual(opened)
  return events
}
