/**
 * Identifiers in Anthropic's style (`req_…`, `msg_…`, `toolu_…`): a prefix and 24 base62 characters drawn from
 * Effect's `Random`, so tests can seed them.
 */
import { Effect, Random } from "effect"

const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

export const randomId = (prefix: string, length = 24): Effect.Effect<string> =>
  Effect.map(Random.next, (seed) => {
    // One draw from Random seeds a cheap generator: a per-character Random call would cost a fiber step each.
    let state = Math.floor(seed * 0x7fffffff) || 1
    let id = prefix
    for (let i = 0; i < length; i++) {
      state = (Math.imul(state, 48271) >>> 0) % 0x7fffffff
      id += ALPHABET[state % ALPHABET.length]
    }
    return id
  })
