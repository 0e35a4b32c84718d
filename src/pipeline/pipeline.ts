/**
 * The ordered pipeline: default stages, user stages placed by name, and the core. Built once per server.
 *
 * Default order (outermost first): logging → validation → routing → core.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { ProxyConfig } from "../config.ts"
import { Log } from "../log.ts"
import { Upstream } from "../upstream/Upstream.ts"
import { core } from "./core.ts"
import { logging } from "./logging.ts"
import { routing } from "./routing.ts"
import { compose, type Handler, type Stage } from "./stage.ts"
import { validation } from "./validation.ts"

/** Where a user stage goes: before or after a named stage; with neither, just before the core. */
export interface StagePlacement {
  readonly stage: Stage
  readonly before?: string
  readonly after?: string
}

export const DEFAULT_STAGE_NAMES = ["logging", "validation", "routing"] as const

/** Inserts user stages into the default order; an unknown anchor is a programming error, reported at start. */
export const arrange = (defaults: ReadonlyArray<Stage>, extra: ReadonlyArray<StagePlacement>): Array<Stage> => {
  const stages = [...defaults]
  for (const placement of extra) {
    const anchor = placement.before ?? placement.after
    if (anchor === undefined) {
      stages.push(placement.stage)
      continue
    }
    const at = stages.findIndex((stage) => stage.name === anchor)
    if (at < 0) {
      throw new Error(`Cannot place stage "${placement.stage.name}": no stage named "${anchor}" (have ${stages.map((s) => s.name).join(", ")})`)
    }
    stages.splice(placement.before !== undefined ? at : at + 1, 0, placement.stage)
  }
  return stages
}

export class Pipeline extends Context.Service<Pipeline, { readonly handle: Handler; readonly stageNames: ReadonlyArray<string> }>()(
  "ccproxy/Pipeline"
) {
  static readonly make = (extra: ReadonlyArray<StagePlacement> = []) =>
    Effect.gen(function*() {
      const stages = arrange([yield* logging, validation, yield* routing], extra)
      return Pipeline.of({ handle: compose(stages, yield* core), stageNames: stages.map((s) => s.name) })
    })

  static readonly layer = (extra: ReadonlyArray<StagePlacement> = []): Layer.Layer<Pipeline, never, Upstream | ProxyConfig | Log> =>
    Layer.effect(this, this.make(extra))
}
