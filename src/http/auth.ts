/**
 * Who may call the proxy: the client keys of PROXY_API_KEYS, and the refusal to listen beyond loopback without them.
 * Keys are compared as SHA-256 digests with `timingSafeEqual`: every comparison takes the same time whatever the
 * presented key's content or length, and logs name a key only by a short fingerprint of that digest.
 */
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as Crypto from "node:crypto"
import { boolean, ConfigInvalid, type Raw } from "../config/env.ts"
import { Unauthorized } from "../errors.ts"

export { AUTH_VARIABLES } from "./variables.ts"

export interface AuthSettings {
  /** Empty: authentication is off. */
  readonly apiKeys: ReadonlyArray<Redacted.Redacted<string>>
  /** Lets the proxy listen on a non-loopback HOST without keys (something in front of it authenticates). */
  readonly allowUnauthenticated: boolean
}

export interface Client {
  /**
   * The first hex digits of the key's SHA-256 (8, more if two configured keys share them): tells keys apart in logs
   * and scopes, useless for calling the proxy.
   */
  readonly fingerprint: string
}

/** `undefined` when keys are off; a 401 when keys are on and none of the presented ones matches. */
export type Authenticator = (
  headers: Readonly<Record<string, string | undefined>>
) => Result.Result<Client | undefined, Unauthorized>

const digest = (key: string): Buffer => Crypto.createHash("sha256").update(key, "utf8").digest()

const fingerprintOf = (hash: Buffer): string => hash.toString("hex").slice(0, 8)

/**
 * A key's fingerprint on its own (8 hex digits). Among configured keys that share those 8 digits (one pair in four
 * billion), `makeAuthenticator` lengthens every key's fingerprint instead, so log labels and scopes change then.
 */
export const fingerprint = (key: Redacted.Redacted<string>): string => fingerprintOf(digest(Redacted.value(key)))

const missing = () =>
  new Unauthorized({
    message: "Missing API key: send one of this proxy's keys (PROXY_API_KEYS) as x-api-key or Authorization: Bearer <key>"
  })
const wrong = () => new Unauthorized({ message: "Invalid API key: it is not one of this proxy's keys (PROXY_API_KEYS)" })

/** Both ways Anthropic clients send a key: the SDK's `x-api-key`, Claude Code's `ANTHROPIC_AUTH_TOKEN` as Bearer. */
const presentedKeys = (headers: Readonly<Record<string, string | undefined>>): Array<string> => {
  const keys: Array<string> = []
  const apiKey = headers["x-api-key"]?.trim()
  if (apiKey) keys.push(apiKey)
  const bearer = /^\s*bearer\s+(.+)$/i.exec(headers["authorization"] ?? "")?.[1]?.trim()
  if (bearer) keys.push(bearer)
  return keys
}

/**
 * The shortest fingerprint length (8 hex digits, doubling) that tells every configured key apart: the fingerprint
 * also scopes a client's cache entries and inbound rate limit, so two keys must never share one.
 */
const distinctLength = (hashes: ReadonlyArray<Buffer>): number => {
  const distinct = new Set(hashes.map((hash) => hash.toString("hex"))).size
  let length = 8
  while (length < 64 && new Set(hashes.map((hash) => hash.toString("hex").slice(0, length))).size < distinct) length *= 2
  return length
}

export const makeAuthenticator = (keys: ReadonlyArray<Redacted.Redacted<string>>): Authenticator => {
  const hashes = keys
    .map((key) => Redacted.value(key).trim())
    .filter((key) => key.length > 0)
    .map(digest)
  const length = distinctLength(hashes)
  const known = hashes.map((hash) => ({ hash, client: { fingerprint: hash.toString("hex").slice(0, length) } satisfies Client }))
  if (known.length === 0) return () => Result.succeed(undefined)

  const match = (presented: string): Client | undefined => {
    const hash = digest(presented)
    let found: Client | undefined
    // No early exit: which configured key matched must not show in the timing either.
    for (const entry of known) {
      if (Crypto.timingSafeEqual(hash, entry.hash)) found = entry.client
    }
    return found
  }

  return (headers) => {
    const presented = presentedKeys(headers)
    if (presented.length === 0) return Result.fail(missing())
    for (const key of presented) {
      const client = match(key)
      if (client) return Result.succeed(client)
    }
    return Result.fail(wrong())
  }
}

/**
 * The routes a load balancer or `ccproxy status` probes without a key, and the dashboard's page, which holds no data
 * (it asks for a key, from its URL fragment or a prompt, and sends it on its own /v1/metrics requests).
 */
export const isPublicRoute = (method: string, path: string): boolean =>
  (method === "GET" || method === "HEAD") && (path === "/" || path === "/health" || path === "/dashboard")

/** 127.0.0.0/8, ::1 (in any spelling, also IPv4-mapped) and localhost. */
export const isLoopback = (host: string): boolean => {
  const bare = host.trim().toLowerCase().replace(/^\[(.*)\]$/, "$1")
  if (bare === "localhost") return true
  let canonical: string
  try {
    // The URL parser spells addresses canonically: 0:0:0:0:0:0:0:1 → [::1], ::ffff:127.0.0.1 → [::ffff:7f00:1].
    canonical = new URL(`http://${bare.includes(":") ? `[${bare}]` : bare}/`).hostname
  } catch {
    return false
  }
  if (canonical === "[::1]") return true
  if (/^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(canonical)) return true
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(canonical)
}

/** Why the proxy must not start on this HOST, or `undefined` when it may. */
export const exposureProblem = (host: string, hasKeys: boolean, allowUnauthenticated: boolean): string | undefined => {
  if (hasKeys || allowUnauthenticated || isLoopback(host)) return undefined
  return `HOST=${host} accepts connections from other machines, but PROXY_API_KEYS is not set, so anyone who reaches ` +
    `the port can spend your upstream key; set PROXY_API_KEYS (clients send one as x-api-key or Bearer), or ` +
    `ALLOW_UNAUTHENTICATED=true if something in front of the proxy authenticates`
}

/** PROXY_API_KEYS is comma-separated; blanks around and between commas are ignored. */
export const parseAuthSettings = (raw: Raw): AuthSettings => {
  const text = raw.PROXY_API_KEYS ?? ""
  const keys = text.split(",").map((key) => key.trim()).filter((key) => key.length > 0)
  if (keys.length === 0 && text.trim() !== "") {
    throw new ConfigInvalid({ variable: "PROXY_API_KEYS", problem: "holds only commas and blanks; list at least one key" })
  }
  if (keys.some((key) => /\s/.test(key))) {
    throw new ConfigInvalid({ variable: "PROXY_API_KEYS", problem: "has a key with a blank inside; separate keys with commas" })
  }
  return {
    apiKeys: keys.map((key) => Redacted.make(key)),
    allowUnauthenticated: boolean(raw, "ALLOW_UNAUTHENTICATED", false)
  }
}
