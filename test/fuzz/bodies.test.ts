/**
 * HTTP fuzz: at least 10,000 generated and mutated bodies per run (mutations.ts) POSTed to /v1/messages and
 * /v1/messages/count_tokens of a real proxy on loopback (the harness), whose scripted upstream answers every request
 * with a valid completion.
 *
 * Properties, per request: a 2xx (a complete JSON message, a token count, or an SSE stream ending with
 * `message_stop`) or a 4xx in Anthropic's shape (`{"type":"error","error":{"type","message"},"request_id"}`, the
 * id matching the `request-id` header); never a 5xx, a reset connection or a hang (each request is bounded). Per
 * run: the proxy still answers afterwards, no prototype was polluted, and the heap after a full GC comes back near
 * where it started.
 *
 * Cost: client, proxy and upstream would all share one thread, so generating and sending run in a worker thread
 * (sender-worker.ts); the proxy keeps the test's thread. About 2-3 ms of CPU per body, mostly the proxy's own
 * parse and decode. Batches of 500, 8 requests in flight.
 *
 * Reproducible: the seed is printed; FUZZ_SEED replays it, FUZZ_BODIES changes the count, FUZZ_PROFILE=1 prints
 * the time per mutation kind, FUZZ_IN_PROCESS=1 sends from the test's thread. Failing bodies are written to
 * $TMPDIR/ccproxy-fuzz-<seed>/ (up to 25) with their labels.
 */
import { expect, layer } from "@effect/vitest"
import { Effect, type Scope } from "effect"
import { mkdirSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { performance } from "node:perf_hooks"
import { Worker } from "node:worker_threads"
import { type Cassette, sseCassette } from "../../src/upstream/cassette.ts"
import { Harness, harness, type HarnessShape } from "../support/harness.ts"
import { expectPermitsBack, settledHeapUsed } from "../support/leaks.ts"
import { jsonCassette, type RecordedRequest, type Script } from "../support/scripted-upstream.ts"
import { type BatchRequest, type BatchResult, type Failure, makeClient, runBatch } from "./sender.ts"

const TOTAL = Number(process.env.FUZZ_BODIES ?? 10_000)
const BATCH = 500
const CONCURRENCY = 8
const SEED = Number(process.env.FUZZ_SEED ?? (Date.now() ^ (Math.random() * 0x7fffffff)) | 0)
const REQUEST_TIMEOUT_MS = 20_000
/**
 * Sampled batches stop once this much time has passed, whatever the count (the count check then fails, naming the
 * budget): a machine so loaded that 10,000 bodies take this long should fail here, not at vitest's timeout.
 */
const BUDGET_MS = Number(process.env.FUZZ_BUDGET_MS ?? 100_000)
const PROFILE = process.env.FUZZ_PROFILE === "1"
const IN_PROCESS = process.env.FUZZ_IN_PROCESS === "1"
/** Heap growth allowed after a full GC: across the run, and across its second half. See the checks. */
const HEAP_GROWTH_LIMIT_MB = 48
const HEAP_GROWTH_SECOND_HALF_LIMIT_MB = 16

// ---------------------------------------------------------------------------------------------------------------
// The upstream: a valid answer to everything
// ---------------------------------------------------------------------------------------------------------------

const COMPLETION = {
  id: "chatcmpl-fuzz",
  object: "chat.completion",
  choices: [{ index: 0, message: { role: "assistant", content: "fuzzed, fine" }, finish_reason: "stop" }],
  usage: { prompt_tokens: 12, completion_tokens: 3 }
}
const STREAM = sseCassette("fuzz", [
  { choices: [{ index: 0, delta: { role: "assistant", content: "fuzzed" }, finish_reason: null }] },
  { choices: [{ index: 0, delta: { content: ", fine" }, finish_reason: null }] },
  { choices: [{ index: 0, delta: {}, finish_reason: "stop" }] },
  { choices: [], usage: { prompt_tokens: 12, completion_tokens: 3 } }
])
const JSON_ANSWER: Cassette = jsonCassette(COMPLETION)

/** Answers and queues itself again, so the queue is never empty however many requests arrive. */
const catchAll = (proxy: HarnessShape): Script => {
  const script: Script = (request: RecordedRequest) => {
    proxy.upstream.enqueue(script)
    return request.body?.stream === true ? STREAM : JSON_ANSWER
  }
  return script
}

/** Distinct defects the proxy logged (first lines of their causes), for the failure report. */
const defects = new Map<string, number>()

/**
 * A clean page between batches: the scripted upstream records every request body and the harness every log
 * line, which this run must not keep. Defects logged are counted first.
 */
const resetUpstream = (proxy: HarnessShape) => {
  for (const line of proxy.logs) {
    if (line.msg !== "unexpected failure" && line.msg !== "stream defect") continue
    const cause = String(line.cause ?? "").split("\n").slice(0, 3).join(" | ")
    defects.set(cause, (defects.get(cause) ?? 0) + 1)
  }
  proxy.upstream.reset()
  proxy.upstream.enqueue(catchAll(proxy))
  proxy.logs.length = 0
}

// ---------------------------------------------------------------------------------------------------------------
// The sender: a worker thread, or this thread
// ---------------------------------------------------------------------------------------------------------------

interface Sender {
  readonly run: (batch: Omit<BatchRequest, "baseUrl" | "concurrency" | "timeoutMs" | "profile">) => Promise<BatchResult>
}

const sender = (baseUrl: string): Effect.Effect<Sender, never, Scope.Scope> => {
  const base = { baseUrl, concurrency: CONCURRENCY, timeoutMs: REQUEST_TIMEOUT_MS, profile: PROFILE }
  if (IN_PROCESS) {
    return Effect.map(
      Effect.acquireRelease(Effect.sync(() => makeClient(CONCURRENCY)), (client) => Effect.promise(() => client.close())),
      (client): Sender => ({ run: (batch) => runBatch(client, { ...base, ...batch }) })
    )
  }
  return Effect.map(
    Effect.acquireRelease(
      Effect.sync(() => new Worker(new URL("./sender-worker.ts", import.meta.url))),
      (worker) =>
        Effect.promise(async () => {
          worker.postMessage("close")
          await Promise.race([new Promise((resolve) => worker.once("exit", resolve)), new Promise((r) => setTimeout(r, 2_000))])
          await worker.terminate()
        })
    ),
    (worker): Sender => ({
      run: (batch) =>
        new Promise((resolve, reject) => {
          const onMessage = (result: BatchResult | { error: string }) => {
            worker.off("error", onError)
            if ("error" in result) reject(new Error(`fuzz sender failed: ${result.error}`))
            else resolve(result)
          }
          const onError = (error: Error) => {
            worker.off("message", onMessage)
            reject(error)
          }
          worker.once("message", onMessage)
          worker.once("error", onError)
          worker.postMessage({ ...base, ...batch })
        })
    })
  )
}

// ---------------------------------------------------------------------------------------------------------------
// Reporting
// ---------------------------------------------------------------------------------------------------------------

const excerpt = (bytes: Uint8Array) => {
  const text = Buffer.from(bytes.subarray(0, 160)).toString("utf8")
  return `${text}${bytes.length > 160 ? `… (${bytes.length} bytes)` : ""}`
}

/** Groups by mutation kind and problem, writes the first bodies to disk, and returns a readable summary. */
const report = (failures: ReadonlyArray<Failure>): string => {
  if (failures.length === 0) return ""
  const dir = join(tmpdir(), `ccproxy-fuzz-${SEED}`)
  mkdirSync(dir, { recursive: true })
  failures.slice(0, 25).forEach((failure, i) => {
    writeFileSync(join(dir, `${i}.body`), failure.body)
    writeFileSync(join(dir, `${i}.txt`), `${failure.path}\n${failure.label}\n${failure.problem}\n`)
  })
  // One group per problem (request ids and the tail of long messages aside), with the mutation kinds that hit it.
  const groups = new Map<string, Array<Failure>>()
  for (const failure of failures) {
    const key = failure.problem.replace(/req_[0-9A-Za-z]+/g, "req_…").slice(0, 120)
    groups.set(key, [...(groups.get(key) ?? []), failure])
  }
  const lines = [...groups].sort((a, b) => b[1].length - a[1].length).slice(0, 20).map(([key, group]) => {
    const kinds = new Map<string, number>()
    for (const failure of group) kinds.set(failure.kind, (kinds.get(failure.kind) ?? 0) + 1)
    const topKinds = [...kinds].sort((a, b) => b[1] - a[1]).slice(0, 4).map(([kind, n]) => `${kind} ×${n}`).join(", ")
    const smallest = group.reduce((a, b) => (b.body.length < a.body.length ? b : a))
    return `  ${group.length}× ${key}\n     kinds: ${topKinds}\n     smallest: ${smallest.path} ${smallest.label.slice(0, 200)}\n     body: ${excerpt(smallest.body)}`
  })
  const logged = [...defects].slice(0, 5).map(([cause, n]) => `  ${n}× ${cause.slice(0, 400)}`)
  return `${failures.length} failing bodies (seed ${SEED}; FUZZ_SEED=${SEED} to replay; bodies in ${dir}):\n${lines.join("\n")}` +
    (logged.length > 0 ? `\ndefects in the proxy log:\n${logged.join("\n")}` : "")
}

const profileLines = (results: ReadonlyArray<BatchResult>): string => {
  const total = new Map<string, { n: number; ms: number }>()
  for (const result of results) {
    for (const [kind, { n, ms }] of result.timeByKind) {
      const entry = total.get(kind) ?? { n: 0, ms: 0 }
      entry.n += n
      entry.ms += ms
      total.set(kind, entry)
    }
  }
  return [...total].sort((a, b) => b[1].ms - a[1].ms).slice(0, 30)
    .map(([kind, { n, ms }]) => `  ${kind}: ${n} × ${(ms / n).toFixed(1)} ms`).join("\n")
}

// ---------------------------------------------------------------------------------------------------------------

// Retries off (the upstream never fails); logs at warn (10,000 info lines are noise).
layer(harness({ UPSTREAM_MAX_RETRIES: "0", LOG_LEVEL: "warn" }), { excludeTestServices: true })("HTTP fuzz", (it) => {
  it.effect(`${TOTAL} generated and mutated bodies: 2xx or Anthropic-shaped 4xx only, no leak`, () =>
    Effect.gen(function*() {
      const proxy = yield* Harness
      const send = yield* sender(proxy.url)
      const started = Date.now()
      resetUpstream(proxy)

      // Warm-up (its bodies count, its failures too): the tokenizer (built on the first count), the stream and JSON
      // paths, the caches, so the heap baseline is taken on a warm proxy.
      const results: Array<BatchResult> = [yield* Effect.promise(() => send.run({ cases: { seed: SEED ^ 0x5eed, numRuns: 200 } }))]
      // The tokenizer (~65 MB of ranks) is built by the first count that gets that far, which the warm-up's
      // random bodies may not include: built after the baseline, it read as a 65 MB leak (seed 182116231).
      const counted = yield* Effect.promise(() =>
        fetch(`${proxy.url}/v1/messages/count_tokens`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ model: "claude-sonnet-4-6", messages: [{ role: "user", content: "hi" }] })
        }).then((r) => r.status)
      )
      expect(counted).toBe(200)
      resetUpstream(proxy)
      const heapBefore = yield* Effect.promise(settledHeapUsed)

      const eluStart = performance.eventLoopUtilization()
      const cpuStart = process.cpuUsage()
      let upstreamCalls = 0
      let heapHalfway: number | undefined
      for (let batch = 0, sent = 0; sent < TOTAL && Date.now() - started < BUDGET_MS; batch++) {
        const result = yield* Effect.promise(() => send.run({ cases: { seed: SEED + batch, numRuns: Math.min(BATCH, TOTAL - sent) } }))
        results.push(result)
        sent += result.sent
        upstreamCalls += proxy.upstream.requests.length
        resetUpstream(proxy)
        yield* expectPermitsBack(proxy)
        if (heapHalfway === undefined && sent >= TOTAL / 2) heapHalfway = yield* Effect.promise(settledHeapUsed)
      }
      const heapBatchesEnd = yield* Effect.promise(settledHeapUsed)
      const batchesCpu = process.cpuUsage(cpuStart)
      const batchesMs = Date.now() - started
      results.push(yield* Effect.promise(() => send.run({ cases: "large" })))
      if (PROFILE) {
        console.log(`batches: ${batchesMs} ms since start, ${((batchesCpu.user + batchesCpu.system) / 1e6).toFixed(1)} s CPU; large: ${Date.now() - started - batchesMs} ms`)
      }
      upstreamCalls += proxy.upstream.requests.length
      resetUpstream(proxy)

      // Still answering, and nothing leaked into the prototypes through `__proto__` / `constructor` keys.
      const health = yield* Effect.promise(() => fetch(`${proxy.url}/`).then((r) => r.status))
      expect(health).toBe(200)
      expect(({} as Record<string, unknown>).polluted, "Object.prototype polluted").toBeUndefined()
      expect(([] as unknown as Record<string, unknown>).polluted, "Array.prototype polluted").toBeUndefined()

      const heapAfter = yield* Effect.promise(settledHeapUsed)
      const growthMb = (heapAfter - heapBefore) / 1024 / 1024
      // The second half of the sampled batches; the large bodies come after, and may each leave a cache entry.
      const secondHalfMb = (heapBatchesEnd - (heapHalfway ?? heapBefore)) / 1024 / 1024
      const sent = results.reduce((n, r) => n + r.sent, 0)
      const failures = results.flatMap((r) => r.failures)
      const generationMs = results.reduce((n, r) => n + r.generationMs, 0)
      console.log(
        `fuzz: ${sent} bodies in ${((Date.now() - started) / 1000).toFixed(1)} s ` +
          `(generation ${(generationMs / 1000).toFixed(1)} s, ${IN_PROCESS ? "in process" : "in a worker"}), ` +
          `${upstreamCalls} reached the upstream, ${failures.length} failed; seed ${SEED}; ` +
          `heap after GC ${(heapBefore / 1048576).toFixed(1)} → ${((heapHalfway ?? 0) / 1048576).toFixed(1)} (halfway) → ` +
          `${(heapBatchesEnd / 1048576).toFixed(1)} (sampled bodies done) → ${(heapAfter / 1048576).toFixed(1)} MB (large bodies done)` +
          (PROFILE
            ? `; this thread busy ${(performance.eventLoopUtilization(eluStart).utilization * 100).toFixed(0)} %, ` +
              `process CPU ${((process.cpuUsage(cpuStart).user + process.cpuUsage(cpuStart).system) / 1e6).toFixed(1)} s\n${profileLines(results)}`
            : "")
      )
      expect(sent, `bodies sent within the ${BUDGET_MS / 1000} s budget (FUZZ_BUDGET_MS)`).toBeGreaterThanOrEqual(Math.min(TOTAL, 10_000))
      expect(failures, report(failures)).toHaveLength(0)
      // Near its start: the proxy keeps two bounded caches of long strings (the upstream literal cache, 32 MB of
      // literals and keys, and the token-count cache, 32 M characters), which fuzzed strings can fill part-way;
      // everything else a request allocates must be gone. A per-request leak of 5 KB would show as 50 MB over the
      // run; the second half (caches warm by then) catches a leak of about 3 KB a request or more.
      expect(growthMb, `heap grew ${growthMb.toFixed(1)} MB across the run`).toBeLessThan(HEAP_GROWTH_LIMIT_MB)
      expect(secondHalfMb, `heap grew ${secondHalfMb.toFixed(1)} MB across the second half`).toBeLessThan(HEAP_GROWTH_SECOND_HALF_LIMIT_MB)
    }), BUDGET_MS + 50_000)
})
