/**
 * The per-request cost of each pipeline stage at its default setting, in-process, no network.
 *
 * The real stage builders (src/pipeline/*.ts) over the real services (`Protection.layer(parseProtection({}))`) and
 * the real logger (`Log.layer("info")`, JSON lines on stdout, as `npm start` writes them), composed with `compose`
 * around a trivial core that answers at once:
 * - **stream**: a streamed reply shaped like the bench upstream's answer once converted (message_start, 20 text
 *   deltas, a tool_use block with 10 input_json deltas, message_delta with usage, message_stop), one event per
 *   chunk, as the translator emits them for an upstream that writes one SSE chunk per turn;
 * - **message**: a whole message with usage.
 * Each request runs as the HTTP edge runs it: in its own scope, the stream drained inside that scope, the scope
 * closed after (permits, tickets and the log line are released/written then).
 *
 * Variants: no stages; each stage alone (routing with one target per route, as without a config file, and with a
 * fallback chain of two whose first target answers); the default pipeline's protection stages together; the logging stage as the
 * proxy builds it (priced, recording into the metrics and the dashboard's summary); the default stages traced (a
 * span per stage, as with OTEL_EXPORTER_OTLP_ENDPOINT set, the export itself not included: it runs in batches off
 * the request); the cache stage with CACHE=on, answering every request from the store (a hit) or, with
 * `x-ccproxy-cache: refresh`, keying, calling and storing (what a miss costs beyond the call). Alone, the breaker and
 * the budgeted rate limits watch a stream themselves; behind the logging stage (as in the proxy) they read its
 * observations instead (`stream-watch.ts`), so the last variant is the one that prices the default pipeline. The rate-limits stage
 * is left out of the pipeline when neither UPSTREAM_RPM nor UPSTREAM_TPM is set (cost 0); it is measured with both
 * set to budgets it never exhausts (1e9 requests, 1e12 tokens a minute), so every request takes the admission path
 * without waiting. The structural check (`checkStructure`, run on every parsed body before the schema decode) is
 * timed on its own, on the parsed 50 KB and 500 KB bodies.
 *
 * Rounds are interleaved (round r runs every variant once) after warm-up rounds, with a full GC before each
 * measured batch; a stage's cost is the median over rounds of (variant − no stages) in the same round.
 *
 * Run by `npm run bench` as a child process (result over IPC, log lines drained by the bench), or alone:
 * `node --expose-gc bench/stages.ts >/dev/null` (the table goes to stderr, the request log lines to stdout).
 * Environment: BENCH_STAGES_ITERATIONS (requests per batch, default 1000), BENCH_STAGES_ROUNDS (9),
 * BENCH_QUICK=1 (300 × 5).
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as References from "effect/References"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Path from "node:path"
import { parseGuardrails } from "../src/guardrails/settings.ts"
import { checkStructure } from "../src/guardrails/structure.ts"
import * as Result from "effect/Result"
import * as Cache from "../src/cache/cache.ts"
import { parseCacheSettings } from "../src/cache/settings.ts"
import { Log } from "../src/log.ts"
import { Metrics } from "../src/observability/metrics.ts"
import { Prices, tokenUsage } from "../src/observability/prices.ts"
import { parsePricesSettings } from "../src/observability/prices-settings.ts"
import { RequestSinks } from "../src/observability/record.ts"
import { ProxyConfig, parseConfig } from "../src/config.ts"
import { makeCacheStage } from "../src/pipeline/cache.ts"
import { routing } from "../src/pipeline/routing.ts"
import type { Routes } from "../src/routing/routes.ts"
import { convert } from "../src/pipeline/conversion.ts"
import { makeGuardrails } from "../src/pipeline/guardrails.ts"
import { logging, makeLogging } from "../src/pipeline/logging.ts"
import { breaker, limiter, makeRateLimits } from "../src/pipeline/protection.ts"
import { compose, type Handler, messageReply, type ProxyReply, type ProxyRequest, type Stage, streamReply } from "../src/pipeline/stage.ts"
import * as Protection from "../src/protection/protection.ts"
import type { MessageResponse, MessagesRequest, StreamEvent } from "../src/protocol/anthropic.ts"
import { loadBodies } from "./bodies.ts"

const ROOT = Path.resolve(import.meta.dirname, "..")

export interface VariantResult {
  readonly name: string
  readonly stages: ReadonlyArray<string>
  /** Median CPU µs per request of the whole variant (compose + scope + the stages + the core + draining). */
  readonly usPerRequest: number
  /** Median over rounds of (this variant − no stages), µs per request; 0 for the baseline itself. */
  readonly addedUs: number
  readonly roundsUs: ReadonlyArray<number>
  /** The same in wall-clock time (higher than the CPU time when other processes compete for the cores). */
  readonly wallUsPerRequest: number
}

export interface StructureTiming {
  readonly label: string
  readonly bodyBytes: number
  readonly iterations: number
  readonly usPerCall: number
  readonly roundsUs: ReadonlyArray<number>
}

export interface StagesResult {
  readonly iterations: number
  readonly rounds: number
  readonly warmupRounds: number
  readonly streamChunks: number
  readonly rateLimitBudgets: { readonly rpm: number; readonly tpm: number }
  readonly stream: ReadonlyArray<VariantResult>
  readonly message: ReadonlyArray<VariantResult>
  readonly structure: ReadonlyArray<StructureTiming>
  readonly seconds: number
}

const positive = (name: string, fallback: number) => {
  const value = Number(process.env[name] ?? "")
  return Number.isFinite(value) && value > 0 ? Math.round(value) : fallback
}
const QUICK = process.env.BENCH_QUICK === "1"
const ITERATIONS = positive("BENCH_STAGES_ITERATIONS", QUICK ? 300 : 1000)
const ROUNDS = positive("BENCH_STAGES_ROUNDS", QUICK ? 5 : 9)
const WARMUP_ROUNDS = QUICK ? 1 : 2
const RPM = 1_000_000_000
const TPM = 1_000_000_000_000

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}
const round = (value: number, digits = 3) => Math.round(value * 10 ** digits) / 10 ** digits
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})

// ---------------------------------------------------------------------------------------------------------------
// The trivial core

const USAGE_START = { input_tokens: 12_313, output_tokens: 1, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 }
const USAGE_END = { input_tokens: 12_243, output_tokens: 58, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 }

const MESSAGE: MessageResponse = {
  id: "msg_bench000000000000000000",
  type: "message",
  role: "assistant",
  model: "claude-opus-5-5",
  content: [
    { type: "text", text: "I'll run the failing test first, then read the module it covers." },
    { type: "tool_use", id: "toolu_bench0000000000000001", name: "Bash", input: { command: "npm test", description: "Run the tests" } }
  ],
  stop_reason: "tool_use",
  stop_sequence: null,
  usage: USAGE_END
}

const TEXT = "I'll run the failing test first, then read the module it covers."
const ARGUMENTS = JSON.stringify({ command: "npm test -- --run test/convert/stream.test.ts", description: "Run the stream conversion tests" })
const EVENTS: ReadonlyArray<StreamEvent> = [
  { type: "message_start", message: { ...MESSAGE, content: [], stop_reason: null, usage: USAGE_START } },
  { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } },
  ...Array.from({ length: 20 }, (_, i): StreamEvent => ({
    type: "content_block_delta",
    index: 0,
    delta: { type: "text_delta", text: TEXT.slice(i * 3, i * 3 + 3) }
  })),
  { type: "content_block_stop", index: 0 },
  { type: "content_block_start", index: 1, content_block: { type: "tool_use", id: "toolu_bench0000000000000001", name: "Bash", input: {} } },
  ...Array.from({ length: 10 }, (_, i): StreamEvent => ({
    type: "content_block_delta",
    index: 1,
    delta: { type: "input_json_delta", partial_json: ARGUMENTS.slice(i * 11, i === 9 ? undefined : i * 11 + 11) }
  })),
  { type: "content_block_stop", index: 1 },
  { type: "message_delta", delta: { stop_reason: "tool_use", stop_sequence: null }, usage: USAGE_END },
  { type: "message_stop" }
]
const CHUNKS = EVENTS.map((event) => [event])

const streamCore: Handler = () => Effect.succeed(streamReply(Stream.fromArrays(...CHUNKS), "gpt-5"))
const messageCore: Handler = () => Effect.succeed(messageReply(MESSAGE, "gpt-5"))

/** As the HTTP edge does it: the request's own scope, the stream written out inside it, then the scope closes. */
const drain = (reply: ProxyReply): Effect.Effect<void, unknown, Scope.Scope> =>
  reply._tag === "Stream" ? Stream.runDrain(reply.events) : Effect.void

// ---------------------------------------------------------------------------------------------------------------

const main = async (): Promise<StagesResult> => {
  const started = performance.now()
  const bodies = loadBodies(ROOT)
  const parsedFirst = JSON.parse(bodies.firstTurn) as MessagesRequest
  const parsedLong = JSON.parse(bodies.longSession) as MessagesRequest
  const bytes = Buffer.byteLength(bodies.firstTurn)
  const request: ProxyRequest = {
    id: "req_bench0000000000000000",
    body: parsedFirst,
    headers: {},
    client: { address: "127.0.0.1" },
    upstream: "generic",
    upstreamModel: "gpt-5",
    receivedBytes: bytes,
    estimatedTokens: Math.round(bytes / 4)
  }
  const guardrailSettings = parseGuardrails({})
  // The cache keys on the converted request, as it does behind the conversion stage.
  const converted = convert(request, "generic")
  if (Result.isFailure(converted)) throw new Error(`stages: the bench body does not convert: ${converted.failure.message}`)
  const convertedRequest: ProxyRequest = { ...request, conversion: converted.success }
  const refreshRequest: ProxyRequest = { ...convertedRequest, headers: { "x-ccproxy-cache": "refresh" } }

  const program = Effect.gen(function*() {
    const defaults = yield* Layer.build(Protection.layer(Protection.parseProtection({})))
    const budgets = yield* Layer.build(Protection.layer(Protection.parseProtection({ UPSTREAM_RPM: String(RPM), UPSTREAM_TPM: String(TPM) })))
    const breakerStage = yield* Effect.provideContext(breaker, defaults)
    const limiterStage = yield* Effect.provideContext(limiter, defaults)
    const rateLimitStage = yield* Effect.provideContext(makeRateLimits(false), budgets)
    const coolDownStage = yield* Effect.provideContext(makeRateLimits(true), defaults)
    const guardrailStage = makeGuardrails(guardrailSettings)
    const loggingStage: Stage = yield* logging
    // As the proxy builds it: priced, and recorded into the Prometheus metrics and the dashboard's summary.
    const prices = yield* Prices.make({
      upstreams: [{ name: "generic", baseUrl: "https://api.openai.com/v1" }],
      settings: parsePricesSettings({})
    })
    const metrics = yield* Layer.build(Metrics.layer)
    const recordedLoggingStage: Stage = yield* makeLogging((upstream, model, usage) => prices.costOf(upstream, model, tokenUsage(usage))).pipe(
      Effect.provideService(RequestSinks, [Context.get(metrics, Metrics)])
    )
    // The route table as a setup without a config file has it (one target per route), and with a fallback chain.
    const config = parseConfig({})
    const routingStage: Stage = yield* Effect.provideService(routing, ProxyConfig, config)
    const chain: Routes["default"] = [{ provider: "openai", model: "gpt-5" }, { provider: "openai", model: "gpt-4.1" }]
    const chainStage: Stage = yield* Effect.provideService(routing, ProxyConfig, { ...config, routes: { ...config.routes, default: chain } })
    const cacheStage: Stage = yield* makeCacheStage(parseCacheSettings({ CACHE: "on" })).pipe(
      Effect.provide(Cache.layer(parseCacheSettings({ CACHE: "on" })))
    )

    const variants: ReadonlyArray<{ name: string; stages: ReadonlyArray<Stage>; request?: ProxyRequest; traced?: boolean }> = [
      { name: "no stages", stages: [] },
      { name: "guardrails (SECRET_GUARD=off)", stages: [guardrailStage] },
      { name: "breaker (default)", stages: [breakerStage] },
      { name: "limiter (default, 64)", stages: [limiterStage] },
      { name: "rate-limits (default: cool-downs only)", stages: [coolDownStage] },
      { name: "rate-limits (RPM + TPM set)", stages: [rateLimitStage] },
      { name: "logging (LOG_LEVEL=info)", stages: [loggingStage] },
      { name: "routing (one target: every route without a fallback chain)", stages: [routingStage] },
      { name: "routing (a fallback chain of two; the first answers)", stages: [chainStage] },
      { name: "logging + guardrails + breaker + limiter + rate-limits", stages: [loggingStage, guardrailStage, breakerStage, limiterStage, coolDownStage] },
      { name: "logging with prices and metrics (as in the proxy)", stages: [recordedLoggingStage] },
      {
        name: "the default stages, traced (OTEL_EXPORTER_OTLP_ENDPOINT set: a span per stage, export not included)",
        stages: [loggingStage, guardrailStage, breakerStage, limiterStage, coolDownStage],
        traced: true
      },
      { name: "cache (CACHE=on), every request a hit", stages: [cacheStage], request: convertedRequest },
      { name: "cache (CACHE=on), x-ccproxy-cache: refresh (key, call, store)", stages: [cacheStage], request: refreshRequest }
    ]

    const measureShape = (core: Handler) =>
      Effect.gen(function*() {
        const handlers = variants.map((v) => {
          const handler = compose(v.stages, core, v.traced === true)
          const subject = v.request ?? request
          const run = () => Effect.scoped(Effect.flatMap(handler(subject), drain))
          return v.traced === true ? () => Effect.provideService(run(), References.TracerEnabled, true) : run
        })
        const batch = (run: () => Effect.Effect<void, unknown>) => {
          let i = 0
          return Effect.whileLoop({
            while: () => i < ITERATIONS,
            body: run,
            step: () => {
              i++
            }
          })
        }
        const times: Array<Array<number>> = variants.map(() => [])
        const wall: Array<Array<number>> = variants.map(() => [])
        for (let r = 0; r < WARMUP_ROUNDS + ROUNDS; r++) {
          for (let v = 0; v < handlers.length; v++) {
            gc()
            const t0 = performance.now()
            const c0 = process.cpuUsage()
            yield* Effect.orDie(batch(handlers[v]!))
            const cpu = process.cpuUsage(c0)
            if (r >= WARMUP_ROUNDS) {
              times[v]!.push((cpu.user + cpu.system) / ITERATIONS)
              wall[v]!.push(((performance.now() - t0) * 1000) / ITERATIONS)
            }
          }
        }
        return variants.map((v, index): VariantResult => ({
          name: v.name,
          stages: v.stages.map((s) => s.name),
          usPerRequest: round(median(times[index]!)),
          addedUs: index === 0 ? 0 : round(median(times[index]!.map((us, r) => us - times[0]![r]!))),
          roundsUs: times[index]!.map((us) => round(us, 2)),
          wallUsPerRequest: round(median(wall[index]!))
        }))
      })

    const stream = yield* measureShape(streamCore)
    const message = yield* measureShape(messageCore)
    return { stream, message }
  }).pipe(
    Effect.scoped,
    Effect.provide(Layer.mergeAll(Log.layer("info"), Layer.succeed(References.TracerEnabled, false)))
  )

  const { stream, message } = await Effect.runPromise(program)

  // The structural check, on its own: what every request pays before the schema decode.
  const limits = guardrailSettings.limits
  const structure: Array<StructureTiming> = []
  for (const [label, json, body, iterations] of [
    ["50 KB body", parsedFirst, bodies.firstTurn, ITERATIONS],
    ["500 KB body", parsedLong, bodies.longSession, Math.max(20, Math.round(ITERATIONS / 10))]
  ] as const) {
    if (checkStructure(json, limits) !== undefined) throw new Error(`${label}: the structural check refused the bench body`)
    const rounds: Array<number> = []
    for (let r = 0; r < WARMUP_ROUNDS + ROUNDS; r++) {
      gc()
      const c0 = process.cpuUsage()
      for (let i = 0; i < iterations; i++) checkStructure(json, limits)
      const cpu = process.cpuUsage(c0)
      if (r >= WARMUP_ROUNDS) rounds.push((cpu.user + cpu.system) / iterations)
    }
    structure.push({
      label,
      bodyBytes: Buffer.byteLength(body),
      iterations,
      usPerCall: round(median(rounds)),
      roundsUs: rounds.map((us) => round(us, 2))
    })
  }

  return {
    iterations: ITERATIONS,
    rounds: ROUNDS,
    warmupRounds: WARMUP_ROUNDS,
    streamChunks: CHUNKS.length,
    rateLimitBudgets: { rpm: RPM, tpm: TPM },
    stream,
    message,
    structure,
    seconds: round((performance.now() - started) / 1000, 1)
  }
}

const describe = (result: StagesResult): string => {
  const lines = [`stages: ${result.iterations} requests × ${result.rounds} rounds (+${result.warmupRounds} warm-up), ${result.seconds} s`]
  for (const shape of ["stream", "message"] as const) {
    for (const v of result[shape]) {
      lines.push(`  ${shape.padEnd(7)} ${v.name.padEnd(42)} ${v.usPerRequest.toFixed(2).padStart(8)} µs/req  (+${v.addedUs.toFixed(2)} µs)`)
    }
  }
  for (const s of result.structure) lines.push(`  checkStructure ${s.label.padEnd(12)} ${s.usPerCall.toFixed(2).padStart(8)} µs/call`)
  return lines.join("\n")
}

main().then(
  (result) => {
    if (process.send && process.channel) {
      process.send({ type: "stages", result })
      // The bench stops this process by PID once it has the result; if the bench goes away, go too.
      process.on("disconnect", () => process.exit(0))
    } else {
      process.stderr.write(`${describe(result)}\n`)
    }
  },
  (error: unknown) => {
    process.stderr.write(`stages failed: ${error instanceof Error ? error.stack : String(error)}\n`)
    process.exit(1)
  }
)
