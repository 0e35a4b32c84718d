/**
 * OpenTelemetry traces: the real proxy on a loopback port, a scripted upstream, and an OTLP/HTTP receiver that
 * decodes what Effect's exporter posts (protobuf by default, JSON on request).
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Redacted, References, Scope, Tracer } from "effect"
import { HttpServer } from "effect/http"
import * as Cache from "../../src/cache/cache.ts"
import { ConfigInvalid, parseConfig, ProxyConfig } from "../../src/config.ts"
import { layerApp, layerNodeServer } from "../../src/http/server.ts"
import { type Fields, Log } from "../../src/log.ts"
import { Metrics } from "../../src/observability/metrics.ts"
import { Prices } from "../../src/observability/prices.ts"
import { RequestSinks, type RequestRecord } from "../../src/observability/record.ts"
import {
  annotateRequestSpan,
  parseTracing,
  requestSpanOf,
  tracingActive,
  tracingLayer,
  tracingSink
} from "../../src/observability/tracing.ts"
import { Pipeline } from "../../src/pipeline/pipeline.ts"
import * as Protection from "../../src/protection/protection.ts"
import { Tokenizer } from "../../src/tokens.ts"
import type { Cassette } from "../../src/upstream/cassette.ts"
import { Upstream } from "../../src/upstream/Upstream.ts"
import { Harness, harness, TEST_API_KEY } from "../support/harness.ts"
import { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from "../support/otlp-receiver.ts"
import { jsonCassette, type ScriptedUpstream, startScriptedUpstream } from "../support/scripted-upstream.ts"

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
const PARENT_ID = "00f067aa0ba902b7"
const INCOMING = `00-${TRACE_ID}-${PARENT_ID}-01`

const SERVER = 2
const CLIENT = 3

const message = (stream = false) =>
  JSON.stringify({ model: "claude-sonnet-4-6", max_tokens: 10, stream, messages: [{ role: "user", content: "hi" }] })

const completion = () =>
  jsonCassette({
    id: "chatcmpl-1",
    model: "gpt-4.1",
    choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }],
    usage: { prompt_tokens: 11, completion_tokens: 2, prompt_tokens_details: { cached_tokens: 4 } }
  })

const sse = (value: unknown) => `data: ${JSON.stringify(value)}\n\n`
const delta = (content: string) => ({ id: "c1", model: "gpt-4.1", choices: [{ index: 0, delta: { content }, finish_reason: null }] })

/** A stream whose last chunks come 150 ms apart, so its end is well after the pipeline returned. */
const slowStream = (): Cassette => ({
  name: "slow-stream",
  response: {
    status: 200,
    headers: { "content-type": "text/event-stream" },
    chunks: [
      { text: sse({ ...delta("Hel"), choices: [{ index: 0, delta: { role: "assistant", content: "Hel" }, finish_reason: null }] }) },
      { delayMs: 150, text: sse(delta("lo")) },
      { delayMs: 150, text: sse({ id: "c1", model: "gpt-4.1", choices: [{ index: 0, delta: {}, finish_reason: "stop" }] }) },
      { text: sse({ id: "c1", model: "gpt-4.1", choices: [], usage: { prompt_tokens: 7, completion_tokens: 3 } }) },
      { text: "data: [DONE]\n\n" }
    ]
  }
})

interface Proxy {
  readonly url: string
  readonly upstream: ScriptedUpstream
  readonly receiver: OtlpReceiver
}

/**
 * The proxy as `app.ts`'s `proxyLayer` composes it, with `tracingLayer` where `References.TracerEnabled` false is
 * today, and the tracing sink among the request sinks: the wiring the lead adds to app.ts. (Once it is there, this
 * becomes `harness({ OTEL_EXPORTER_OTLP_ENDPOINT: … })`.)
 */
const proxyLayer = (raw: Record<string, string>, tracer: Layer.Layer<never>, logs: Array<Fields>) => {
  const config = parseConfig(raw)
  return layerApp().pipe(
    Layer.provide(Pipeline.layer()),
    Layer.provide(Upstream.layerLive),
    Layer.provide(Layer.provideMerge(Cache.layerAdmin(config.cache), Cache.layer(config.cache))),
    Layer.provide(Layer.effect(RequestSinks, Effect.map(Effect.service(Metrics), (metrics) => [metrics, tracingSink]))),
    Layer.provide(Metrics.layer),
    Layer.provide(Prices.layer({ upstreams: config.providers, settings: config.prices })),
    Layer.provide(Protection.layer(config.protection)),
    Layer.provide(Tokenizer.layer),
    Layer.provide(Log.capture(logs)),
    Layer.provide(tracer),
    Layer.provideMerge(layerNodeServer({ host: "127.0.0.1", port: 0 })),
    Layer.provide(ProxyConfig.make(config))
  )
}

const urlOf = (context: Context.Context<HttpServer.HttpServer>) => {
  const address = Context.get(context, HttpServer.HttpServer).address
  return `http://127.0.0.1:${address._tag === "UnixPathAddress" ? 0 : address.port}`
}

const baseEnv = (upstream: ScriptedUpstream): Record<string, string> => ({
  OPENAI_API_KEY: TEST_API_KEY,
  OPENAI_BASE_URL: upstream.url,
  BIG_MODEL_NAME: "gpt-4.1",
  SMALL_MODEL_NAME: "gpt-4.1-mini",
  PORT: "0",
  UPSTREAM_MAX_RETRIES: "1"
})

/** Receiver, upstream and proxy in the test's scope; `scope` lets a test close the proxy (and flush) itself. */
const start = (env: Record<string, string> = {}, options: { readonly tracer?: Layer.Layer<never> } = {}) =>
  Effect.gen(function*() {
    const receiver = yield* Effect.acquireRelease(Effect.promise(startOtlpReceiver), (r) => Effect.promise(r.close))
    const upstream = yield* Effect.acquireRelease(Effect.promise(startScriptedUpstream), (u) => Effect.promise(u.close))
    const raw = { ...baseEnv(upstream), OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: "20", ...env }
    const scope = yield* Scope.make()
    yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
    const tracer = options.tracer ?? tracingLayer(parseTracing(raw))
    const context = yield* Layer.buildWithScope(proxyLayer(raw, tracer, []), scope)
    const proxy: Proxy & { readonly scope: Scope.Closeable } = { url: urlOf(context), upstream, receiver, scope }
    return proxy
  })

const post = (url: string, body: string, headers: Record<string, string> = {}) =>
  Effect.promise(async () => {
    const response = await fetch(`${url}/v1/messages`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body
    })
    return { status: response.status, text: await response.text(), receivedAt: process.hrtime.bigint() }
  })

const wait = (receiver: OtlpReceiver, predicate: (spans: ReadonlyArray<ReceivedSpan>) => boolean) =>
  Effect.promise(() => receiver.waitFor(predicate))

const byName = (spans: ReadonlyArray<ReceivedSpan>, name: string) => spans.filter((s) => s.name === name)
const one = (spans: ReadonlyArray<ReceivedSpan>, name: string) => {
  const found = byName(spans, name)
  expect(found.map((s) => s.name)).toEqual([name])
  return found[0]!
}

const parseTraceparent = (value: unknown) => {
  const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$/.exec(String(value))
  expect(match, `traceparent ${String(value)}`).not.toBeNull()
  return { traceId: match![1]!, spanId: match![2]!, flags: match![3]! }
}

describe("tracing over OTLP/HTTP", () => {
  it.live("a request span parented by the incoming traceparent, a span per stage, an attempt span whose traceparent went upstream", () =>
    Effect.gen(function*() {
      const { url, upstream, receiver } = yield* start({
        OTEL_SERVICE_NAME: "ccproxy-test",
        OTEL_EXPORTER_OTLP_HEADERS: "x-collector-key=s%3Dcret,other=1"
      })
      upstream.enqueue(completion())
      const res = yield* post(url, message(), { traceparent: INCOMING })
      expect(res.status).toBe(200)
      yield* wait(receiver, (spans) => spans.some((s) => s.kind === SERVER && s.name === "POST /v1/messages"))
      yield* wait(receiver, (spans) => byName(spans, "upstream.attempt").length > 0)

      const spans = receiver.spans
      const request = one(spans, "POST /v1/messages")
      expect(request).toMatchObject({ service: "ccproxy-test", traceId: TRACE_ID, parentSpanId: PARENT_ID, kind: SERVER })
      expect(request.attributes).toMatchObject({
        "http.request.method": "POST",
        "http.response.status_code": 200,
        "http.route": "/v1/messages",
        // From the request record (tracingSink).
        "gen_ai.request.model": "claude-sonnet-4-6",
        "gen_ai.response.model": "gpt-4.1",
        "gen_ai.usage.input_tokens": 7,
        "gen_ai.usage.output_tokens": 2,
        "gen_ai.usage.cache_read.input_tokens": 4,
        "ccproxy.status": 200,
        "ccproxy.stream": false,
        "ccproxy.retries": 0,
        "gen_ai.response.finish_reasons": ["end_turn"]
      })
      expect(request.attributes["ccproxy.request_id"]).toMatch(/^req_/)

      // Stages nest, outermost first, each the child of the one before; the core is innermost.
      const stages = spans.filter((s) => s.name.startsWith("stage ") || s.name === "core")
      expect(stages.map((s) => s.name)).toEqual(expect.arrayContaining(["stage logging", "stage routing", "stage conversion", "core"]))
      const logging = one(spans, "stage logging")
      expect(logging.parentSpanId).toBe(request.spanId)
      for (const stage of stages) {
        expect(stage.traceId).toBe(TRACE_ID)
        if (stage !== logging) expect(stages.map((s) => s.spanId)).toContain(stage.parentSpanId)
      }
      const core = one(spans, "core")

      const attempt = one(spans, "upstream.attempt")
      expect(attempt).toMatchObject({ traceId: TRACE_ID, parentSpanId: core.spanId, kind: CLIENT })
      expect(attempt.attributes).toMatchObject({
        "ccproxy.upstream": "generic",
        "gen_ai.request.model": "gpt-4.1",
        "http.request.method": "POST",
        "http.response.status_code": 200,
        "server.address": "127.0.0.1"
      })

      // The upstream was told the attempt span is its parent.
      expect(upstream.requests).toHaveLength(1)
      const sent = parseTraceparent(upstream.requests[0]!.headers.traceparent)
      expect(sent).toEqual({ traceId: TRACE_ID, spanId: attempt.spanId, flags: "01" })
      expect(upstream.requests[0]!.headers.b3).toBeUndefined()

      // Exported where the spec says, with the configured headers, as protobuf by default.
      expect(receiver.posts.every((p) => p.path === "/v1/traces" && p.contentType === "application/x-protobuf")).toBe(true)
      expect(receiver.posts[0]!.headers["x-collector-key"]).toBe("s=cret")
    }))

  it.live("a streamed reply: the request span ends with the stream, and carries the usage the stream reported", () =>
    Effect.gen(function*() {
      const { url, upstream, receiver } = yield* start()
      upstream.enqueue(slowStream())
      const res = yield* post(url, message(true), { traceparent: INCOMING })
      expect(res.status).toBe(200)
      expect(res.text).toContain("message_stop")
      yield* wait(receiver, (spans) => spans.some((s) => s.kind === SERVER))

      const request = one(receiver.spans, "POST /v1/messages")
      const attempt = one(receiver.spans, "upstream.attempt")
      const logging = one(receiver.spans, "stage logging")
      // The stages and the attempt end once the stream is handed back; the request span ~300 ms later, at its end.
      expect(Number(request.endNs - logging.endNs) / 1e6).toBeGreaterThan(250)
      expect(request.endNs).toBeGreaterThan(attempt.endNs)
      expect(request.attributes).toMatchObject({
        "ccproxy.stream": true,
        "ccproxy.status": 200,
        "gen_ai.usage.output_tokens": 3,
        "gen_ai.response.finish_reasons": ["end_turn"]
      })
      expect(typeof request.attributes["ccproxy.ttft_ms"]).toBe("number")
    }))

  it.live("a retried call: one attempt span per attempt, each sent upstream as the parent of its own request", () =>
    Effect.gen(function*() {
      const { url, upstream, receiver } = yield* start()
      upstream.enqueue(jsonCassette({ error: { message: "busy", type: "server_error" } }, 503), completion())
      const res = yield* post(url, message(), { traceparent: INCOMING })
      expect(res.status).toBe(200)
      yield* wait(receiver, (spans) => spans.some((s) => s.kind === SERVER))

      const attempts = byName(receiver.spans, "upstream.attempt").sort((a, b) => Number(a.startNs - b.startNs))
      expect(attempts.map((a) => a.attributes["http.response.status_code"])).toEqual([503, 200])
      expect(attempts[0]!.status.code).toBe(2) // error
      expect(attempts[1]!.attributes["http.request.resend_count"]).toBe(1)
      expect(upstream.requests.map((r) => parseTraceparent(r.headers.traceparent).spanId)).toEqual(attempts.map((a) => a.spanId))
      expect(one(receiver.spans, "POST /v1/messages").attributes["ccproxy.retries"]).toBe(1)
    }))

  it.live("without a traceparent the request span starts a trace; health checks get no span", () =>
    Effect.gen(function*() {
      const { url, upstream, receiver } = yield* start()
      expect((yield* Effect.promise(() => fetch(`${url}/health`))).status).toBe(200)
      upstream.enqueue(completion())
      expect((yield* post(url, message())).status).toBe(200)
      yield* wait(receiver, (spans) => spans.some((s) => s.kind === SERVER))
      const request = one(receiver.spans, "POST /v1/messages")
      expect(request.parentSpanId).toBeUndefined()
      expect(request.traceId).not.toBe(TRACE_ID)
      expect(parseTraceparent(upstream.requests[0]!.headers.traceparent).traceId).toBe(request.traceId)
      expect(receiver.spans.filter((s) => s.name.includes("health"))).toEqual([])
      expect(receiver.spans.every((s) => s.service === "ccproxy")).toBe(true)
    }))

  it.live("an unsampled incoming trace is followed: nothing exported, and the upstream is told it is unsampled", () =>
    Effect.gen(function*() {
      const { url, upstream, receiver } = yield* start()
      upstream.enqueue(completion())
      expect((yield* post(url, message(), { traceparent: `00-${TRACE_ID}-${PARENT_ID}-00` })).status).toBe(200)
      const sent = parseTraceparent(upstream.requests[0]!.headers.traceparent)
      expect(sent).toMatchObject({ traceId: TRACE_ID, flags: "00" })
      yield* Effect.sleep("100 millis")
      expect(receiver.spans).toEqual([])
    }))

  it.live("a cache hit: its request span says so, and there is no attempt span for it", () =>
    Effect.gen(function*() {
      const { url, upstream, receiver } = yield* start({ CACHE: "on" })
      upstream.enqueue(completion())
      expect((yield* post(url, message())).status).toBe(200)
      expect((yield* post(url, message())).status).toBe(200)
      yield* wait(receiver, (spans) => spans.filter((s) => s.kind === SERVER).length === 2)
      const requests = byName(receiver.spans, "POST /v1/messages").sort((a, b) => Number(a.startNs - b.startNs))
      expect(requests.map((r) => r.attributes["ccproxy.cache"])).toEqual(["miss", "hit"])
      expect(byName(receiver.spans, "upstream.attempt")).toHaveLength(1)
      expect(upstream.requests).toHaveLength(1)
    }))

  it.live("OTEL_EXPORTER_OTLP_PROTOCOL=http/json posts JSON", () =>
    Effect.gen(function*() {
      const { url, upstream, receiver } = yield* start({ OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" })
      upstream.enqueue(completion())
      expect((yield* post(url, message(), { traceparent: INCOMING })).status).toBe(200)
      yield* wait(receiver, (spans) => spans.some((s) => s.kind === SERVER))
      expect(receiver.posts[0]!.contentType).toBe("application/json")
      expect(one(receiver.spans, "POST /v1/messages")).toMatchObject({ traceId: TRACE_ID, parentSpanId: PARENT_ID })
      expect(byName(receiver.spans, "upstream.attempt")).toHaveLength(1)
    }))

  it.live("a collector that is down costs the requests nothing, and shutdown gives up on it within seconds", () =>
    Effect.gen(function*() {
      // A port nobody listens on.
      const closed = yield* Effect.promise(() => startOtlpReceiver())
      yield* Effect.promise(closed.close)
      const { url, upstream, scope } = yield* start({ OTEL_EXPORTER_OTLP_ENDPOINT: closed.url })
      upstream.enqueue(completion(), completion())
      expect((yield* post(url, message())).status).toBe(200)
      yield* Effect.sleep("100 millis") // an export has failed by now
      expect((yield* post(url, message())).status).toBe(200)
      const started = Date.now()
      yield* Scope.close(scope, Exit.void)
      expect(Date.now() - started).toBeLessThan(4_000)
    }), { timeout: 15_000 })

  it.live("spans not yet exported are flushed when the proxy shuts down", () =>
    Effect.gen(function*() {
      const { url, upstream, receiver, scope } = yield* start({ OTEL_BSP_SCHEDULE_DELAY: "600000" })
      upstream.enqueue(completion())
      expect((yield* post(url, message())).status).toBe(200)
      yield* Effect.sleep("50 millis")
      expect(receiver.spans).toEqual([])
      const started = Date.now()
      yield* Scope.close(scope, Exit.void)
      expect(Date.now() - started).toBeLessThan(2_000)
      expect(byName(receiver.spans, "POST /v1/messages")).toHaveLength(1)
      expect(byName(receiver.spans, "upstream.attempt")).toHaveLength(1)
    }))
})

describe("tracing off", () => {
  /** A tracer that only counts the spans asked of it. */
  const counting = () => {
    const counter = { spans: 0 }
    const tracer = Tracer.make({
      span(options) {
        counter.spans++
        return Tracer.nativeTracer.span(options)
      }
    })
    return { counter, layer: Layer.succeed(Tracer.Tracer, tracer) }
  }

  it.live("unset: not one span is asked of the tracer, and nothing goes upstream or to a collector", () =>
    Effect.gen(function*() {
      const { counter, layer } = counting()
      // Even with a tracer installed around it, the disabled layer keeps every span away.
      const off = tracingLayer(undefined).pipe(Layer.provideMerge(layer))
      const { url, upstream, receiver } = yield* start({}, { tracer: off })
      upstream.enqueue(completion(), slowStream())
      expect((yield* post(url, message(), { traceparent: INCOMING })).status).toBe(200)
      expect((yield* post(url, message(true), { traceparent: INCOMING })).status).toBe(200)
      expect(counter.spans).toBe(0)
      expect(upstream.requests.map((r) => r.headers.traceparent)).toEqual([undefined, undefined])
      expect(receiver.posts).toEqual([])
    }))

  it.live("control: the same tracer with tracing enabled is asked for the request, stage and attempt spans", () =>
    Effect.gen(function*() {
      const { counter, layer } = counting()
      const on = Layer.mergeAll(layer, Layer.succeed(References.TracerEnabled, true))
      const { url, upstream } = yield* start({}, { tracer: on })
      upstream.enqueue(completion())
      expect((yield* post(url, message())).status).toBe(200)
      expect(counter.spans).toBeGreaterThan(5)
      expect(upstream.requests[0]!.headers.traceparent).toBeDefined()
    }))

  it.effect("tracingActive is false under the disabled layer and under the native tracer", () =>
    Effect.gen(function*() {
      expect(yield* tracingActive.pipe(Effect.provide(tracingLayer(undefined)))).toBe(false)
      expect(yield* tracingActive).toBe(false) // default: enabled, but the native tracer exports nothing
    }))

  it.effect("annotateRequestSpan outside a traced request does nothing", () =>
    Effect.gen(function*() {
      const record = { id: "req_1" } as RequestRecord
      yield* annotateRequestSpan(record)
      yield* Effect.withSpan(annotateRequestSpan(record), "no server span here")
      expect(requestSpanOf(undefined)).toBeUndefined()
    }))
})

describe("parseTracing", () => {
  const problem = (raw: Record<string, string>) => {
    try {
      parseTracing(raw)
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigInvalid)
      return (error as ConfigInvalid).message
    }
    throw new Error("expected ConfigInvalid")
  }

  it("unset, or turned off, is undefined", () => {
    expect(parseTracing({})).toBeUndefined()
    expect(parseTracing({ OTEL_SERVICE_NAME: "x" })).toBeUndefined()
    expect(parseTracing({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_SDK_DISABLED: "true" })).toBeUndefined()
    expect(parseTracing({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_TRACES_EXPORTER: "none" })).toBeUndefined()
  })

  it("the base endpoint gets /v1/traces; the traces endpoint is used as given", () => {
    expect(parseTracing({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318" })).toMatchObject({
      url: "http://c:4318/v1/traces",
      serviceName: "ccproxy",
      protocol: "http/protobuf",
      exportIntervalMs: 5000,
      headers: undefined
    })
    expect(parseTracing({ OTEL_EXPORTER_OTLP_ENDPOINT: "https://c/otlp/" })?.url).toBe("https://c/otlp/v1/traces")
    expect(parseTracing({ OTEL_EXPORTER_OTLP_ENDPOINT: "https://c/otlp" })?.url).toBe("https://c/otlp/v1/traces")
    expect(parseTracing({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://a", OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://b/t" })?.url).toBe("http://b/t")
  })

  it("service name, protocol, headers (redacted), export interval", () => {
    const settings = parseTracing({
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318",
      OTEL_SERVICE_NAME: "edge-proxy",
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_EXPORTER_OTLP_HEADERS: "api-key=abc%20def, X-Tenant=t1",
      OTEL_BSP_SCHEDULE_DELAY: "250"
    })!
    expect(settings).toMatchObject({ serviceName: "edge-proxy", protocol: "http/json", exportIntervalMs: 250 })
    expect(String(settings.headers)).not.toContain("abc")
    expect(Redacted.value(settings.headers!)).toEqual({ "api-key": "abc def", "x-tenant": "t1" })
  })

  it("a bad value names its variable, and never echoes a header value", () => {
    expect(problem({ OTEL_EXPORTER_OTLP_ENDPOINT: "collector:4318" })).toMatch(/^OTEL_EXPORTER_OTLP_ENDPOINT must be an http\(s\) URL/)
    expect(problem({ OTEL_EXPORTER_OTLP_ENDPOINT: "ftp://c" })).toMatch(/^OTEL_EXPORTER_OTLP_ENDPOINT /)
    expect(problem({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "nope" })).toMatch(/^OTEL_EXPORTER_OTLP_TRACES_ENDPOINT /)
    const withPassword = problem({ OTEL_EXPORTER_OTLP_ENDPOINT: "https://user:hunter2@c:4318" })
    expect(withPassword).toMatch(/^OTEL_EXPORTER_OTLP_ENDPOINT must not carry credentials/)
    expect(withPassword).not.toContain("hunter2")
    expect(problem({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c", OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" })).toMatch(
      /^OTEL_EXPORTER_OTLP_PROTOCOL must be "http\/protobuf" or "http\/json"/
    )
    expect(problem({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c", OTEL_BSP_SCHEDULE_DELAY: "5s" })).toMatch(/^OTEL_BSP_SCHEDULE_DELAY /)
    expect(problem({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c", OTEL_SDK_DISABLED: "yes" })).toMatch(/^OTEL_SDK_DISABLED /)
    const headers = problem({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c", OTEL_EXPORTER_OTLP_HEADERS: "ok=1,sk-SECRET-VALUE" })
    expect(headers).toMatch(/^OTEL_EXPORTER_OTLP_HEADERS .*entry 2/)
    expect(headers).not.toContain("SECRET")
  })
})

describe("through the proxy as app.ts builds it", () => {
  it.live("OTEL_EXPORTER_OTLP_ENDPOINT alone turns tracing on: request, stage and attempt spans reach the receiver", () =>
    Effect.gen(function*() {
      const receiver = yield* Effect.acquireRelease(Effect.promise(startOtlpReceiver), (r) => Effect.promise(r.close))
      const built = yield* Layer.build(harness({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: "20" }))
      const { url, upstream } = Context.get(built, Harness)
      upstream.enqueue(jsonCassette({ choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }] }))
      const res = yield* post(url, JSON.stringify({ model: "claude-sonnet-4-6", max_tokens: 10, messages: [{ role: "user", content: "hi" }] }))
      expect(res.status).toBe(200)
      yield* wait(receiver, (spans) => spans.some((s) => s.name === "upstream.attempt") && spans.some((s) => s.name === "POST /v1/messages"))
      expect(upstream.requests[0]!.headers.traceparent).toBeDefined()
    }))
})
