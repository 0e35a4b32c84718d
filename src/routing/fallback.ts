/**
 * Whether the request being handled has another target to fall back to. The routing stage sets it for every target
 * of a fallback chain but the last; the protections and the upstream read it where they would otherwise wait (a
 * full queue, a cool-down, a spent budget) or retry (a 429, a 5xx): with a next target ready, moving on is faster
 * than waiting for this one, and the wait would only hold the request back. A reference that defaults to false,
 * so nothing changes for a route with one target, and it is read only on those slow paths.
 */
import * as Context from "effect/Context"

export const FallbackAvailable = Context.Reference<boolean>("ccproxy/FallbackAvailable", { defaultValue: () => false })
