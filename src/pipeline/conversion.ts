/**
 * Converts the Anthropic request into the Chat Completions request the upstream gets, once, and hands it on with
 * the request, so the stages after it (limits, cache keys, cost) read the converted request instead of converting
 * or serialising again.
 */
import * as Effect from "effect/Effect"
import * as LogLevel from "effect/LogLevel"
import * as Result from "effect/Result"
import { ProxyConfig, type ProxyConfigShape } from "../config.ts"
import type { Provider } from "../convert/models.ts"
import { toChatRequest } from "../convert/request.ts"
import type { InvalidRequest } from "../errors.ts"
import type { Conversion, ProxyRequest, Stage } from "./stage.ts"

/** The conversion of the request's current body for its current upstream model. */
export const convert = (request: ProxyRequest, provider: Provider): Result.Result<Conversion, InvalidRequest> =>
  Result.map(
    toChatRequest(request.body, { model: request.upstreamModel, provider }),
    (converted) => ({ ...converted, body: request.body, model: request.upstreamModel, upstream: request.upstream })
  )

/** Each provider's profile by name, for converting a request routed to it. */
export const profiles = (config: ProxyConfigShape): ((upstream: string) => Provider) => {
  const byName = new Map(config.providers.map((provider) => [provider.name, provider.profile]))
  return (upstream) => byName.get(upstream) ?? "generic"
}

export const conversion: Effect.Effect<Stage, never, ProxyConfig> = Effect.gen(function*() {
  const profileOf = profiles(yield* ProxyConfig)
  // The threshold of the logger the proxy is built with (LOG_LEVEL, or a library user's own).
  const debug = yield* LogLevel.isEnabled("Debug")
  return {
    name: "conversion",
    wrap: (next) => (request) => {
      const converted = convert(request, profileOf(request.upstream))
      if (Result.isFailure(converted)) return Effect.fail(converted.failure)
      const handled = next({ ...request, conversion: converted.success })
      const notes = converted.success.notes
      // Most Claude Code turns have notes (a billing header stripped, say): below LOG_LEVEL=debug not even the log
      // call is built.
      return notes.length === 0 || !debug
        ? handled
        : Effect.andThen(Effect.logDebug("conversion notes", { request_id: request.id, notes }), handled)
    }
  }
})
