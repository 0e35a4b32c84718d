/**
 * The canonical key of an upstream exchange: what a recording is filed under and what replay looks it up by.
 *
 *   key = first 16 hex digits of SHA-256( path + "\n" + canonicalJson(body without VARYING_FIELDS) )
 *
 * - `path` is the upstream URL's path and query (query values redacted, see `cassette-redaction.ts`), without
 *   scheme, host and port: a recording made against `http://127.0.0.1:41234/v1` replays whatever port or host the
 *   replaying proxy is configured with. Providers are still told apart by their paths and by the model in the body.
 * - `body` is the request body as recorded, i.e. after redaction, so anyone can recompute the key of a cassette from
 *   its own `request` part. Canonical JSON: object keys sorted at every depth, no whitespace; arrays keep their order.
 * - VARYING_FIELDS are left out because they differ between two runs of the same session. Two runs of one Claude
 *   Code session (same prompt, same working directory and HOME) sent byte-identical upstream bodies except for
 *   `user`, which the proxy derives from `metadata.user_id` and so from the CLI's per-run session id. Everything
 *   else Claude Code varies lives in the prompt text (working directory, HOME, today's date, git status) and is
 *   part of what was asked, so it stays in the key: replay in the same directory on the same day.
 *
 * 64 bits of hash are plenty for a directory of recordings and keep file names short enough to read.
 */
import { createHash } from "node:crypto"

/** Top-level body fields that differ between otherwise identical sessions (see above). */
export const VARYING_FIELDS: ReadonlyArray<string> = ["user"]

const KEY_HEX_DIGITS = 16

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** Objects re-built with sorted keys, so two bodies that differ only in key order serialise the same. */
const sortedKeys = (_key: string, value: unknown): unknown =>
  isPlainObject(value)
    ? Object.fromEntries(Object.keys(value).sort().map((name) => [name, value[name]]))
    : value

/** JSON with object keys sorted at every depth and no whitespace; `undefined` fields are dropped as JSON does. */
export const canonicalJson = (value: unknown): string => JSON.stringify(value, sortedKeys) ?? "null"

const withoutVaryingFields = (body: unknown): unknown => {
  if (!isPlainObject(body) || !VARYING_FIELDS.some((name) => name in body)) return body
  const stable = { ...body }
  for (const name of VARYING_FIELDS) delete stable[name]
  return stable
}

/** The key of an exchange: `path` as recorded (no host), `body` as recorded (redacted, parsed JSON or text). */
export const exchangeKey = (path: string, body: unknown): string =>
  createHash("sha256")
    .update(`${path}\n${canonicalJson(withoutVaryingFields(body))}`)
    .digest("hex")
    .slice(0, KEY_HEX_DIGITS)

/** What a cassette says was sent, and the key it is filed under. */
export interface ExchangeRequest {
  readonly method: "POST"
  /** Path and query, redacted, no host. */
  readonly path: string
  /** The body as sent (parsed JSON, or the text when it was not JSON), redacted. */
  readonly body: unknown
  readonly key: string
}

export interface RequestRedaction {
  readonly value: (value: unknown) => unknown
  readonly path: (url: URL) => string
}

/** The same steps at record and at replay time, so a replayed request finds its recording. */
export const identifyExchange = (redaction: RequestRedaction, url: string, body: unknown): ExchangeRequest => {
  const path = redaction.path(new URL(url))
  const redacted = redaction.value(body)
  return { method: "POST", path, body: redacted, key: exchangeKey(path, redacted) }
}
