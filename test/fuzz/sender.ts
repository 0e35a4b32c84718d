/**
 * The client side of the HTTP fuzz: generate a batch of cases (mutations.ts), send them to the proxy a few at a
 * time, and judge every reply. Runs in a worker thread (sender-worker.ts) so that generating and sending do not
 * share the proxy's thread; `FUZZ_IN_PROCESS=1` runs it in the test's own thread instead.
 */
import fc from "fast-check"
import { Readable } from "node:stream"
import { Agent, request } from "undici"
import { type FuzzCase, fuzzCase, largeCases } from "./mutations.ts"

export interface Failure {
  readonly label: string
  readonly kind: string
  readonly path: string
  readonly problem: string
  readonly body: Uint8Array
}

export interface BatchRequest {
  readonly baseUrl: string
  /** Sample `numRuns` cases with this seed, or send the fixed large cases. */
  readonly cases: { readonly seed: number; readonly numRuns: number } | "large"
  readonly concurrency: number
  readonly timeoutMs: number
  /** Time per mutation kind, for tuning. */
  readonly profile: boolean
}

export interface BatchResult {
  readonly sent: number
  readonly failures: Array<Failure>
  readonly generationMs: number
  readonly timeByKind: Array<[string, { n: number; ms: number }]>
}

const ERROR_TYPES = new Set([
  "invalid_request_error", "authentication_error", "billing_error", "permission_error", "not_found_error",
  "request_too_large", "rate_limit_error", "api_error", "timeout_error", "overloaded_error"
])

/** The body in pieces of `size` bytes: sent chunked (transfer-encoding), without a content-length. */
const inPieces = (bytes: Uint8Array, size: number): Readable =>
  Readable.from((function*() {
    for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size)
  })(), { objectMode: false })

type Headers = Record<string, string | Array<string> | undefined>

const header = (headers: Headers, name: string): string => [headers[name] ?? ""].flat().join(", ")

/** What is wrong with the reply, or undefined. */
export const judge = (fuzz: FuzzCase, status: number, headers: Headers, text: string): string | undefined => {
  const contentType = header(headers, "content-type")
  const requestId = header(headers, "request-id")
  if (status >= 200 && status < 300) {
    if (contentType.includes("text/event-stream")) {
      const events = text.split("\n\n").filter((block) => block.trim() !== "")
      const last = events.at(-1) ?? ""
      if (!last.startsWith("event: message_stop")) return `stream did not end with message_stop: …${text.slice(-300)}`
      if (events.some((block) => block.startsWith("event: error"))) return `stream carried an error event: …${text.slice(-300)}`
      return undefined
    }
    let body: any
    try {
      body = JSON.parse(text)
    } catch {
      return `2xx body is not JSON: ${text.slice(0, 200)}`
    }
    if (fuzz.path.endsWith("count_tokens")) {
      return typeof body?.input_tokens === "number" && body.input_tokens >= 0 ? undefined : `bad token count: ${text.slice(0, 200)}`
    }
    return body?.type === "message" && Array.isArray(body.content) ? undefined : `2xx is not a message: ${text.slice(0, 200)}`
  }
  if (status >= 400 && status < 500) {
    let body: any
    try {
      body = JSON.parse(text)
    } catch {
      return `${status} body is not JSON: ${text.slice(0, 200)}`
    }
    const shaped = body?.type === "error" && ERROR_TYPES.has(body.error?.type) && typeof body.error.message === "string" &&
      body.error.message !== "" && typeof body.request_id === "string" && body.request_id === requestId &&
      Object.keys(body).sort().join() === "error,request_id,type" && contentType.includes("application/json")
    return shaped ? undefined : `${status} not in Anthropic's error shape: ${text.slice(0, 300)}`
  }
  return `status ${status}: ${text.slice(0, 300)}`
}

/**
 * undici's `request` rather than `fetch`: the same wire, at less than half the client CPU per request.
 */
const send = async (client: Agent, baseUrl: string, fuzz: FuzzCase, timeoutMs: number): Promise<string | undefined> => {
  try {
    const response = await request(`${baseUrl}${fuzz.path}${fuzz.query}`, {
      method: "POST",
      headers: fuzz.headers,
      body: fuzz.chunked === undefined ? fuzz.body : inPieces(fuzz.body, fuzz.chunked),
      dispatcher: client,
      signal: AbortSignal.timeout(timeoutMs)
    })
    const text = await response.body.text()
    return judge(fuzz, response.statusCode, response.headers, text)
  } catch (error) {
    const e = error as Error & { code?: string; cause?: { code?: string; message?: string } }
    return `connection failed (or no reply within ${timeoutMs} ms): ${e.name} ${e.code ?? ""} ${e.message} ${e.cause?.code ?? ""} ${e.cause?.message ?? ""}`.trim()
  }
}

/** A client for one run: `concurrency` keep-alive connections. */
export const makeClient = (concurrency: number) => new Agent({ connections: concurrency })

export const runBatch = async (client: Agent, batch: BatchRequest): Promise<BatchResult> => {
  const t0 = performance.now()
  const cases = batch.cases === "large" ? largeCases() : fc.sample(fuzzCase, { numRuns: batch.cases.numRuns, seed: batch.cases.seed })
  const generationMs = performance.now() - t0
  const failures: Array<Failure> = []
  const timeByKind = new Map<string, { n: number; ms: number }>()
  let next = 0
  const worker = async () => {
    while (next < cases.length) {
      const fuzz = cases[next++]!
      const started = batch.profile ? performance.now() : 0
      const problem = await send(client, batch.baseUrl, fuzz, batch.timeoutMs)
      if (batch.profile) {
        for (const kind of fuzz.kind.split(/[:+]/)) {
          const entry = timeByKind.get(kind) ?? { n: 0, ms: 0 }
          entry.n++
          entry.ms += performance.now() - started
          timeByKind.set(kind, entry)
        }
      }
      if (problem !== undefined) {
        // A copy: the case's bytes may sit in a shared pool buffer, and the failure may cross threads.
        failures.push({ label: fuzz.label, kind: fuzz.kind, path: fuzz.path, problem, body: Uint8Array.from(fuzz.body) })
      }
    }
  }
  await Promise.all(Array.from({ length: batch.concurrency }, worker))
  return { sent: cases.length, failures, generationMs, timeByKind: [...timeByKind] }
}
