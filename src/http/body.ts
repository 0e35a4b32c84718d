/**
 * Reading a request body: size cap, JSON parse with the parser's position, an optional check of the parsed value,
 * schema decode with a field path. Decoding happens once, here at ingress.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type * as HttpServerRequest from "effect/http/HttpServerRequest"
import { InvalidRequest, RequestTooLarge } from "../errors.ts"
import { clip } from "../util/text.ts"

export interface DecodedBody<A> {
  readonly value: A
  readonly bytes: number
}

const decoder = new TextDecoder()

/** `["messages"][0]["content"]` → `messages.0.content`, Anthropic's way of naming a field. */
const formatPath = (path: string): string =>
  path.replace(/\["([^"]*)"\]/g, ".$1").replace(/\[(\d+)\]/g, ".$1").replace(/^\./, "")

/**
 * A schema failure as one line, `field.path: problem`, the way Anthropic words validation errors. `showPath` spells
 * the path (given as `["a"][0]`); by default as `a.0`.
 */
export const describeSchemaError = (
  error: Error,
  showPath: (path: string) => string = formatPath
): string => {
  const lines = String(error.message).split("\n").map((line) => line.trim()).filter(Boolean)
  const at = lines.find((line) => line.startsWith("at "))
  const problem = lines.filter((line) => !line.startsWith("at ")).join("; ")
  return at ? `${showPath(at.slice(3))}: ${problem}` : problem
}

/**
 * The body's bytes, read once and kept nowhere else: `request.arrayBuffer` would cache them on the request, which
 * lives as long as its (possibly hours-long) response stream.
 */
const readBytes = (
  request: HttpServerRequest.HttpServerRequest,
  maxBytes: number
): Effect.Effect<Uint8Array, InvalidRequest | RequestTooLarge> =>
  Effect.suspend(() => {
    const parts: Array<Uint8Array> = []
    let size = 0
    return request.stream.pipe(
      Stream.mapError(() => new InvalidRequest({ message: "Could not read the request body" })),
      Stream.runForEachArray((chunk) => {
        for (const part of chunk) {
          size += part.byteLength
          if (size > maxBytes) return Effect.fail(new RequestTooLarge({ limitBytes: maxBytes }))
          parts.push(part)
        }
        return Effect.void
      }),
      Effect.map(() => (parts.length === 1 ? parts[0]! : Buffer.concat(parts, size)))
    )
  })

/**
 * A check of the parsed JSON before it is decoded (the guardrails' structural limits): the problem as a 400
 * message, or undefined. It sees the value before anything recursive does (the decode, the conversion, the token
 * count, the upstream serialiser), so it is the place to refuse a body that would overflow their stacks.
 */
export type JsonCheck = (json: unknown, bytes: number) => string | undefined

/** A reader of JSON bodies of one schema; its decoder is built here, once, not per request. */
export const jsonBodyReader = <S extends Schema.Top & { readonly DecodingServices: never }>(
  schema: S,
  maxBytes: number,
  check?: JsonCheck
) => {
  const decode = Schema.decodeUnknownEffect(schema)
  return (request: HttpServerRequest.HttpServerRequest): Effect.Effect<DecodedBody<S["Type"]>, InvalidRequest | RequestTooLarge> =>
    readJsonBody(request, decode, maxBytes, check)
}

/**
 * `application/json` or a `+json` type. A body a browser can send without asking first (`text/plain`, a form) is
 * refused, so no web page can make a visitor's browser spend the proxy's upstream key; a missing type is allowed.
 */
const JSON_TYPE = /^\s*application\/([\w.+-]*\+)?json\s*(;|$)/i

const readJsonBody = <A>(
  request: HttpServerRequest.HttpServerRequest,
  decode: (json: unknown) => Effect.Effect<A, Schema.SchemaError>,
  maxBytes: number,
  check: JsonCheck | undefined
): Effect.Effect<DecodedBody<A>, InvalidRequest | RequestTooLarge> =>
  Effect.gen(function*() {
    const declared = Number(request.headers["content-length"])
    if (declared > maxBytes) return yield* new RequestTooLarge({ limitBytes: maxBytes })
    const buffer = yield* readBytes(request, maxBytes)
    // Checked after reading: answering before the body is read makes the server close the connection mid-upload.
    const contentType = request.headers["content-type"]
    if (contentType !== undefined && !JSON_TYPE.test(contentType)) {
      return yield* new InvalidRequest({ message: `content-type must be application/json (got "${clip(contentType, 80)}")` })
    }
    if (buffer.byteLength === 0) return yield* new InvalidRequest({ message: "Request body is empty; expected JSON" })
    let json: unknown
    try {
      json = JSON.parse(decoder.decode(buffer))
    } catch (error) {
      return yield* new InvalidRequest({ message: `Invalid JSON in request body: ${(error as Error).message}` })
    }
    if (typeof json !== "object" || json === null || Array.isArray(json)) {
      return yield* new InvalidRequest({ message: "Request body must be a JSON object" })
    }
    const violation = check?.(json, buffer.byteLength)
    if (violation !== undefined) return yield* new InvalidRequest({ message: violation })
    const value = yield* decode(json).pipe(
      Effect.mapError((error) => new InvalidRequest({ message: describeSchemaError(error) }))
    )
    return { value, bytes: buffer.byteLength }
  })
