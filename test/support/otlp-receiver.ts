/**
 * A minimal OTLP/HTTP traces receiver on a loopback port: accepts `POST /v1/traces` in either encoding the spec
 * allows (`application/x-protobuf`, decoded here with a small wire-format reader, or `application/json`) and keeps
 * every span it gets, flattened.
 */
import * as Http from "node:http"
import type { AddressInfo } from "node:net"

export interface ReceivedSpan {
  readonly service: string | undefined
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId: string | undefined
  readonly name: string
  /** OTLP SpanKind: 1 internal, 2 server, 3 client. */
  readonly kind: number
  readonly startNs: bigint
  readonly endNs: bigint
  readonly attributes: Record<string, unknown>
  readonly status: { readonly code: number; readonly message?: string | undefined }
}

export interface OtlpReceiver {
  /** Base URL, as OTEL_EXPORTER_OTLP_ENDPOINT. */
  readonly url: string
  readonly spans: Array<ReceivedSpan>
  /** One entry per export request: its path and content type. */
  readonly posts: Array<{ readonly path: string; readonly contentType: string; readonly headers: Http.IncomingHttpHeaders }>
  /** Resolves once `predicate` holds for the spans so far (polls), or rejects after `timeoutMs`. */
  readonly waitFor: (predicate: (spans: ReadonlyArray<ReceivedSpan>) => boolean, timeoutMs?: number) => Promise<void>
  readonly close: () => Promise<void>
}

// ---- protobuf wire format ----------------------------------------------------------------------------------------

interface Field {
  readonly field: number
  readonly wire: number
  readonly varint?: bigint
  readonly bytes?: Uint8Array
}

const fields = (buf: Uint8Array): Array<Field> => {
  const out: Array<Field> = []
  let i = 0
  const varint = (): bigint => {
    let result = 0n
    let shift = 0n
    for (;;) {
      const byte = buf[i++]!
      result |= BigInt(byte & 0x7f) << shift
      if ((byte & 0x80) === 0) return result
      shift += 7n
    }
  }
  while (i < buf.length) {
    const key = Number(varint())
    const field = key >>> 3
    const wire = key & 7
    switch (wire) {
      case 0:
        out.push({ field, wire, varint: varint() })
        break
      case 1:
        out.push({ field, wire, bytes: buf.subarray(i, i + 8) })
        i += 8
        break
      case 2: {
        const length = Number(varint())
        out.push({ field, wire, bytes: buf.subarray(i, i + length) })
        i += length
        break
      }
      case 5:
        out.push({ field, wire, bytes: buf.subarray(i, i + 4) })
        i += 4
        break
      default:
        throw new Error(`unsupported wire type ${wire}`)
    }
  }
  return out
}

const hex = (bytes: Uint8Array | undefined) => (bytes === undefined ? undefined : Buffer.from(bytes).toString("hex"))
const utf8 = (bytes: Uint8Array | undefined) => (bytes === undefined ? "" : Buffer.from(bytes).toString("utf8"))
const fixed64 = (bytes: Uint8Array) => Buffer.from(bytes).readBigUInt64LE(0)

const anyValue = (buf: Uint8Array): unknown => {
  for (const f of fields(buf)) {
    switch (f.field) {
      case 1:
        return utf8(f.bytes)
      case 2:
        return f.varint === 1n
      case 3:
        return Number(BigInt.asIntN(64, f.varint!))
      case 4:
        return Buffer.from(f.bytes!).readDoubleLE(0)
      case 5:
        return fields(f.bytes!).filter((v) => v.field === 1).map((v) => anyValue(v.bytes!))
    }
  }
  return undefined
}

const keyValues = (list: ReadonlyArray<Field>): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const kv of list) {
    const parts = fields(kv.bytes!)
    const key = utf8(parts.find((p) => p.field === 1)?.bytes)
    const value = parts.find((p) => p.field === 2)?.bytes
    out[key] = value === undefined ? undefined : anyValue(value)
  }
  return out
}

const decodeProtobuf = (body: Uint8Array): Array<ReceivedSpan> => {
  const spans: Array<ReceivedSpan> = []
  for (const resourceSpans of fields(body).filter((f) => f.field === 1)) {
    const rs = fields(resourceSpans.bytes!)
    const resource = rs.find((f) => f.field === 1)
    const service = resource === undefined
      ? undefined
      : (keyValues(fields(resource.bytes!).filter((f) => f.field === 1))["service.name"] as string | undefined)
    for (const scopeSpans of rs.filter((f) => f.field === 2)) {
      for (const spanField of fields(scopeSpans.bytes!).filter((f) => f.field === 2)) {
        const s = fields(spanField.bytes!)
        const one = (n: number) => s.find((f) => f.field === n)
        const status = fields(one(15)?.bytes ?? new Uint8Array())
        spans.push({
          service,
          traceId: hex(one(1)?.bytes)!,
          spanId: hex(one(2)?.bytes)!,
          parentSpanId: hex(one(4)?.bytes),
          name: utf8(one(5)?.bytes),
          kind: Number(one(6)?.varint ?? 0n),
          startNs: fixed64(one(7)!.bytes!),
          endNs: fixed64(one(8)!.bytes!),
          attributes: keyValues(s.filter((f) => f.field === 9)),
          status: {
            code: Number(status.find((f) => f.field === 3)?.varint ?? 0n),
            message: status.find((f) => f.field === 2) ? utf8(status.find((f) => f.field === 2)!.bytes) : undefined
          }
        })
      }
    }
  }
  return spans
}

// ---- JSON ----------------------------------------------------------------------------------------------------------

const jsonValue = (value: any): unknown => {
  if (value === undefined || value === null) return undefined
  if ("stringValue" in value) return value.stringValue
  if ("boolValue" in value) return value.boolValue
  if ("intValue" in value) return Number(value.intValue)
  if ("doubleValue" in value) return Number(value.doubleValue)
  if ("arrayValue" in value) return (value.arrayValue.values ?? []).map(jsonValue)
  return undefined
}

const jsonAttributes = (list: ReadonlyArray<any> | undefined): Record<string, unknown> =>
  Object.fromEntries((list ?? []).map((kv) => [kv.key, jsonValue(kv.value)]))

const decodeJson = (body: any): Array<ReceivedSpan> =>
  (body.resourceSpans ?? []).flatMap((rs: any) => {
    const service = jsonAttributes(rs.resource?.attributes)["service.name"] as string | undefined
    return (rs.scopeSpans ?? []).flatMap((ss: any) =>
      (ss.spans ?? []).map((s: any): ReceivedSpan => ({
        service,
        traceId: s.traceId,
        spanId: s.spanId,
        parentSpanId: s.parentSpanId || undefined,
        name: s.name,
        kind: s.kind,
        startNs: BigInt(s.startTimeUnixNano),
        endNs: BigInt(s.endTimeUnixNano),
        attributes: jsonAttributes(s.attributes),
        status: { code: s.status?.code ?? 0, message: s.status?.message }
      })))
  })

// ---- server --------------------------------------------------------------------------------------------------------

export const startOtlpReceiver = async (): Promise<OtlpReceiver> => {
  const spans: Array<ReceivedSpan> = []
  const posts: Array<{ path: string; contentType: string; headers: Http.IncomingHttpHeaders }> = []
  const server = Http.createServer(async (req, res) => {
    const parts: Array<Buffer> = []
    for await (const part of req) parts.push(part as Buffer)
    const body = Buffer.concat(parts)
    const contentType = req.headers["content-type"] ?? ""
    posts.push({ path: req.url ?? "", contentType, headers: req.headers })
    if (req.method !== "POST" || req.url !== "/v1/traces") {
      res.writeHead(404).end()
      return
    }
    try {
      spans.push(...(contentType.includes("json") ? decodeJson(JSON.parse(body.toString("utf8"))) : decodeProtobuf(body)))
    } catch (error) {
      res.writeHead(400, { "content-type": "text/plain" }).end(String(error))
      return
    }
    if (contentType.includes("json")) res.writeHead(200, { "content-type": "application/json" }).end("{}")
    else res.writeHead(200, { "content-type": "application/x-protobuf" }).end()
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    posts,
    waitFor: async (predicate, timeoutMs = 5_000) => {
      const deadline = Date.now() + timeoutMs
      while (!predicate(spans)) {
        if (Date.now() > deadline) {
          throw new Error(`OTLP receiver: condition not met in ${timeoutMs} ms; spans: ${spans.map((s) => s.name).join(", ")}`)
        }
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}
