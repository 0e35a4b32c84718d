/**
 * The ordered pipeline: default stages, user stages placed by name, and the core. Built once per config generation
 * (at start and on each reload, see `reload.ts`).
 *
 * Default order (outermost first), fixed here and nowhere else:
 * logging → guardrails → validation → routing → conversion → cache → breaker → rate-limits → limiter → core.
 * Stages whose feature is off at its default are left out entirely, so they cost nothing.
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { ProxyConfig } from "../config.ts"
import { tracingActive } from "../observability/tracing.ts"
import { Prices, tokenUsage } from "../observability/prices.ts"
import type * as Protection from "../protection/protection.ts"
import { secretValues, Upstream } from "../upstream/Upstream.ts"
import { conversion } from "./conversion.ts"
import type * as Cache from "../cache/cache.ts"
import { makeCacheStage } from "./cache.ts"
import { core } from "./core.ts"
import { breaker, limiter, makeRateLimits } from "./protection.ts"
import { makeGuardrails } from "./guardrails.ts"
import { makeLogging } from "./logging.ts"
import { routing } from "./routing.ts"
import { compose, type Handler, type Stage } from "./stage.ts"
import { validation } from "./validation.ts"

/**
 * Where a user stage goes: before or after a named stage; with neither, just before the core. The stage is a value
 * or an Effect that builds it from services (its requirements become the pipeline's).
 */
export interface StagePlacement<R = never> {
  readonly stage: Stage | Effect.Effect<Stage, never, R>
  readonly before?: string
  readonly after?: string
}

export const DEFAULT_STAGE_NAMES = [
  "logging",
  "guardrails",
  "validation",
  "routing",
  "conversion",
  "cache",
  "breaker",
  "rate-limits",
  "limiter"
] as const

/**
 * A user stage's anchor names no stage. `placement` is its index in the list handed to `arrange`, so the caller can
 * say where it came from (the library user's code, or the config file's `stages` list).
 */
export class UnknownAnchor extends Data.TaggedError("UnknownAnchor")<{
  readonly placement: number
  readonly stage: string
  readonly side: "before" | "after"
  readonly anchor: string
  /** The stages placed so far, in order. */
  readonly have: ReadonlyArray<string>
}> {
  override get message() {
    return `Cannot place stage "${this.stage}": no stage named "${this.anchor}" (have ${this.have.join(", ")})`
  }
}

const DEFAULT_ORDER: ReadonlyMap<string, number> = new Map(DEFAULT_STAGE_NAMES.map((name, i) => [name, i]))

/**
 * Inserts user stages into the default order, each after the ones before it in `extra` (so an anchor may name an
 * earlier user stage); throws `UnknownAnchor` when an anchor names no stage.
 *
 * A default stage that this config leaves out (the cache, when off) is still a valid anchor: a stage placed before
 * or after it goes where it would have been, just before the next default stage present. Otherwise whether a config
 * file starts would depend on whether CACHE is set.
 */
export const arrange = (defaults: ReadonlyArray<Stage>, extra: ReadonlyArray<{ readonly stage: Stage; readonly before?: string; readonly after?: string }>): Array<Stage> => {
  const stages = [...defaults]
  extra.forEach((placement, i) => {
    const anchor = placement.before ?? placement.after
    if (anchor === undefined) {
      stages.push(placement.stage)
      return
    }
    const at = stages.findIndex((stage) => stage.name === anchor)
    if (at >= 0) {
      stages.splice(placement.before !== undefined ? at : at + 1, 0, placement.stage)
      return
    }
    const absent = DEFAULT_ORDER.get(anchor)
    if (absent === undefined) {
      throw new UnknownAnchor({
        placement: i,
        stage: placement.stage.name,
        side: placement.before !== undefined ? "before" : "after",
        anchor,
        have: stages.map((stage) => stage.name)
      })
    }
    const next = stages.findIndex((stage) => (DEFAULT_ORDER.get(stage.name) ?? -1) > absent)
    stages.splice(next < 0 ? stages.length : next, 0, placement.stage)
  })
  return stages
}

const build = <R>(stage: Stage | Effect.Effect<Stage, never, R>): Effect.Effect<Stage, never, R> =>
  Effect.isEffect(stage) ? stage : Effect.succeed(stage)

export class Pipeline extends Context.Service<Pipeline, { readonly handle: Handler; readonly stageNames: ReadonlyArray<string> }>()(
  "ccproxy/Pipeline"
) {
  static readonly make = <R = never>(extra: ReadonlyArray<StagePlacement<R>> = []) =>
    Effect.gen(function*() {
      const config = yield* ProxyConfig
      const prices = yield* Prices
      const defaults = [
        yield* makeLogging((upstream, model, usage) => prices.costOf(upstream, model, tokenUsage(usage))),
        makeGuardrails(config.guardrails, secretValues(config)),
        validation,
        yield* routing,
        yield* conversion,
        ...(config.cache.enabled || config.cache.dedupe ? [yield* makeCacheStage(config.cache)] : []),
        yield* breaker,
        // Rate limits before the limiter: a request waiting out a cool-down or its turn in the budget holds no
        // permit, so the permits stay with requests that can go upstream now.
        // Without any budget (global or a provider's own), only cool-downs: no ticket, nothing to settle.
        yield* makeRateLimits([config.protection, ...config.providers.map((p) => p.protection)].every((s) => s.rpm === undefined && s.tpm === undefined)),
        yield* limiter
      ]
      const placed = yield* Effect.forEach(extra, (placement) =>
        Effect.map(build(placement.stage), (stage) => ({ ...placement, stage })))
      const stages = yield* Effect.try({ try: () => arrange(defaults, placed), catch: (error) => error as UnknownAnchor })
      const handle = compose(stages, yield* core, yield* tracingActive)
      return Pipeline.of({ handle, stageNames: stages.map((s) => s.name) })
    })

  static readonly layer = <R = never>(
    extra: ReadonlyArray<StagePlacement<R>> = []
  ): Layer.Layer<Pipeline, UnknownAnchor, Upstream | ProxyConfig | Protection.Services | Cache.Services | Prices | R> => Layer.effect(this, this.make(extra))
}
