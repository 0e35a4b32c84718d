/**
 * Client keys (PROXY_API_KEYS) and the refusal to listen beyond loopback without them.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as Crypto from "node:crypto"
import { ConfigInvalid } from "../../src/config.ts"
import {
  exposureProblem,
  fingerprint,
  isLoopback,
  isPublicRoute,
  makeAuthenticator,
  parseAuthSettings
} from "../../src/http/auth.ts"

const KEY_A = "ccp-alpha-0123456789abcdef"
const KEY_B = "ccp-bravo-fedcba9876543210"
const keys = (...values: Array<string>) => values.map((v) => Redacted.make(v))
const sha8 = (key: string) => Crypto.createHash("sha256").update(key).digest("hex").slice(0, 8)

describe("makeAuthenticator", () => {
  const authenticate = makeAuthenticator(keys(KEY_A, "", "   ", KEY_B))

  const cases: ReadonlyArray<{
    readonly name: string
    readonly headers: Record<string, string>
    readonly expected: string | "missing" | "wrong"
  }> = [
    { name: "x-api-key", headers: { "x-api-key": KEY_A }, expected: KEY_A },
    { name: "second key of the list", headers: { "x-api-key": KEY_B }, expected: KEY_B },
    { name: "Bearer", headers: { authorization: `Bearer ${KEY_B}` }, expected: KEY_B },
    { name: "bearer, any case, extra blanks", headers: { authorization: `  bEaReR   ${KEY_A}  ` }, expected: KEY_A },
    { name: "x-api-key with blanks around", headers: { "x-api-key": ` ${KEY_A}\t` }, expected: KEY_A },
    { name: "wrong x-api-key, right Bearer", headers: { "x-api-key": "nope", authorization: `Bearer ${KEY_A}` }, expected: KEY_A },
    { name: "wrong key", headers: { "x-api-key": "ccp-wrong" }, expected: "wrong" },
    { name: "a prefix of a key", headers: { "x-api-key": KEY_A.slice(0, -1) }, expected: "wrong" },
    { name: "a key plus a byte", headers: { "x-api-key": `${KEY_A}x` }, expected: "wrong" },
    { name: "Basic scheme (not a way to send a key)", headers: { authorization: `Basic ${KEY_A}` }, expected: "missing" },
    { name: "no headers", headers: {}, expected: "missing" },
    { name: "empty x-api-key", headers: { "x-api-key": "  " }, expected: "missing" },
    { name: "Bearer without a token", headers: { authorization: "Bearer " }, expected: "missing" }
  ]

  for (const { name, headers, expected } of cases) {
    it(name, () => {
      const result = authenticate(headers)
      if (expected === "missing" || expected === "wrong") {
        expect(Result.isFailure(result)).toBe(true)
        if (Result.isFailure(result)) {
          expect(result.failure._tag).toBe("Unauthorized")
          expect(result.failure.message).toMatch(expected === "missing" ? /^Missing API key/ : /^Invalid API key/)
          expect(result.failure.message).not.toContain(KEY_A)
        }
      } else {
        expect(result).toEqual(Result.succeed({ fingerprint: sha8(expected) }))
      }
    })
  }

  it("keys off (none configured, or only blanks): everyone passes, no fingerprint", () => {
    expect(makeAuthenticator([])({})).toEqual(Result.succeed(undefined))
    expect(makeAuthenticator(keys("", " "))({ "x-api-key": "anything" })).toEqual(Result.succeed(undefined))
  })

  it("two configured keys whose first 8 digits agree get longer fingerprints, so no two keys share one", () => {
    // A birthday search for two keys with the same 32-bit prefix: about 2^16 digests.
    const seen = new Map<string, string>()
    let pair: [string, string] | undefined
    for (let i = 0; pair === undefined; i++) {
      const key = `ccp-collide-${i}`
      const prefix = sha8(key)
      const other = seen.get(prefix)
      if (other !== undefined) pair = [other, key]
      else seen.set(prefix, key)
    }
    const [a, b] = pair
    const authenticate = makeAuthenticator(keys(a, b, KEY_A))
    const fingerprintOf = (key: string) => {
      const result = authenticate({ "x-api-key": key })
      return Result.isSuccess(result) ? result.success?.fingerprint : undefined
    }
    expect(fingerprintOf(a)).toMatch(/^[0-9a-f]{16}$/)
    expect(fingerprintOf(a)).not.toBe(fingerprintOf(b))
    expect(fingerprintOf(KEY_A)).toBe(Crypto.createHash("sha256").update(KEY_A).digest("hex").slice(0, 16))
    // The same key listed twice is one key, not a collision.
    expect(makeAuthenticator(keys(KEY_A, KEY_A))({ "x-api-key": KEY_A })).toEqual(Result.succeed({ fingerprint: sha8(KEY_A) }))
  })

  it("the fingerprint is stable, short, per key, and not the key", () => {
    const a = fingerprint(Redacted.make(KEY_A))
    expect(a).toMatch(/^[0-9a-f]{8}$/)
    expect(fingerprint(Redacted.make(KEY_A))).toBe(a)
    expect(fingerprint(Redacted.make(KEY_B))).not.toBe(a)
    expect(KEY_A).not.toContain(a)
    expect(authenticate({ "x-api-key": KEY_A })).toEqual(Result.succeed({ fingerprint: a }))
  })
})

describe("isPublicRoute", () => {
  it("only the health checks go without a key", () => {
    expect(isPublicRoute("GET", "/")).toBe(true)
    expect(isPublicRoute("GET", "/health")).toBe(true)
    expect(isPublicRoute("HEAD", "/health")).toBe(true)
    expect(isPublicRoute("POST", "/")).toBe(false)
    expect(isPublicRoute("GET", "/v1/models")).toBe(false)
    expect(isPublicRoute("POST", "/v1/messages")).toBe(false)
  })
})

describe("exposureProblem", () => {
  const loopback = ["127.0.0.1", "127.1.2.3", "127.255.255.254", "::1", "[::1]", "0:0:0:0:0:0:0:1", "localhost", "LOCALHOST",
    "::ffff:127.0.0.1"]
  const exposed = ["0.0.0.0", "::", "[::]", "192.168.1.10", "10.0.0.1", "128.0.0.1", "::2", "fe80::1", "example.com",
    "localhost.example.com", ""]

  for (const host of loopback) {
    it(`${host || "(empty)"} is loopback: no keys needed`, () => {
      expect(isLoopback(host)).toBe(true)
      expect(exposureProblem(host, false, false)).toBeUndefined()
    })
  }

  for (const host of exposed) {
    it(`${host || "(empty)"} is exposed: refuses without keys`, () => {
      expect(isLoopback(host)).toBe(false)
      const problem = exposureProblem(host, false, false)
      expect(problem).toContain("PROXY_API_KEYS")
      expect(problem).toContain("ALLOW_UNAUTHENTICATED=true")
      expect(problem).not.toContain("\n")
      expect(exposureProblem(host, true, false)).toBeUndefined()
      expect(exposureProblem(host, false, true)).toBeUndefined()
    })
  }
})

describe("parseAuthSettings", () => {
  it("splits on commas and drops blanks", () => {
    const settings = parseAuthSettings({ PROXY_API_KEYS: ` ${KEY_A} ,, ${KEY_B},` })
    expect(settings.apiKeys.map(Redacted.value)).toEqual([KEY_A, KEY_B])
    expect(settings.allowUnauthenticated).toBe(false)
    expect(String(settings.apiKeys[0])).not.toContain(KEY_A)
  })

  it("unset or empty: keys off", () => {
    expect(parseAuthSettings({}).apiKeys).toEqual([])
    expect(parseAuthSettings({ PROXY_API_KEYS: "  " }).apiKeys).toEqual([])
  })

  it("ALLOW_UNAUTHENTICATED", () => {
    expect(parseAuthSettings({ ALLOW_UNAUTHENTICATED: "true" }).allowUnauthenticated).toBe(true)
    expect(parseAuthSettings({ ALLOW_UNAUTHENTICATED: "FALSE" }).allowUnauthenticated).toBe(false)
  })

  const invalid: ReadonlyArray<readonly [Record<string, string>, string]> = [
    [{ PROXY_API_KEYS: " , ," }, "PROXY_API_KEYS"],
    [{ PROXY_API_KEYS: "one key,two words" }, "PROXY_API_KEYS"],
    [{ ALLOW_UNAUTHENTICATED: "maybe" }, "ALLOW_UNAUTHENTICATED"]
  ]
  for (const [raw, variable] of invalid) {
    it(`${JSON.stringify(raw)} is rejected, naming ${variable}`, () => {
      try {
        parseAuthSettings(raw)
        expect.unreachable()
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigInvalid)
        expect((error as ConfigInvalid).variable).toBe(variable)
      }
    })
  }
})
