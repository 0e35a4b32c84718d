/**
 * Reading a request body: size cap, JSON parse with the parser's position, schema decode with a field path.
 * Decoding happens once, here at ingress.
 */
import { ByteSize, Effect, Schema } from "effect"
import { HttpIncomingMessage, type HttpServerRequest } from "effect/http"
import { InvalidRequest, RequestTooLarge } from "../errors.ts"

export interface DecodedBody<A> {
  readonly value: A
  readonly bytes: number
}

const decoder = new TextDecoder()

/** `["messages"][0]["content"]` → `messages.0.content`, Anthropic's way of naming a field. */
const formatPath = (path: string): string =>
  path.replace(/\["([^"]*)"\]/g, ".$1").replace(/\[(\d+)\]/g, ".$1").replace(/^\./, "")

/** A schema failure as one line, `field.path: problem`, the way Anthropic words validation errors. */
export const describeSchemaError = (error: Schema.SchemaError): string => {
  const lines = String(error.message).split("\n").map((line) => line.trim()).filter(Boolean)
  const at = lines.find((line) => line.startsWith("at "))
  const problem = lines.filter((line) => !line.startsWith("at ")).join("; ")
  return at ? `${formatPath(at.slice(3))}: ${problem}` : problem
}

export const readJsonBody = <S extends Schema.Top & { readonly DecodingServices: never }>(
  request: HttpServerRequest.HttpServerRequest,
  schema: S,
  maxBytes: number
): Effect.Effect<DecodedBody<S["Type"]>, InvalidRequest | RequestTooLarge> =>
  Effect.gen(function*() {
    const declared = Number(request.headers["content-length"])
    if (declared > maxBytes) return yield* new RequestTooLarge({ limitBytes: maxBytes })
    const buffer = yield* request.arrayBuffer.pipe(
      Effect.provideService(HttpIncomingMessage.MaxBodySize, ByteSize.bytes(maxBytes)),
      Effect.mapError((error) => {
        const reason = (error as { reason?: { reason?: string } }).reason
        return reason?.reason === "BodyTooLarge"
          ? new RequestTooLarge({ limitBytes: maxBytes })
          : new InvalidRequest({ message: "Could not read the request body" })
      })
    )
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
    const value = yield* Schema.decodeUnknownEffect(schema)(json).pipe(
      Effect.mapError((error) => new InvalidRequest({ message: describeSchemaError(error) }))
    )
    return { value, bytes: buffer.byteLength }
  })
