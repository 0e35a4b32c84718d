/** Chooses the upstream and its model: opus/sonnet → BIG, haiku → SMALL, any other name passes through. */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { ProxyConfig } from "../config.ts"
import { mapModel } from "../convert/models.ts"
import { RequestStats } from "../observability/record.ts"
import { handOff, type Stage } from "./stage.ts"

export const routing: Effect.Effect<Stage, never, ProxyConfig> = Effect.map(ProxyConfig, (config) => ({
  name: "routing",
  wrap: (next) => (request) => {
    const upstream = config.provider
    const routed = handOff(next, {
      ...request,
      upstream,
      upstreamModel: mapModel(request.body.model, { bigModel: config.bigModel, smallModel: config.smallModel })
    })
    return Effect.flatMap(Effect.serviceOption(RequestStats), (stats) => {
      if (Option.isSome(stats)) stats.value.upstream = upstream
      return routed()
    })
  }
}))
