/**
 * Cool-downs in Redis: an upstream's 429 with Retry-After on one process holds every process back from it.
 *
 * One key per upstream, `<prefix>cooldown:<upstream>`, whose expiry is the end of the cool-down: `PTTL` is what is
 * left (times are Redis's, so clocks of different machines do not matter). Hand-written because Effect's
 * `RateLimiter` has no such notion: its adaptive mode learns a limit of its own, which the rate limits do not use
 * (see `protection/rate-limits.ts`). A short script extends the key and never shortens it, in one step, so two 429s
 * racing from two replicas leave the longer cool-down.
 *
 * Failures read as "no cool-down" and are not logged here: the gate (`connection.ts`) warns once per outage, and
 * each process still honours the cool-downs it saw itself.
 */
import * as Effect from "effect/Effect"
import { Redis } from "effect/persistence"
import type { SharedCoolDownsShape } from "../protection/shared.ts"

const holdScript = Redis.script((key: string, millis: number) => [key, millis], {
  numberOfKeys: 1,
  lua: `
local left = redis.call("PTTL", KEYS[1])
local millis = tonumber(ARGV[1])
if left < millis then
  redis.call("SET", KEYS[1], "1", "PX", millis)
end
return 0
`
}).withReturnType<number>()

export const make = (redis: Redis.Redis["Service"], prefix: string): SharedCoolDownsShape => {
  const key = (upstream: string) => `${prefix}cooldown:${upstream}`
  const hold = redis.eval(holdScript)
  return {
    // PTTL: -2 when there is no key, -1 never happens (the key is always written with PX).
    remaining: (upstream) =>
      redis.send<number>("PTTL", key(upstream)).pipe(
        Effect.map((left) => Math.max(0, Number(left))),
        Effect.orElseSucceed(() => 0)
      ),
    hold: (upstream, millis) =>
      millis <= 0 ? Effect.void : hold(key(upstream), Math.ceil(millis)).pipe(Effect.asVoid, Effect.ignore)
  }
}
