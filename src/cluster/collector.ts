/**
 * The primary's side of GET /metrics (see `metrics.ts`): asks every worker for its own Prometheus text and merges
 * what arrived within `COLLECT_DEADLINE_MS`; a worker that did not answer, or a slot whose worker is being
 * replaced, shows as `ccproxy_worker_up{worker} 0`.
 */
import { COLLECT_DEADLINE_MS, mergeExpositions, type WorkerText } from "./metrics.ts"
import type { CollectRequest } from "./protocol.ts"

/** A slot and its live worker's channel, if it has one right now. */
export interface Member {
  readonly slot: number
  readonly send: ((message: CollectRequest) => boolean) | undefined
}

interface Collection {
  readonly texts: Array<WorkerText>
  readonly expected: Set<number>
  readonly done: () => void
}

export const makeCollector = (deadlineMs: number = COLLECT_DEADLINE_MS) => {
  let nextId = 1
  const open = new Map<number, Collection>()

  /** Every member's text, merged; resolves by the deadline whatever happens. */
  const collect = (members: ReadonlyArray<Member>): Promise<string> =>
    new Promise((resolve) => {
      const id = nextId++
      const texts: Array<WorkerText> = []
      const expected = new Set<number>()
      const finish = () => {
        clearTimeout(timer)
        open.delete(id)
        resolve(mergeExpositions(texts, members.map((m) => m.slot).filter((slot) => !texts.some((t) => t.worker === slot))))
      }
      const timer = setTimeout(finish, deadlineMs)
      open.set(id, { texts, expected, done: finish })
      for (const member of members) {
        if (member.send?.({ ccproxy: "collect", id })) expected.add(member.slot)
      }
      if (expected.size === 0) finish()
    })

  /** A worker's answer to collection `id`; late answers (after the deadline) are dropped. */
  const collected = (slot: number, id: number, text: string): void => {
    const collection = open.get(id)
    if (collection === undefined || !collection.expected.delete(slot)) return
    collection.texts.push({ worker: slot, text })
    if (collection.expected.size === 0) collection.done()
  }

  return { collect, collected }
}

export type Collector = ReturnType<typeof makeCollector>
