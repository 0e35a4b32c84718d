/**
 * What the cache's HTTP tests share: upstream scripts, and clients that read, summarise, or hang up on an answer.
 */
import { Effect } from "effect"
import { type Cassette, sseCassette } from "../../src/upstream/cassette.ts"
import { jsonCassette } from "../support/scripted-upstream.ts"

export const textChunk = (content: string) => ({ choices: [{ index: 0, delta: { content }, finish_reason: null }] })
export const finishChunk = { choices: [{ index: 0, delta: {}, finish_reason: "stop" }], usage: { prompt_tokens: 7, completion_tokens: 3 } }
export const streamed = (parts: ReadonlyArray<string>, delayMs = 0): Cassette =>
  sseCassette("text", [...parts.map(textChunk), finishChunk], { delayMs })
export const completion = (content: string) =>
  jsonCassette({
    choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }],
    usage: { prompt_tokens: 7, completion_tokens: 3 }
  })

/** A body unique to each test, so entries of one test never answer another's. */
export const body = (prompt: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ model: "claude-sonnet-4-6", max_tokens: 50, messages: [{ role: "user", content: prompt }], ...extra })

export interface Answer {
  readonly status: number
  readonly cache: string | null
  readonly text: string
}

export const post = (url: string, payload: string, headers: Record<string, string> = {}, signal?: AbortSignal) =>
  Effect.tryPromise(async (): Promise<Answer> => {
    const response = await fetch(`${url}/v1/messages`, {
      method: "POST",
      body: payload,
      headers: { "content-type": "application/json", ...headers },
      ...(signal === undefined ? {} : { signal })
    })
    return { status: response.status, cache: response.headers.get("x-ccproxy-cache"), text: await response.text() }
  })

export const sseEvents = (text: string): Array<any> =>
  text.split("\n\n").filter((block) => block.includes("data: ")).map((block) =>
    JSON.parse(block.split("\n").find((line) => line.startsWith("data: "))!.slice(6)))

/** What a stream said: its message id, model, text, stop and usage, and whether it ended properly. */
export const streamSummary = (text: string) => {
  const events = sseEvents(text)
  const start = events.find((e) => e.type === "message_start")
  const delta = events.find((e) => e.type === "message_delta")
  return {
    id: start?.message.id as string,
    model: start?.message.model as string,
    text: events.filter((e) => e.delta?.type === "text_delta").map((e) => e.delta.text).join(""),
    stop: delta?.delta.stop_reason as string,
    usage: delta?.usage,
    complete: events.at(-1)?.type === "message_stop",
    error: events.find((e) => e.type === "error")?.error?.type as string | undefined
  }
}

export const messageSummary = (text: string) => {
  const message = JSON.parse(text)
  return { id: message.id as string, model: message.model as string, text: message.content[0]?.text as string, stop: message.stop_reason, usage: message.usage }
}

export const eventually = (check: () => boolean, ms = 3_000) =>
  Effect.promise(async () => {
    const until = Date.now() + ms
    while (!check() && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 5))
    return check()
  })

/** A gate the test opens: lets one client wait for another to be in before it hangs up. */
export const gate = () => {
  let open = () => {}
  const opened = new Promise<void>((resolve) => {
    open = resolve
  })
  return { open, opened }
}

/**
 * A streamed request whose client reads the first bytes of the answer (so it is in the flight), says so, waits
 * for `until`, then hangs up.
 */
export const hangUp = (url: string, payload: string, until: Promise<void>, reading?: () => void) =>
  Effect.promise(async () => {
    const abort = new AbortController()
    const response = await fetch(`${url}/v1/messages`, {
      method: "POST",
      body: payload,
      headers: { "content-type": "application/json" },
      signal: abort.signal
    })
    const reader = response.body!.getReader()
    await reader.read()
    reading?.()
    await until
    abort.abort()
    return response.status
  })

/** A streamed request that says when its answer started, then reads it whole. */
export const postSaying = (url: string, payload: string, started: () => void) =>
  Effect.promise(async () => {
    const response = await fetch(`${url}/v1/messages`, { method: "POST", body: payload, headers: { "content-type": "application/json" } })
    const reader = response.body!.getReader()
    const decoder = new TextDecoder()
    let text = ""
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
      text += decoder.decode(chunk.value, { stream: true })
      started()
    }
    return text
  })


/** One permit and no queueing: a hit must not need one, and shared calls must take one between them. */
export const onePermit = { MAX_CONCURRENT_UPSTREAM: "1", QUEUE_TIMEOUT: "0" }

