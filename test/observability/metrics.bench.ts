/**
 * Micro-benchmark (not a test): what the metrics cost per request.
 *
 *   export PATH=/work/main/node_modules/.bin:$PATH && node test/observability/metrics.bench.ts
 *
 * Each case runs N calls in one fiber, keeps the fastest of a few rounds and subtracts the baseline (yielding `Effect.void`, the least a sink call
 * can cost). Records cycle through a few models, statuses and stream flags, as real traffic does. Numbers are µs
 * per call; the budget for the whole feature is a few µs per request (~800 req/s per core).
 */
import { Effect, Layer } from "effect"
import type { RequestRecord } from "../../src/observability/record.ts"
import { attemptFinished, Metrics, rateLimitRejected, streamClosed, streamOpened } from "../../src/observability/metrics.ts"

const N = 200_000
const ROUNDS = 9

const base: RequestRecord = {
  startedAt: Date.now(),
  id: "req_0123456789",
  route: "messages",
  clientModel: "claude-sonnet-4-6",
  upstream: "openai",
  upstreamModel: "gpt-4.1",
  routedBy: "default",
  failedOver: [],
  stream: true,
  status: 200,
  durationMs: 1234,
  ttftMs: 321,
  inputTokens: 1500,
  outputTokens: 300,
  cacheReadTokens: 1024,
  cacheCreationTokens: null,
  reasoningTokens: 0,
  costUsd: 0.0123,
  cache: "miss",
  retries: 0,
  stopReason: "end_turn",
  clientKey: null,
  error: null
}

const records: ReadonlyArray<RequestRecord> = [
  base,
  { ...base, stream: false, durationMs: 4321, cache: null },
  { ...base, clientModel: "claude-haiku-4-5", upstreamModel: "gpt-4.1-mini", durationMs: 450, ttftMs: 120 },
  { ...base, status: 429, inputTokens: null, outputTokens: null, costUsd: null, ttftMs: null, cache: null, retries: 2 },
  { ...base, clientModel: "claude-opus-4-1", upstreamModel: "o3", reasoningTokens: 800, costUsd: null },
  { ...base, error: "api_error: upstream stream broke", durationMs: 60_000 },
  { ...base, status: 400, upstream: null, upstreamModel: null, inputTokens: null, outputTokens: null, costUsd: null },
  { ...base, cache: "hit", durationMs: 12, ttftMs: 12, costUsd: 0 }
]

const time = (label: string, body: (i: number) => Effect.Effect<void>) =>
  Effect.gen(function*() {
    for (let i = 0; i < 50_000; i++) yield* body(i) // warm up
    const samples: Array<number> = []
    for (let round = 0; round < ROUNDS; round++) {
      const start = performance.now()
      for (let i = 0; i < N; i++) yield* body(i)
      samples.push(((performance.now() - start) * 1000) / N)
    }
    // The fastest round: other processes on the machine only ever add time.
    return { label, us: Math.min(...samples) }
  })

const program = Effect.gen(function*() {
  const metrics = yield* Metrics
  const results = [
    yield* time("baseline: yield Effect.void", () => Effect.void),
    yield* time("record(): Prometheus series + summary", (i) => metrics.record(records[i % records.length]!)),
    yield* time("streamOpened + streamClosed", () => Effect.andThen(streamOpened, streamClosed)),
    yield* time("attemptFinished", (i) => attemptFinished("openai", i % 5000, "success")),
    yield* time("rateLimitRejected", () => rateLimitRejected("openai"))
  ]
  const baseline = results[0]!.us
  for (const r of results) {
    const net = r === results[0] ? r.us : r.us - baseline
    console.log(`${r.label.padEnd(42)} ${net.toFixed(3)} µs${r === results[0] ? " (raw)" : ""}`)
  }
  // What a dashboard poll costs (the view, not its JSON encoding), warm.
  for (let i = 0; i < 100; i++) yield* metrics.summary
  const start = performance.now()
  for (let i = 0; i < 100; i++) yield* metrics.summary
  console.log(`${"summary view (GET /v1/metrics)".padEnd(42)} ${((performance.now() - start) * 10).toFixed(1)} µs`)
})

Effect.runPromise(program.pipe(Effect.provide(Layer.fresh(Metrics.layer))))
