/**
 * High-confidence credential patterns: each one is a token format with a fixed prefix or a fixed frame (PEM
 * armour, a labelled AWS secret), never a guess from entropy, so ordinary code and prose do not trip it.
 *
 * All patterns are joined into one regular expression, so a string is scanned in one pass. Every repetition is
 * bounded and no pattern can backtrack over its own input, so the cost stays linear in the text, even for a hostile
 * 10 MB string.
 */

export type SecretKind =
  | "private_key"
  | "aws_access_key_id"
  | "aws_secret_access_key"
  | "google_api_key"
  | "github_token"
  | "gitlab_token"
  | "slack_token"
  | "slack_webhook"
  | "anthropic_api_key"
  | "openrouter_api_key"
  | "openai_api_key"
  | "upstream_api_key"

interface Pattern {
  readonly kind: SecretKind
  /** A regex source without capturing groups (they are numbered by the combined expression). */
  readonly source: string
  /**
   * For a labelled secret (`aws_secret_access_key = …`), how many characters at the end of the match are the
   * value; the label is left alone so the text still reads. Absent: the whole match is the secret.
   */
  readonly valueLength?: number
}

// PEM bodies are base64 with line breaks, possibly written as `\n` escapes (a service-account JSON shown as text).
// The body class has no `-`, so the scan stops at the END line (or the next BEGIN) and cannot run away.
const PEM_LABEL = "[A-Z0-9 ]{0,32}PRIVATE KEY(?: BLOCK)?"
const PEM_HEADERS = String.raw`(?:(?:\r?\n|\\n)(?:Proc-Type|DEK-Info|Version|Comment): [^\r\n\\]{0,200})*`
const PEM_BODY = String.raw`[A-Za-z0-9+/=\s\\]{64,65536}`

// AWS_SECRET_ACCESS_KEY, aws_secret_access_key, SecretAccessKey, secret-access-key. Matched from "secret" on, with
// no optional `aws` in front: an optional first part would make every "a" and "." a starting point, doubling the
// cost of the whole scan.
const AWS_SECRET_LABEL = "(?:secret|Secret|SECRET)[_-]?(?:access|Access|ACCESS)[_-]?(?:key|Key|KEY)"

const PATTERNS: ReadonlyArray<Pattern> = [
  {
    kind: "private_key",
    source: `-----BEGIN ${PEM_LABEL}-----${PEM_HEADERS}${PEM_BODY}(?:-----END ${PEM_LABEL}-----)?`
  },
  // Key ids are 16 base32 characters after the prefix (AKIA long-term, ASIA temporary).
  { kind: "aws_access_key_id", source: String.raw`\b(?:AKIA|ASIA)[A-Z2-7]{16}\b` },
  // A secret key is 40 base64 characters with no prefix: only trusted right after its own label.
  {
    kind: "aws_secret_access_key",
    source: String.raw`${AWS_SECRET_LABEL}["']?\s{0,4}(?:=>|[:=])\s{0,4}["']?[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])`,
    valueLength: 40
  },
  { kind: "google_api_key", source: String.raw`\bAIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])` },
  {
    kind: "github_token",
    source: String.raw`\b(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{50,240})(?![A-Za-z0-9_])`
  },
  { kind: "gitlab_token", source: String.raw`\bglpat-[A-Za-z0-9_-]{20,200}(?![A-Za-z0-9_-])` },
  // Real tokens have numeric team/user segments; `xoxb-your-token` placeholders do not.
  { kind: "slack_token", source: String.raw`\bxox[abprs]-\d{1,20}-[0-9A-Za-z-]{10,250}` },
  {
    kind: "slack_webhook",
    source: String.raw`https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/+-]{20,300}`
  },
  // sk-ant-api03-…, sk-ant-admin01-…, sk-ant-oat01-…: before the OpenAI shapes, which share the `sk-` prefix.
  { kind: "anthropic_api_key", source: String.raw`\bsk-ant-[a-z]{2,8}\d{2}-[A-Za-z0-9_-]{32,300}` },
  { kind: "openrouter_api_key", source: String.raw`\bsk-or-v1-[0-9a-f]{64}\b` },
  // Project, service-account and admin keys are long; legacy keys are sk- plus 48 alphanumerics (and
  // OpenAI-compatible providers use 32+ alphanumerics). Dashed words such as `sk-test-key-1` stay out.
  {
    kind: "openai_api_key",
    source: String.raw`\bsk-(?:(?:proj|svcacct|admin)-[A-Za-z0-9_-]{40,400}|[A-Za-z0-9]{32,200}(?![A-Za-z0-9_-]))`
  }
]

/** Shorter configured keys ("local", "x") would turn up in ordinary text; those are not looked for. */
export const MIN_LITERAL_LENGTH = 12

export interface SecretMatch {
  readonly kind: SecretKind
  /** Offsets of the secret value in the text (the label of a labelled secret is outside them). */
  readonly start: number
  readonly end: number
}

export interface SecretScanner {
  /** Every secret in `text`, left to right, non-overlapping. */
  readonly find: (text: string) => ReadonlyArray<SecretMatch>
  /** `text` with each secret replaced by `[REDACTED:<kind>]`; undefined when there is none (no copy made). */
  readonly redact: (text: string) => { readonly text: string; readonly kinds: ReadonlyArray<SecretKind> } | undefined
}

export interface ScannerOptions {
  /** Exact values to find as well, e.g. the proxy's own upstream key (kind `upstream_api_key`). */
  readonly literals?: ReadonlyArray<string>
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&")

/** Builds the combined expression once; the scanner is then safe to share by every request. */
export const makeSecretScanner = (options: ScannerOptions = {}): SecretScanner => {
  const literals = (options.literals ?? []).filter((value) => value.length >= MIN_LITERAL_LENGTH)
  // The proxy's own key first: it may also fit a generic shape, and its own name says more.
  const patterns: ReadonlyArray<Pattern> = [
    ...literals.map((value): Pattern => ({ kind: "upstream_api_key", source: escapeRegExp(value) })),
    ...PATTERNS
  ]
  const combined = new RegExp(patterns.map((p) => `(${p.source})`).join("|"), "g")

  const find = (text: string): ReadonlyArray<SecretMatch> => {
    const found: Array<SecretMatch> = []
    combined.lastIndex = 0
    for (let m = combined.exec(text); m !== null; m = combined.exec(text)) {
      let group = 1
      while (m[group] === undefined) group++
      const pattern = patterns[group - 1]!
      const end = m.index + m[0].length
      found.push({ kind: pattern.kind, start: pattern.valueLength === undefined ? m.index : end - pattern.valueLength, end })
    }
    return found
  }

  const redact: SecretScanner["redact"] = (text) => {
    const found = find(text)
    if (found.length === 0) return undefined
    let out = ""
    let at = 0
    for (const match of found) {
      out += `${text.slice(at, match.start)}[REDACTED:${match.kind}]`
      at = match.end
    }
    return { text: out + text.slice(at), kinds: found.map((match) => match.kind) }
  }

  return { find, redact }
}
