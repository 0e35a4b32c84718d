/**
 * Identifiers in Anthropic's style (`req_…`, `msg_…`, `toolu_…`): a prefix and 24 base62 characters (~143 bits)
 * drawn from Effect's `Random`, so tests can seed them.
 */
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"

const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
/** Base62 characters taken from one draw: 62^8 < 2^48, within the 53 bits of a double. */
const CHARS_PER_DRAW = 8
const DRAW_RANGE = 62 ** CHARS_PER_DRAW

const randomChars = (count: number): Effect.Effect<string> =>
  Effect.map(
    Effect.all(Array.from({ length: Math.ceil(count / CHARS_PER_DRAW) }, () => Random.next)),
    (draws) => {
      let id = ""
      for (const draw of draws) {
        let value = Math.floor(draw * DRAW_RANGE)
        for (let i = 0; i < CHARS_PER_DRAW && id.length < count; i++) {
          id += ALPHABET[value % 62]
          value = Math.floor(value / 62)
        }
      }
      return id
    }
  )

export const randomId = (prefix: string, length = 24): Effect.Effect<string> =>
  Effect.map(randomChars(length), (chars) => prefix + chars)
