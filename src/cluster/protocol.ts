/**
 * The messages between the primary and its workers over the cluster's IPC channel. Every one carries
 * `ccproxy: <kind>`, so they never mix with Node's own cluster messages.
 */

/** Worker → primary: it cannot start; `message` is the one line the primary prints (once for all workers). */
export interface StartFailed {
  readonly ccproxy: "start-failed"
  readonly message: string
}

/** Worker → primary: GET /metrics reached me; collect everyone's text. */
export interface ScrapeRequest {
  readonly ccproxy: "scrape"
  readonly id: number
}

/** Primary → worker: the merged text for the worker's request `id`. */
export interface ScrapeReply {
  readonly ccproxy: "scraped"
  readonly id: number
  readonly text: string
}

/** Primary → worker: send your own text, tagged with `id`. */
export interface CollectRequest {
  readonly ccproxy: "collect"
  readonly id: number
}

/** Worker → primary: my own text for collection `id`. */
export interface CollectReply {
  readonly ccproxy: "collected"
  readonly id: number
  readonly text: string
}

export type ToPrimary = StartFailed | ScrapeRequest | CollectReply
export type ToWorker = ScrapeReply | CollectRequest

const KINDS = new Set(["start-failed", "scrape", "scraped", "collect", "collected"])

export const isClusterMessage = (message: unknown): message is ToPrimary | ToWorker =>
  typeof message === "object" && message !== null && KINDS.has((message as { ccproxy?: unknown }).ccproxy as string)

/** The environment a worker is forked with: its slot (1..N) and N. */
export const SLOT_VARIABLE = "CCPROXY_WORKER"
export const WORKERS_VARIABLE = "CCPROXY_WORKERS"
