/**
 * What a recording may keep: everything the upstream exchange said, minus credentials.
 *
 * - Request headers are not recorded at all (they carry `Authorization`, OpenRouter's attribution, `traceparent`);
 *   the cassette's `request` holds the method, the path and the body only.
 * - Response headers are dropped except an allow-list that replay needs (`content-type`, `retry-after`,
 *   `location`), and those values are scanned too.
 * - Every string in the body, the query values and the response text go through SECRET_GUARD's scanner (whatever
 *   SECRET_GUARD's mode: a recording is a file that gets shared), with the upstream's own API key as an extra
 *   literal. Query parameters whose name says they hold a credential (`key`, `api_key`, `token`, `sig`, …) are
 *   redacted whatever their value looks like: some vendors take the key in the URL.
 * - Response chunks are scanned as one text, so a key split across two network chunks is still found.
 */
import { makeSecretScanner, type SecretScanner } from "../guardrails/secrets.ts"

export interface RecordedChunk {
  readonly delayMs?: number
  readonly text: string
}

export interface CassetteRedactor {
  /** A JSON value with every string (and object key) scanned. */
  readonly value: (value: unknown) => unknown
  readonly text: (text: string) => string
  /** Path and query of a URL, with credential-like query values replaced. */
  readonly path: (url: URL) => string
  /** The allow-listed response headers, scanned. */
  readonly responseHeaders: (headers: Readonly<Record<string, string | undefined>>) => Record<string, string>
  /**
   * The chunks with secrets removed, even where one spans chunk boundaries. A chunk left empty is dropped and its
   * delay added to the next one's (replay cannot push an empty chunk), so the timing stays the same.
   */
  readonly chunks: (chunks: ReadonlyArray<RecordedChunk>) => Array<RecordedChunk>
}

/** Replay needs these: the body's kind, the 429 wait, a redirect's target (named in the proxy's error). */
const KEPT_RESPONSE_HEADERS: ReadonlyArray<string> = ["content-type", "retry-after", "location"]

const CREDENTIAL_PARAM = /key|token|secret|sig|auth|password|credential/i

export const REDACTED_PARAM = "[REDACTED]"

export const makeCassetteRedactor = (secrets: ReadonlyArray<string>): CassetteRedactor => {
  const scanner: SecretScanner = makeSecretScanner({ literals: secrets })

  const text = (value: string): string => scanner.redact(value)?.text ?? value

  const value = (input: unknown): unknown => {
    if (typeof input === "string") return text(input)
    if (Array.isArray(input)) return input.map(value)
    if (typeof input === "object" && input !== null) {
      return Object.fromEntries(Object.entries(input).map(([name, field]) => [text(name), value(field)]))
    }
    return input
  }

  const path = (url: URL): string => {
    const params = [...url.searchParams].map(([name, field]) =>
      `${encodeURIComponent(name)}=${CREDENTIAL_PARAM.test(name) ? REDACTED_PARAM : encodeURIComponent(text(field))}`
    )
    return params.length === 0 ? url.pathname : `${url.pathname}?${params.join("&")}`
  }

  const responseHeaders: CassetteRedactor["responseHeaders"] = (headers) => {
    const kept: Record<string, string> = {}
    for (const name of KEPT_RESPONSE_HEADERS) {
      const field = headers[name]
      if (field !== undefined) kept[name] = text(field)
    }
    return kept
  }

  const chunks: CassetteRedactor["chunks"] = (input) => {
    const whole = input.map((chunk) => chunk.text).join("")
    const found = scanner.find(whole)
    if (found.length === 0) return [...input]
    // Each secret's marker goes where the secret starts; its characters are cut from every chunk they fall in.
    const out: Array<RecordedChunk> = []
    let offset = 0
    let next = 0
    let carried = 0
    for (const chunk of input) {
      const end = offset + chunk.text.length
      let kept = ""
      let at = offset
      while (at < end) {
        const match = found[next]
        if (match === undefined || match.start >= end) {
          kept += whole.slice(at, end)
          at = end
        } else if (at < match.start) {
          kept += whole.slice(at, match.start)
          at = match.start
        } else {
          if (at === match.start) kept += `[REDACTED:${match.kind}]`
          at = Math.min(match.end, end)
          if (at === match.end) next++
        }
      }
      offset = end
      const delayMs = carried + (chunk.delayMs ?? 0)
      if (kept === "") {
        carried = delayMs
        continue
      }
      carried = 0
      out.push(delayMs === 0 ? { text: kept } : { delayMs, text: kept })
    }
    return out
  }

  return { value, text, path, responseHeaders, chunks }
}
