/**
 * Messages between the bench (parent) and its children over the Node IPC channel. Every request carries an `id`;
 * the answer echoes it. Kept in one place so the upstream, the baseline, the probe and the parent agree.
 */

/** How the scripted upstream answers from now on (one global mode: the bench runs one phase at a time). */
export interface UpstreamMode {
  /** Delay before each of the first `delayChunks` SSE chunks (0: none). */
  readonly delayMs: number
  /** How many chunks get the delay; the rest follow at once. */
  readonly delayChunks: number
  /** Send this many chunks, then hold the stream silent until a `release`. 0: never hold. */
  readonly holdAfter: number
  /** Keep the raw body of the last request (read it back with `captured`). */
  readonly capture: boolean
  /**
   * The upstream's own rate limit: at most this many requests are answered per wall-clock second; the rest get a
   * 429 with `Retry-After: retryAfterSeconds` and an OpenAI rate-limit error body. 0: no limit.
   */
  readonly limitPerSecond: number
  readonly retryAfterSeconds: number
}

export const NORMAL_MODE: UpstreamMode = {
  delayMs: 0,
  delayChunks: 0,
  holdAfter: 0,
  capture: false,
  limitPerSecond: 0,
  retryAfterSeconds: 1
}

export type ToChild =
  | { readonly type: "mode"; readonly id: number; readonly mode: UpstreamMode }
  | { readonly type: "captured"; readonly id: number }
  | { readonly type: "release"; readonly id: number }
  | { readonly type: "stats"; readonly id: number }
  /** Zeroes the peak of requests in flight and the per-second timeline (the totals keep counting). */
  | { readonly type: "reset"; readonly id: number }
  | { readonly type: "probe:memory"; readonly id: number; readonly gc: boolean }

export interface UpstreamStats {
  /** Requests answered since start. */
  readonly requests: number
  /** Streams being written right now (held ones included). */
  readonly active: number
  /** Streams held silent, waiting for `release`. */
  readonly held: number
  /** Responses the client closed before the end. */
  readonly aborted: number
  /** Requests between their arrival and the end of their response, now (429s included). */
  readonly inFlight: number
  /** The most requests in flight at once since the last `reset`. */
  readonly maxInFlight: number
  /** 429s answered since start. */
  readonly rateLimited: number
  /** Since the last `reset`, per second: [second, requests that arrived, of which answered 429]. */
  readonly timeline: ReadonlyArray<readonly [number, number, number]>
}

export interface MemoryReport {
  readonly rss: number
  readonly heapTotal: number
  readonly heapUsed: number
  readonly external: number
  readonly arrayBuffers: number
  /** Whether a full GC ran first (`--expose-gc`). */
  readonly gc: boolean
}

export type FromChild =
  | { readonly type: "ready"; readonly port: number }
  | { readonly type: "ok"; readonly id: number }
  | { readonly type: "captured"; readonly id: number; readonly body: string | null; readonly path: string | null }
  | { readonly type: "stats"; readonly id: number; readonly stats: UpstreamStats }
  | { readonly type: "probe:memory"; readonly id: number; readonly memory: MemoryReport }
  /** bench/stages.ts: the micro-benchmark's result, once, when it is done. */
  | { readonly type: "stages"; readonly result: unknown }
