/** Chooses the upstream and its model: opus/sonnet → BIG, haiku → SMALL, any other name passes through. */
import * as Effect from "effect/Effect"
import { ProxyConfig } from "../config.ts"
import { mapModel } from "../convert/models.ts"
import type { Stage } from "./stage.ts"

export const routing: Effect.Effect<Stage, never, ProxyConfig> = Effect.map(ProxyConfig, (config) => ({
  name: "routing",
  wrap: (next) => (request) =>
    next({
      ...request,
      upstream: config.provider,
      upstreamModel: mapModel(request.body.model, { bigModel: config.bigModel, smallModel: config.smallModel })
    })
}))
