import { describe, expect, it } from "@effect/vitest"
import { makeSecretScanner, MIN_LITERAL_LENGTH, type SecretKind } from "../../src/guardrails/secrets.ts"
import { claudeCodeBodies } from "./samples.ts"
import { alnum, base32, hex, TOKENS } from "./tokens.ts"

const scanner = makeSecretScanner()
const kindsIn = (text: string) => scanner.find(text).map((m) => m.kind)

/** kind, a value it must find (embedded in ordinary text), and a near miss it must leave alone. */
const TABLE: ReadonlyArray<readonly [SecretKind, string, string]> = [
  ["private_key", TOKENS.pem, `-----BEGIN PUBLIC KEY-----\n${alnum(64)}\n-----END PUBLIC KEY-----`],
  ["private_key", TOKENS.pemOpenSsh, `if (pem.startsWith("-----BEGIN PRIVATE KEY-----")) return parse(pem)`],
  ["private_key", TOKENS.pemEscaped, `const header = "-----BEGIN EC PRIVATE KEY-----\\n" + body`],
  ["aws_access_key_id", TOKENS.awsKeyId, `AKIA${base32(15)}`],
  ["aws_access_key_id", TOKENS.awsTempKeyId, `ASIA1234567890189012`],
  ["aws_secret_access_key", `AWS_SECRET_ACCESS_KEY=${TOKENS.awsSecret}`, `AWS_SECRET_ACCESS_KEY=${alnum(39)}`],
  ["aws_secret_access_key", `aws_secret_access_key = ${TOKENS.awsSecret}`, `aws_secret_access_key = <your secret key>`],
  ["aws_secret_access_key", `"SecretAccessKey": "${TOKENS.awsSecret}"`, `"secretToken": "${TOKENS.awsSecret}"`],
  ["google_api_key", TOKENS.googleKey, `AIza${alnum(34)}`],
  ["github_token", TOKENS.githubClassic, `ghp_${alnum(20)}`],
  ["github_token", TOKENS.githubApp, `ghx_${alnum(36)}`],
  ["github_token", TOKENS.githubFineGrained, "github_pat_placeholder"],
  ["gitlab_token", TOKENS.gitlab, "glpat-xxxxxxxx"],
  ["slack_token", TOKENS.slackBot, "SLACK_TOKEN=xoxb-your-bot-token-here"],
  ["slack_webhook", TOKENS.slackWebhook, "post to https://hooks.slack.com/services/ with the payload"],
  ["anthropic_api_key", TOKENS.anthropic, "ANTHROPIC_API_KEY=sk-ant-..."],
  ["openai_api_key", TOKENS.openaiProject, "OPENAI_API_KEY=sk-proj-xxxx"],
  ["openai_api_key", TOKENS.openaiLegacy, "sk-test-SECRET-0123456789abcdef"],
  ["openrouter_api_key", TOKENS.openrouter, `sk-or-v1-${hex(40)}`]
]

describe("secret patterns", () => {
  it.each(TABLE)("%s: finds %s", (kind, secret) => {
    const text = `Here is the config:\n  ${secret}\nand that is all.`
    expect(kindsIn(text)).toEqual([kind])
  })

  it.each(TABLE)("%s: leaves the near miss alone (%#)", (_kind, _secret, nearMiss) => {
    expect(kindsIn(`Here is the config:\n  ${nearMiss}\nand that is all.`)).toEqual([])
  })

  it("does not take a token out of the middle of a longer word", () => {
    expect(kindsIn(`x${TOKENS.githubClassic}`)).toEqual([])
    expect(kindsIn(`${TOKENS.awsKeyId}Z`)).toEqual([])
    expect(kindsIn(`${TOKENS.googleKey}Q`)).toEqual([])
  })

  it("names the Anthropic key as such, not as an OpenAI one", () => {
    expect(kindsIn(`key: ${TOKENS.anthropic}`)).toEqual(["anthropic_api_key"])
  })

  it("finds every secret in a text, left to right", () => {
    const text = `a=${TOKENS.githubClassic} b=${TOKENS.awsKeyId} c=${TOKENS.gitlab}`
    expect(kindsIn(text)).toEqual(["github_token", "aws_access_key_id", "gitlab_token"])
  })
})

describe("redaction", () => {
  it("replaces each value with its kind and keeps the text around it", () => {
    const text = `export GITHUB_TOKEN=${TOKENS.githubClassic}\nexport AWS_SECRET_ACCESS_KEY="${TOKENS.awsSecret}"\n`
    expect(scanner.redact(text)).toEqual({
      text: `export GITHUB_TOKEN=[REDACTED:github_token]\nexport AWS_SECRET_ACCESS_KEY="[REDACTED:aws_secret_access_key]"\n`,
      kinds: ["github_token", "aws_secret_access_key"]
    })
  })

  it("redacts a whole PEM block, armour included", () => {
    const result = scanner.redact(`cat key.pem\n${TOKENS.pem}\n$ `)
    expect(result?.text).toBe("cat key.pem\n[REDACTED:private_key]\n$ ")
  })

  it("redacts a service-account key written with \\n escapes", () => {
    const file = `{"type": "service_account", "private_key": "${TOKENS.pemEscaped}", "client_email": "x@y.iam.gserviceaccount.com"}`
    expect(scanner.redact(file)?.text).toBe(
      `{"type": "service_account", "private_key": "[REDACTED:private_key]\\n", "client_email": "x@y.iam.gserviceaccount.com"}`
    )
  })

  it("redacts a truncated key (no END line) too", () => {
    const head = TOKENS.pem.split("\n").slice(0, 3).join("\n")
    expect(scanner.redact(`$ head -3 id_rsa\n${head}`)?.text).toBe("$ head -3 id_rsa\n[REDACTED:private_key]")
  })

  it("answers undefined (no copy) when there is nothing to redact", () => {
    expect(scanner.redact("nothing to see here")).toBeUndefined()
  })
})

describe("the proxy's own upstream key", () => {
  const own = `local-${alnum(24)}`

  it("is found by value, under its own kind, even when it fits no known shape", () => {
    const withKey = makeSecretScanner({ literals: [own] })
    expect(withKey.find(`curl -H "Authorization: Bearer ${own}"`).map((m) => m.kind)).toEqual(["upstream_api_key"])
    expect(withKey.redact(`key=${own}.`)?.text).toBe("key=[REDACTED:upstream_api_key].")
  })

  it("wins over a generic shape it also fits, and regex characters in it are taken literally", () => {
    const key = `sk-${alnum(40)}`
    expect(makeSecretScanner({ literals: [key] }).find(key).map((m) => m.kind)).toEqual(["upstream_api_key"])
    const odd = "p4ss.word+(with)[regex]*chars?"
    const withOdd = makeSecretScanner({ literals: [odd] })
    expect(withOdd.find(`x ${odd} y`).map((m) => m.kind)).toEqual(["upstream_api_key"])
    expect(withOdd.find("p4ssXword+(with)[regex]*chars?")).toEqual([])
  })

  it(`is not looked for when shorter than ${MIN_LITERAL_LENGTH} characters (it would match ordinary words)`, () => {
    expect(makeSecretScanner({ literals: ["bench"] }).find("the bench body")).toEqual([])
  })
})

describe("no false positives", () => {
  it.each(claudeCodeBodies())(
    "%s: nothing found anywhere in the body, tools included",
    (_name, text) => {
      expect(scanner.find(text)).toEqual([])
      // And in the decoded strings, where JSON escapes are gone.
      const strings: Array<string> = []
      JSON.parse(text, (_key, value: unknown) => {
        if (typeof value === "string") strings.push(value)
        return value
      })
      expect(strings.flatMap((s) => scanner.find(s))).toEqual([])
    }
  )
})

describe("cost", () => {
  it("stays linear on hostile input (no backtracking blow-up)", () => {
    const hostile = [
      "-----BEGIN PRIVATE KEY-----".concat("A".repeat(70)).repeat(20_000),
      `sk-${"a".repeat(1_000_000)}`,
      `AWS_SECRET_ACCESS_KEY=${"a".repeat(1_000_000)}`,
      `xoxb-1-${"-".repeat(1_000_000)}`
    ]
    const started = performance.now()
    for (const text of hostile) scanner.find(text)
    expect(performance.now() - started).toBeLessThan(2_000)
  })
})
