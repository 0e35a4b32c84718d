/**
 * Leak checks for the fault and fuzz suites: what a request may leave behind once its reply has ended, however it
 * ended. Each check waits briefly for things to settle (sockets close and timers clear a tick or two after the
 * client sees the end), then asserts.
 *
 * - upstream sockets: the faulty upstream counts the sockets it accepted and that are still open;
 * - timers: `process.getActiveResourcesInfo()` lists one "Timeout" per *ref'd* timer in this process (the proxy
 *   runs in-process, in the test worker). A case takes a baseline while nothing is in flight and expects the count
 *   back at or below it: the harness's own timers, vitest's, and any keep-alive timers are in both counts. Unref'd
 *   timers (socket idle timeouts, undici's timer wheel) are not listed, so they cannot make this flaky;
 * - limiter permits: `expectPermitsBack`, read from `GET /health` (see there).
 */
import { expect } from "@effect/vitest"
import { Effect } from "effect"
import * as v8 from "node:v8"
import * as vm from "node:vm"
import type { HarnessShape } from "./harness.ts"

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Polls `done` every few ms until it holds or `timeoutMs` passes; says whether it held. */
export const waitUntil = async (done: () => boolean, timeoutMs: number, stepMs = 10): Promise<boolean> => {
  const deadline = Date.now() + timeoutMs
  while (!done()) {
    if (Date.now() >= deadline) return false
    await sleep(stepMs)
  }
  return true
}

/** Ref'd timers alive in this process right now. */
export const activeTimers = (): number => {
  let count = 0
  for (const resource of process.getActiveResourcesInfo()) if (resource === "Timeout") count++
  return count
}

/** What a case compares against: take it while nothing is in flight. */
export interface LeakBaseline {
  readonly timers: number
}

/**
 * The lowest timer count over a few samples: a timer that is just about to fire or be cleared (a retry's wake-up,
 * an idle socket's FIN) must not raise the bar a leak would have to clear.
 */
export const leakBaseline: Effect.Effect<LeakBaseline> = Effect.promise(async () => {
  let timers = activeTimers()
  for (let i = 0; i < 4; i++) {
    await sleep(5)
    timers = Math.min(timers, activeTimers())
  }
  return { timers }
})

/**
 * No timer left running: the count of ref'd timers comes back to the baseline within `timeoutMs`. The wait covers
 * timers that legitimately end soon after a reply (the SSE reader's 1 s drain after `[DONE]`, a socket's FIN).
 */
export const expectTimersBack = (baseline: LeakBaseline, timeoutMs = 3_000): Effect.Effect<void> =>
  Effect.promise(async () => {
    await waitUntil(() => activeTimers() <= baseline.timers, timeoutMs)
    const now = activeTimers()
    expect(now, `ref'd timers: ${now} now, ${baseline.timers} before the case (resources: ${process.getActiveResourcesInfo().join(", ")})`)
      .toBeLessThanOrEqual(baseline.timers)
  })

/** No upstream socket left open: `openSockets` reaches 0 within `timeoutMs`. */
export const expectUpstreamSocketsClosed = (
  upstream: { readonly drained: (timeoutMs?: number) => Promise<number> },
  timeoutMs = 2_000
): Effect.Effect<void> =>
  Effect.promise(async () => {
    const open = await upstream.drained(timeoutMs)
    expect(open, "upstream sockets still open after the case").toBe(0)
  })

/**
 * Every limiter permit is back: no request in flight and none queued, for every upstream, within `timeoutMs`.
 *
 * LEAD: filled in from what the proxy publishes today, `GET /health` →
 * `upstreams: [{ name, circuit, in_flight, queued, max_concurrent }]` (src/protection). A permit is released when the
 * request's scope closes, a tick after the client saw the end, hence the short poll. Swap the read for the limiter's
 * own state (a service in the harness context) if you prefer not to go through HTTP; the callers need not change.
 * Without a harness (or on a proxy whose /health has no `upstreams`) it checks nothing.
 */
export const expectPermitsBack = (harness?: HarnessShape, timeoutMs = 2_000): Effect.Effect<void> =>
  Effect.promise(async () => {
    if (harness === undefined) return
    type Upstream = { readonly name: string; readonly in_flight: number; readonly queued: number }
    const read = async (): Promise<ReadonlyArray<Upstream> | undefined> => {
      const response = await fetch(`${harness.url}/health`)
      const body = (await response.json()) as { upstreams?: ReadonlyArray<Upstream> }
      return body.upstreams
    }
    let upstreams = await read()
    if (upstreams === undefined) return
    const busy = (list: ReadonlyArray<Upstream>) => list.some((u) => u.in_flight !== 0 || u.queued !== 0)
    const deadline = Date.now() + timeoutMs
    while (busy(upstreams) && Date.now() < deadline) {
      await sleep(20)
      upstreams = (await read()) ?? []
    }
    expect(upstreams.map(({ name, in_flight, queued }) => ({ name, in_flight, queued })), "limiter permits in use or waiting")
      .toEqual(upstreams.map(({ name }) => ({ name, in_flight: 0, queued: 0 })))
  })

/** All three, in the order that makes failures easiest to read. */
export const expectNoLeaks = (
  baseline: LeakBaseline,
  upstream: { readonly drained: (timeoutMs?: number) => Promise<number> },
  harness?: HarnessShape
): Effect.Effect<void> =>
  Effect.gen(function*() {
    yield* expectUpstreamSocketsClosed(upstream)
    yield* expectTimersBack(baseline)
    yield* expectPermitsBack(harness)
  })

// ---------------------------------------------------------------------------------------------------------------
// Heap
// ---------------------------------------------------------------------------------------------------------------

let collect: (() => void) | undefined

/**
 * A full GC, without `--expose-gc` on the worker's command line: the flag is turned on at run time and `gc` is
 * taken from a fresh context, which sees it (vitest's own workers are started without the flag).
 */
export const fullGc = (): void => {
  if (collect === undefined) {
    const global = globalThis as { gc?: () => void }
    if (typeof global.gc === "function") {
      collect = global.gc
    } else {
      v8.setFlagsFromString("--expose-gc")
      collect = vm.runInNewContext("gc") as () => void
    }
  }
  // Twice: the first pass runs finalizers (FinalizationRegistry callbacks, weak callbacks) that free more.
  collect()
  collect()
}

/** Heap in use after a full GC, settling first so pending closes and finalizers run. */
export const settledHeapUsed = async (): Promise<number> => {
  for (let i = 0; i < 3; i++) {
    await sleep(50)
    fullGc()
  }
  return process.memoryUsage().heapUsed
}
