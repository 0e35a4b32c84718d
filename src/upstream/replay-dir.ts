/**
 * Replay from a directory (REPLAY_DIR): the proxy answers from the cassettes RECORD_DIR wrote, with no network.
 *
 * Each request is keyed as at recording time (`exchange-key.ts`: the same redaction, the same canonical key), and
 * gets the recorded exchanges for that key in their recorded order; once they are used up, the last one answers
 * every further request (so a session replayed twice, or a retry the recording did not need, still gets an answer,
 * and the first answers of a recorded retry sequence play out as they happened).
 *
 * A request nobody recorded gets what an upstream would say: HTTP 404 with a `not_found_error` naming the key and
 * the directory, which the proxy relays as Anthropic's `not_found_error` (404, `x-should-retry: false`).
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { ProxyConfig } from "../config.ts"
import type { Cassette } from "./cassette.ts"
import type { CassetteIndex } from "./cassette-dir.ts"
import { makeCassetteRedactor } from "./cassette-redaction.ts"
import { identifyExchange, type RequestRedaction } from "./exchange-key.ts"
import { type ReplayScript, replayTransport } from "./replay.ts"
import { Transport } from "./transport.ts"
import { secretValues } from "./Upstream.ts"

/** The answer to a request with no recording; the message is what the client sees. */
export const missingCassette = (key: string, path: string, dir: string): Cassette => ({
  name: `missing-${key}`,
  response: {
    status: 404,
    headers: { "content-type": "application/json" },
    chunks: [{
      text: JSON.stringify({
        error: {
          type: "not_found_error",
          message: `no recorded exchange for key ${key} (POST ${path}) in REPLAY_DIR ${dir}`
        }
      })
    }]
  }
})

/** Recorded order per key, then the last one again. Each script keeps its own positions. */
export const scriptFromDir = (cassettes: CassetteIndex, dir: string, redaction: RequestRedaction): ReplayScript => {
  const played = new Map<string, number>()
  return (request) => {
    const { key, path } = identifyExchange(redaction, request.url, request.body)
    const recorded = cassettes.get(key)
    if (recorded === undefined || recorded.length === 0) return missingCassette(key, path, dir)
    const n = played.get(key) ?? 0
    played.set(key, n + 1)
    return recorded[Math.min(n, recorded.length - 1)]!
  }
}

/** The Transport answering from `cassettes` (read from `dir` by the settings). */
export const layerReplayDir = (dir: string, cassettes: CassetteIndex): Layer.Layer<Transport, never, ProxyConfig> =>
  Layer.effect(
    Transport,
    Effect.gen(function*() {
      const config = yield* ProxyConfig
      const count = [...cassettes.values()].reduce((sum, list) => sum + list.length, 0)
      yield* Effect.logInfo("replaying upstream exchanges, no network", { dir, exchanges: count, keys: cassettes.size })
      return replayTransport(scriptFromDir(cassettes, dir, makeCassetteRedactor(secretValues(config))))
    })
  )
