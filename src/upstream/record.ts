/**
 * Recording (RECORD_DIR): a Transport that wraps the real one and writes every exchange it carries as a cassette
 * that `replay-dir.ts` (and `replay.ts`) can play back.
 *
 * It sits at the Transport, under the protocol code, so what it writes is what crossed the wire: every retry as its
 * own exchange, every provider (the URL tells them apart), error statuses and broken connections included.
 *
 * The live answer is not held back: the body passes through a tap that notes each chunk and when it arrived and
 * hands it on unchanged. Decoding, redaction, the key's hash and the file write happen once the exchange is over,
 * never per chunk. An exchange is over when the body ended (`abort` absent), broke or was cut by the proxy
 * (`abort: true`), or when no answer came at all (status 0, which replay turns into a refused connection). A call
 * the proxy itself gave up before any answer (the client left, the first-byte timeout) is not written: nothing was
 * learnt about the upstream.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { type Readable, Transform, pipeline } from "node:stream"
import { performance } from "node:perf_hooks"
import { ProxyConfig } from "../config.ts"
import { parseJsonOr } from "../util/json.ts"
import type { Cassette } from "./cassette.ts"
import { cassetteFileName, lastSequences } from "./cassette-dir.ts"
import { type CassetteRedactor, makeCassetteRedactor, type RecordedChunk } from "./cassette-redaction.ts"
import { identifyExchange } from "./exchange-key.ts"
import { describeNetworkError } from "./network-errors.ts"
import { Transport, type TransportShape } from "./transport.ts"
import { secretValues } from "./Upstream.ts"

/** A chunk as it arrived: its bytes and when (milliseconds after the answer's headers). */
export interface WireChunk {
  readonly bytes: Uint8Array
  readonly atMs: number
}

/** One exchange as it happened, before anything is removed from it. */
export interface WireExchange {
  readonly url: string
  readonly requestBody: Uint8Array
  /** 0: no answer at all. */
  readonly status: number
  readonly headers: Readonly<Record<string, string | undefined>>
  readonly chunks: ReadonlyArray<WireChunk>
  /** How it ended other than cleanly: the connection broke, or no connection was made. */
  readonly failure?: string | undefined
}

const decoder = new TextDecoder()

/**
 * Bytes → cassette text. A character split across two chunks is decoded with the second, so a chunk's text may
 * gain or lose a few bytes at its edges; a chunk left with no text gives its delay to the next.
 */
const chunkTexts = (chunks: ReadonlyArray<WireChunk>): Array<RecordedChunk> => {
  const streaming = new TextDecoder()
  const out: Array<RecordedChunk> = []
  let lastAt = 0
  let carried = 0
  for (const chunk of chunks) {
    // Rounded on the running total, so rounding errors do not add up over a long stream.
    const at = Math.round(chunk.atMs)
    const delayMs = carried + Math.max(0, at - lastAt)
    lastAt = at
    const text = streaming.decode(chunk.bytes, { stream: true })
    if (text === "") {
      carried = delayMs
      continue
    }
    carried = 0
    out.push(delayMs === 0 ? { text } : { delayMs, text })
  }
  const rest = streaming.decode()
  if (rest !== "") out.push({ text: rest })
  return out
}

/** Pure: a finished exchange → its key and its cassette (unnamed), with every secret removed. */
export const toCassette = (
  exchange: WireExchange,
  redactor: CassetteRedactor
): { readonly key: string; readonly cassette: Omit<Cassette, "name"> } => {
  const text = decoder.decode(exchange.requestBody)
  const request = identifyExchange(redactor, exchange.url, parseJsonOr(text, text))
  const ending = exchange.failure === undefined ? "" : ` (${redactor.text(exchange.failure)})`
  const answer = exchange.status === 0 ? "no answer" : `HTTP ${exchange.status}`
  return {
    key: request.key,
    cassette: {
      description: `${request.method} ${request.path}: ${answer}${ending}`,
      request: { method: request.method, path: request.path, body: request.body },
      response: {
        status: exchange.status,
        headers: redactor.responseHeaders(exchange.headers),
        chunks: redactor.chunks(chunkTexts(exchange.chunks)),
        ...(exchange.status !== 0 && exchange.failure !== undefined ? { abort: true } : {})
      }
    }
  }
}

/**
 * The body as the proxy will read it, plus a note of each chunk. `done` gets the chunks once the upstream side is
 * over: the body ended, broke, or was cut (the reader destroyed the tap, which destroys the body and so the call).
 */
const tapBody = (
  body: Readable,
  now: () => number,
  done: (chunks: ReadonlyArray<WireChunk>, error: Error | null) => void
): Readable => {
  const answeredAt = now()
  const chunks: Array<WireChunk> = []
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      chunks.push({ bytes: chunk, atMs: now() - answeredAt })
      callback(null, chunk)
    }
  })
  pipeline(body, tap, (error) => done(chunks, error ?? null))
  // As for the raw body: until a reader attaches, an error must not go unhandled and end the process.
  tap.on("error", () => undefined)
  return tap
}

/**
 * The proxy cutting the body reads as a premature close (its reader gone) or an abort (the call interrupted);
 * anything else is the network's doing.
 */
const howItBroke = (error: Error, signal: AbortSignal): string =>
  signal.aborted || (error as NodeJS.ErrnoException).code === "ERR_STREAM_PREMATURE_CLOSE"
    ? "closed by the proxy before the end"
    : `connection broken: ${describeNetworkError(error)}`

/** The wrapped Transport: answers as `inner` does, and hands each finished exchange to `record`. */
export const recordingTransport = (
  inner: TransportShape,
  record: (exchange: WireExchange) => void,
  now: () => number = () => performance.now()
): TransportShape => ({
  send: async (request, signal) => {
    let response
    try {
      response = await inner.send(request, signal)
    } catch (error) {
      if (!signal.aborted) {
        const failure = `no connection: ${describeNetworkError(error)}`
        record({ url: request.url, requestBody: request.body, status: 0, headers: {}, chunks: [], failure })
      }
      throw error
    }
    const body = tapBody(response.body, now, (chunks, error) =>
      record({
        url: request.url,
        requestBody: request.body,
        status: response.status,
        headers: response.headers,
        chunks,
        failure: error === null ? undefined : howItBroke(error, signal)
      }))
    return { ...response, body }
  }
})

export interface CassetteWriter {
  /**
   * Files the cassette `build` makes under its key's next sequence number. `build` runs on a later turn of the event
   * loop, off the reader's path (the answer is already on its way to the client); the write goes on in the background.
   */
  readonly write: (build: () => { readonly key: string; readonly cassette: Omit<Cassette, "name"> }) => void
  /** Resolves once every write begun so far has finished. */
  readonly flush: () => Promise<void>
}

/**
 * Writes cassettes into `dir`, numbering each key's exchanges after any already there. `wx` never overwrites: if
 * another process took a number meanwhile, the next one is used.
 */
export const makeCassetteWriter = (dir: string, onError: (message: string) => void): CassetteWriter => {
  const last = lastSequences(dir)
  const pending = new Set<Promise<void>>()
  const claim = (key: string): number => {
    const seq = (last.get(key) ?? 0) + 1
    last.set(key, seq)
    return seq
  }
  const writeFile = async (key: string, cassette: Omit<Cassette, "name">): Promise<void> => {
    for (let attempt = 0; attempt < 100; attempt++) {
      const name = cassetteFileName(key, claim(key))
      const text = `${JSON.stringify({ name: name.replace(/\.json$/, ""), ...cassette }, null, 2)}\n`
      try {
        await Fs.promises.writeFile(Path.join(dir, name), text, { flag: "wx" })
        return
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error
      }
    }
    throw new Error(`no free file name for key ${key}`)
  }
  return {
    write: (build) => {
      const written: Promise<void> = new Promise<void>((resolve) => setImmediate(resolve))
        .then(() => {
          const { key, cassette } = build()
          return writeFile(key, cassette)
        })
        .catch((error: unknown) => onError(`could not record an exchange into ${dir}: ${describeNetworkError(error)}`))
        .finally(() => pending.delete(written))
      pending.add(written)
    },
    flush: async () => {
      while (pending.size > 0) await Promise.all([...pending])
    }
  }
}

/**
 * The Transport in context, recorded into `dir`. Pending writes finish before the layer closes, so a stopped proxy
 * has written everything it carried.
 */
export const layerRecord = (dir: string): Layer.Layer<Transport, never, Transport | ProxyConfig> =>
  Layer.effect(
    Transport,
    Effect.gen(function*() {
      const inner = yield* Transport
      const config = yield* ProxyConfig
      const redactor = makeCassetteRedactor(secretValues(config))
      const services = yield* Effect.context<never>()
      const warn = (message: string) => Effect.runForkWith(services)(Effect.logWarning(message))
      const writer = yield* Effect.acquireRelease(
        Effect.sync(() => makeCassetteWriter(dir, warn)),
        (writer) => Effect.promise(writer.flush)
      )
      yield* Effect.logInfo("recording upstream exchanges", { dir })
      return recordingTransport(inner, (exchange) => writer.write(() => toCassette(exchange, redactor)))
    })
  )
