/**
 * The one Transport every upstream call goes through, as the configuration asks: the network, the network recorded
 * into RECORD_DIR, or REPLAY_DIR's recordings with no network at all. Chosen here, at the Transport, so it holds
 * for every provider and every retry alike.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { ProxyConfig } from "../config.ts"
import { layerRecord } from "./record.ts"
import { layerReplayDir } from "./replay-dir.ts"
import { Transport } from "./transport.ts"
import { Upstream } from "./Upstream.ts"

export const transportFromConfig: Layer.Layer<Transport, never, ProxyConfig> = Layer.unwrap(
  Effect.map(Effect.service(ProxyConfig), (config) => {
    const recording = config.recording ?? { mode: "off" }
    switch (recording.mode) {
      case "off":
        return Transport.layerUndici
      case "record":
        return layerRecord(recording.dir).pipe(Layer.provide(Transport.layerUndici))
      case "replay":
        return layerReplayDir(recording.dir, recording.cassettes)
    }
  })
)

/** The upstream over the configured Transport: what the proxy uses unless given another upstream layer. */
export const upstreamFromConfig: Layer.Layer<Upstream, never, ProxyConfig> = Upstream.layer.pipe(
  Layer.provide(transportFromConfig)
)
