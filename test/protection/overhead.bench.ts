/**
 * Micro-benchmark (not a test): what the protections cost per request at their defaults.
 *
 *   export PATH=/work/main/node_modules/.bin:$PATH && node test/protection/overhead.bench.ts
 *
 * Each case runs N requests in one fiber and subtracts a baseline that does the same without the protection (a
 * request already has its own scope, so the baseline opens and closes one too). Numbers are µs per request.
 */
import { Duration, Effect, Exit, Fiber } from "effect"
import { UpstreamBreaker } from "../../src/protection/breaker.ts"
import { ConcurrencyLimiter } from "../../src/protection/concurrency.ts"
import * as Protection from "../../src/protection/protection.ts"
import { UpstreamRateLimits } from "../../src/protection/rate-limits.ts"

const N = 100_000
const ROUNDS = 3

const time = <E>(label: string, body: Effect.Effect<void, E>) =>
  Effect.gen(function*() {
    yield* Effect.repeat(body, { times: 20_000 }) // warm up
    const samples: Array<number> = []
    for (let round = 0; round < ROUNDS; round++) {
      const start = performance.now()
      for (let i = 0; i < N; i++) yield* body
      samples.push(((performance.now() - start) * 1000) / N)
    }
    samples.sort((a, b) => a - b)
    return { label, us: samples[Math.floor(ROUNDS / 2)]! }
  })

const program = Effect.gen(function*() {
  const limiter = yield* ConcurrencyLimiter
  const breaker = yield* UpstreamBreaker
  const limits = yield* UpstreamRateLimits

  const results = [
    yield* time("baseline: a scope per request", Effect.scoped(Effect.void)),
    yield* time("limiter: acquire + release (free permit)", Effect.scoped(limiter.acquire("up"))),
    yield* time("breaker: protect (closed)", Effect.scoped(breaker.protect("up", Effect.void))),
    yield* time(
      "breaker: admit + report (stream form)",
      Effect.scoped(Effect.flatMap(breaker.admit("up"), (call) => call.reportExit(Exit.void)))
    ),
    yield* time(
      "rate limits: acquire + settle + feedback (unlimited)",
      Effect.scoped(
        Effect.flatMap(limits.acquire("up", 1000), (ticket) =>
          Effect.andThen(limits.settle(ticket, 900), limits.feedback("up", { _tag: "Success" })))
      )
    ),
    yield* time(
      "all three, defaults",
      Effect.scoped(
        Effect.gen(function*() {
          yield* limiter.acquire("up")
          const ticket = yield* limits.acquire("up", 1000)
          yield* breaker.protect("up", Effect.void)
          yield* limits.settle(ticket, 900)
          yield* limits.feedback("up", { _tag: "Success" })
        })
      )
    )
  ]
  const base = results[0]!.us
  for (const r of results) {
    console.log(`${r.label.padEnd(56)} ${r.us.toFixed(3)} µs${r === results[0] ? "" : `  (+${(r.us - base).toFixed(3)})`}`)
  }

  // With budgets configured every request makes store calls; for the record, not a default.
  const limited = yield* Effect.provide(
    UpstreamRateLimits,
    UpstreamRateLimits.layerMemory({ rpm: 1e9, tpm: 1e12, queueTimeout: Duration.seconds(30) })
  )
  const r = yield* time(
    "rate limits: acquire + settle + feedback (RPM+TPM set)",
    Effect.flatMap(limited.acquire("up", 1000), (ticket) =>
      Effect.andThen(limited.settle(ticket, 900), limited.feedback("up", { _tag: "Success" })))
  )
  console.log(`${r.label.padEnd(56)} ${r.us.toFixed(3)} µs  (+${(r.us - base).toFixed(3)}, no scope)`)

  // Saturated limiter: every acquire goes through the queue (timeout race included).
  const small = yield* Effect.provide(ConcurrencyLimiter, ConcurrencyLimiter.layer({ maxConcurrent: 4, queueTimeout: Duration.seconds(30) }))
  const M = 50_000
  const start = performance.now()
  const fibers = yield* Effect.forEach(
    Array.from({ length: 64 }),
    () => Effect.forkChild(Effect.repeat(Effect.scoped(Effect.andThen(small.acquire("up"), Effect.yieldNow)), { times: M / 64 })),
  )
  yield* Fiber.joinAll(fibers)
  console.log(`${"limiter: saturated (64 fibers, 4 permits), per acquire".padEnd(56)} ${(((performance.now() - start) * 1000) / M).toFixed(3)} µs`)
})

Effect.runPromise(program.pipe(Effect.provide(Protection.layer(Protection.defaultProtection))))
