/**
 * `makeGenerations`, the reload machinery, on its own: a build that fails leaves the current generation serving, and
 * a reload that would open a non-loopback address to anyone (keys removed) is refused.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { parseConfig } from "../../src/config.ts"
import { ConfigInvalid } from "../../src/config/env.ts"
import { makeGenerations } from "../../src/reload.ts"

describe("makeGenerations", () => {
  it.effect("a reload that drops PROXY_API_KEYS on a non-loopback HOST is refused; the current config stays", () =>
    Effect.scoped(Effect.gen(function*() {
      const first = parseConfig({ HOST: "0.0.0.0", PROXY_API_KEYS: "k-0123456789abcdef" })
      const { reloader } = yield* makeGenerations(first, (config) => Effect.succeed(Effect.succeed(config.port)))
      const open = parseConfig({ HOST: "0.0.0.0" })
      const refused = yield* Effect.flip(reloader.reload(open))
      expect(refused.message).toMatch(/^PROXY_API_KEYS cannot be dropped while listening on 0\.0\.0\.0: HOST=0\.0\.0\.0 accepts connections/)
      expect(yield* reloader.current).toBe(first)
      // With ALLOW_UNAUTHENTICATED it is the user's explicit choice, as at start.
      const allowed = parseConfig({ HOST: "0.0.0.0", ALLOW_UNAUTHENTICATED: "true" })
      yield* reloader.reload(allowed)
      expect(yield* reloader.current).toBe(allowed)
    })))

  it.effect("a build that fails rejects the reload and the current generation keeps serving", () =>
    Effect.scoped(Effect.gen(function*() {
      const first = parseConfig({ PORT: "1" })
      const { app, reloader } = yield* makeGenerations(first, (config) =>
        config.port === 2
          ? Effect.fail(new ConfigInvalid({ variable: "stages[0].module", problem: "cannot be loaded" }))
          : Effect.succeed(Effect.succeed(config.port)))
      expect((yield* Effect.flip(reloader.reload(parseConfig({ PORT: "2" })))).message).toBe("stages[0].module cannot be loaded")
      expect(yield* Effect.scoped(app)).toBe(1)
      yield* reloader.reload(parseConfig({ PORT: "3" }))
      expect(yield* Effect.scoped(app)).toBe(3)
    })))
})
