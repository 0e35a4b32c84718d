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
}

export const NORMAL_MODE: UpstreamMode = { delayMs: 0, delayChunks: 0, holdAfter: 0, capture: false }

export type ToChild =
  | { readonly type: "mode"; readonly id: number; readonly mode: UpstreamMode }
  | { readonly type: "captured"; readonly id: number }
  | { readonly type: "release"; readonly id: number }
  | { readonly type: "stats"; readonly id: number }
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
