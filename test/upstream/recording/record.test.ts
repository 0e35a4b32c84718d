/**
 * The recording Transport over a fake wire: what the reader gets is untouched, and what the file gets is the
 * exchange (chunks, timing, how it ended) with every credential gone.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { Readable } from "node:stream"
import { type Cassette, decodeCassette } from "../../../src/upstream/cassette.ts"
import { loadCassetteDir } from "../../../src/upstream/cassette-dir.ts"
import { makeCassetteRedactor } from "../../../src/upstream/cassette-redaction.ts"
import { exchangeKey } from "../../../src/upstream/exchange-key.ts"
import { makeCassetteWriter, recordingTransport, toCassette, type WireExchange } from "../../../src/upstream/record.ts"
import { cassetteBody } from "../../../src/upstream/replay.ts"
import type { TransportRequest, TransportShape } from "../../../src/upstream/transport.ts"

const API_KEY = "sk-live-UPSTREAM-0123456789abcdef"
const redactor = makeCassetteRedactor([API_KEY])
const encoder = new TextEncoder()
const GITHUB_TOKEN = `ghp_${"a1B2".repeat(9)}`
const AWS_KEY_ID = "AKIAABCDEFGHIJKLMNOP"

const request = (body: unknown, url = "http://127.0.0.1:4000/v1/chat/completions"): TransportRequest => ({
  url,
  headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json", "x-title": "CCProxy" },
  body: encoder.encode(JSON.stringify(body))
})

/** A wire whose body the test feeds by hand. */
const fakeWire = (status = 200, headers: Record<string, string> = { "content-type": "text/event-stream" }) => {
  const body = new Readable({ read() {} })
  const transport: TransportShape = { send: async () => ({ status, headers, body }) }
  return { body, transport }
}

const readAll = async (body: Readable): Promise<{ text: string; error?: NodeJS.ErrnoException }> => {
  let text = ""
  try {
    for await (const part of body) text += String(part)
    return { text }
  } catch (error) {
    return { text, error: error as NodeJS.ErrnoException }
  }
}

/** Records into a list; the clock is the test's. */
const recorder = () => {
  const exchanges: Array<WireExchange> = []
  let now = 0
  return {
    exchanges,
    advance: (ms: number) => (now += ms),
    wrap: (inner: TransportShape) => recordingTransport(inner, (exchange) => exchanges.push(exchange), () => now)
  }
}

const tick = () => new Promise((resolve) => setImmediate(resolve))

describe("recording transport", () => {
  it("hands the body on unchanged and records its chunks with the delay before each", async () => {
    const { body, transport } = fakeWire()
    const rec = recorder()
    const answer = await rec.wrap(transport).send(request({ model: "m", messages: [] }), new AbortController().signal)
    const read = readAll(answer.body)
    body.push("data: {\"a\":1}\n\n")
    await tick()
    rec.advance(40.4)
    body.push("data: [DONE]\n\n")
    body.push(null)
    expect(await read).toEqual({ text: "data: {\"a\":1}\n\ndata: [DONE]\n\n" })
    await tick()
    const { key, cassette } = toCassette(rec.exchanges[0]!, redactor)
    expect(key).toBe(exchangeKey("/v1/chat/completions", { model: "m", messages: [] }))
    expect(cassette.response).toEqual({
      status: 200,
      headers: { "content-type": "text/event-stream" },
      chunks: [{ text: "data: {\"a\":1}\n\n" }, { delayMs: 40, text: "data: [DONE]\n\n" }]
    })
    expect(cassette.request).toEqual({ method: "POST", path: "/v1/chat/completions", body: { model: "m", messages: [] } })
  })

  it("a connection that breaks mid-answer reaches the reader as before and is recorded with abort: true", async () => {
    const { body, transport } = fakeWire()
    const rec = recorder()
    const answer = await rec.wrap(transport).send(request({ model: "m" }), new AbortController().signal)
    const read = readAll(answer.body)
    body.push("data: {\"partial\":true}\n\n")
    await tick()
    body.destroy(Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }))
    const result = await read
    expect(result.text).toBe("data: {\"partial\":true}\n\n")
    expect(result.error?.code).toBe("ECONNRESET")
    await tick()
    const { cassette } = toCassette(rec.exchanges[0]!, redactor)
    expect(cassette.response.abort).toBe(true)
    expect(cassette.response.chunks).toEqual([{ text: "data: {\"partial\":true}\n\n" }])
    expect(cassette.description).toContain("connection broken: ECONNRESET")
    // Replayed, it breaks where the recording did.
    const replayed = await readAll(cassetteBody({ name: "x", ...cassette }))
    expect(replayed.text).toBe("data: {\"partial\":true}\n\n")
    expect(replayed.error?.code).toBe("ECONNRESET")
  })

  it("a body the proxy stops reading aborts the upstream body and is recorded as cut short", async () => {
    const { body, transport } = fakeWire()
    const rec = recorder()
    const answer = await rec.wrap(transport).send(request({ model: "m" }), new AbortController().signal)
    body.push("data: {}\n\n")
    await tick()
    answer.body.destroy()
    await tick()
    expect(body.destroyed).toBe(true)
    const { cassette } = toCassette(rec.exchanges[0]!, redactor)
    expect(cassette.response.abort).toBe(true)
    expect(cassette.description).toContain("closed by the proxy before the end")
  })

  it("no connection → status 0 (a refused connection on replay); a call the proxy abandoned → nothing", async () => {
    const rec = recorder()
    const refusing: TransportShape = {
      send: async () => {
        throw Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:9"), { code: "ECONNREFUSED" })
      }
    }
    await expect(rec.wrap(refusing).send(request({ model: "m" }), new AbortController().signal)).rejects.toMatchObject({ code: "ECONNREFUSED" })
    const { cassette } = toCassette(rec.exchanges[0]!, redactor)
    expect(cassette.response).toEqual({ status: 0, headers: {}, chunks: [] })
    expect(cassette.description).toContain("no connection: connect ECONNREFUSED")

    const abandoned = new AbortController()
    abandoned.abort()
    await expect(rec.wrap(refusing).send(request({ model: "m" }), abandoned.signal)).rejects.toThrow()
    expect(rec.exchanges).toHaveLength(1)
  })

  it("a character split across chunks is decoded whole, its delay kept", async () => {
    const bytes = encoder.encode("héllo")
    const exchange: WireExchange = {
      url: "http://h/v1/chat/completions",
      requestBody: encoder.encode("{}"),
      status: 200,
      headers: {},
      chunks: [{ bytes: bytes.slice(0, 2), atMs: 0 }, { bytes: bytes.slice(2), atMs: 12 }]
    }
    expect(toCassette(exchange, redactor).cassette.response.chunks).toEqual([{ text: "h" }, { delayMs: 12, text: "éllo" }])
  })
})

describe("redaction in recordings", () => {
  it("drops Authorization and every request header; removes the key and SECRET_GUARD's patterns from body, URL and answer", async () => {
    const { body, transport } = fakeWire(401, { "content-type": "application/json", "set-cookie": "session=abc", "x-request-id": "r1" })
    const rec = recorder()
    const sent = request(
      { model: "m", messages: [{ role: "user", content: `deploy with ${GITHUB_TOKEN} and ${AWS_KEY_ID}` }], note: API_KEY },
      `https://api.example.com/v1/chat/completions?key=${API_KEY}&api-version=2024-10-21`
    )
    const answer = await rec.wrap(transport).send(sent, new AbortController().signal)
    const read = readAll(answer.body)
    const echoed = JSON.stringify({ error: { message: `Incorrect API key provided: ${API_KEY}` } })
    // The key arrives split across two network chunks.
    body.push(echoed.slice(0, 40))
    body.push(echoed.slice(40))
    body.push(null)
    expect((await read).text).toBe(echoed)
    await tick()
    const { cassette } = toCassette(rec.exchanges[0]!, redactor)
    const file = JSON.stringify(cassette)
    for (const secret of [API_KEY, GITHUB_TOKEN, AWS_KEY_ID, "Bearer", "authorization", "set-cookie", "session=abc"]) {
      expect(file).not.toContain(secret)
    }
    expect(cassette.request?.path).toBe("/v1/chat/completions?key=[REDACTED]&api-version=2024-10-21")
    expect(JSON.stringify(cassette.request?.body)).toContain("[REDACTED:github_token]")
    expect(JSON.stringify(cassette.request?.body)).toContain("[REDACTED:aws_access_key_id]")
    expect((cassette.request?.body as { note: string }).note).toBe("[REDACTED:upstream_api_key]")
    expect(cassette.response.headers).toEqual({ "content-type": "application/json" })
    expect(cassette.response.chunks.map((c) => c.text).join("")).toBe(
      JSON.stringify({ error: { message: "Incorrect API key provided: [REDACTED:upstream_api_key]" } })
    )
    expect(cassette.response.chunks).toHaveLength(2)
  })

  it("a chunk that was all secret gives its delay to the next", () => {
    const chunks = redactor.chunks([{ text: `key: ${API_KEY.slice(0, 10)}` }, { delayMs: 5, text: API_KEY.slice(10) }, { delayMs: 7, text: " end" }])
    expect(chunks).toEqual([{ text: "key: [REDACTED:upstream_api_key]" }, { delayMs: 12, text: " end" }])
  })
})

describe("cassette files", () => {
  const tempDir = () => Fs.mkdtempSync(Path.join(Os.tmpdir(), "ccproxy-record-"))
  const cassetteFor = (text: string): Omit<Cassette, "name"> => ({
    request: { method: "POST", path: "/v1/chat/completions", body: { text } },
    response: { status: 200, chunks: [{ text }] }
  })

  it("are named <key>-<seq>.json, numbered after what the directory holds, and read back in order", async () => {
    const dir = tempDir()
    const key = "0123456789abcdef"
    Fs.writeFileSync(Path.join(dir, `${key}-001.json`), JSON.stringify({ name: "old", ...cassetteFor("old") }))
    Fs.writeFileSync(Path.join(dir, "README.md"), "notes")
    const warnings: Array<string> = []
    const writer = makeCassetteWriter(dir, (message) => warnings.push(message))
    writer.write(() => ({ key, cassette: cassetteFor("first") }))
    writer.write(() => ({ key, cassette: cassetteFor("second") }))
    writer.write(() => ({ key: "fedcba9876543210", cassette: cassetteFor("other") }))
    await writer.flush()
    expect(warnings).toEqual([])
    expect(Fs.readdirSync(dir).sort()).toEqual([
      `${key}-001.json`,
      `${key}-002.json`,
      `${key}-003.json`,
      "README.md",
      "fedcba9876543210-001.json"
    ])
    const written = JSON.parse(Fs.readFileSync(Path.join(dir, `${key}-002.json`), "utf8"))
    expect(decodeCassette(written)).toMatchObject({ name: `${key}-002`, response: { chunks: [{ text: "first" }] } })
    const index = loadCassetteDir(dir)
    expect(index.get(key)!.map((c) => c.response.chunks[0]!.text)).toEqual(["old", "first", "second"])
    Fs.rmSync(dir, { recursive: true, force: true })
  })

  it("a write that fails is reported, not thrown into the request", async () => {
    const dir = tempDir()
    const warnings: Array<string> = []
    const writer = makeCassetteWriter(dir, (message) => warnings.push(message))
    Fs.rmSync(dir, { recursive: true, force: true })
    writer.write(() => ({ key: "0123456789abcdef", cassette: cassetteFor("lost") }))
    await writer.flush()
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toContain(`could not record an exchange into ${dir}`)
  })
})

