/**
 * The secret guard as a stage: with SECRET_GUARD=redact the request goes on with credentials replaced by
 * `[REDACTED:<kind>]`; with block it is refused with a 400 naming the kinds and where they are; with off the stage
 * is the identity and costs nothing. (The structural limits run earlier, in the body reader, because they must
 * come before the schema decode.)
 *
 * Only kinds and locations are ever written to the log or the error, never a matched value.
 */
import * as Effect from "effect/Effect"
import { InvalidRequest } from "../errors.ts"
import { findSecretsInRequest, redactSecretsInRequest, type SecretFinding } from "../guardrails/scan.ts"
import { makeSecretScanner } from "../guardrails/secrets.ts"
import type { GuardrailSettings } from "../guardrails/settings.ts"
import { SECRET_GUARD_VARIABLE } from "../guardrails/variables.ts"
import { handOff, type Stage } from "./stage.ts"

/** A refusal lists this many findings and counts the rest: enough to find them, short enough to read. */
const LISTED = 3

const describe = (findings: ReadonlyArray<SecretFinding>): string => {
  const listed = findings.slice(0, LISTED).map((f) => `${f.kind} in ${f.where}`).join(", ")
  return findings.length > LISTED ? `${listed} and ${findings.length - LISTED} more` : listed
}

/** The refusal message; exported for the tests and for anyone matching on it. */
export const blockedMessage = (findings: ReadonlyArray<SecretFinding>): string =>
  `Request refused by the proxy's secret guard (${SECRET_GUARD_VARIABLE}=block): ${describe(findings)}. ` +
  "Remove the credential from the conversation, or ask the operator to use redact mode."

/**
 * The stage for these settings. `upstreamKeys`, the proxy's own credentials, are looked for as well: a prompt that
 * carries one would hand it to an upstream (or to whoever reads the upstream's logs).
 */
export const makeGuardrails = (settings: GuardrailSettings, upstreamKeys: ReadonlyArray<string> = []): Stage => {
  const name = "guardrails"
  if (settings.secretGuard === "off") return { name, wrap: (next) => next }
  const scanner = makeSecretScanner({ literals: upstreamKeys })
  if (settings.secretGuard === "block") {
    return {
      name,
      wrap: (next) => (request) => {
        const findings = findSecretsInRequest(request.body, scanner)
        return findings.length === 0 ? next(request) : Effect.fail(new InvalidRequest({ message: blockedMessage(findings) }))
      }
    }
  }
  return {
    name,
    wrap: (next) => (request) => {
      const { body, findings } = redactSecretsInRequest(request.body, scanner)
      if (findings.length === 0) return next(request)
      return Effect.andThen(
        Effect.logInfo("secrets redacted", { request_id: request.id, redacted: findings.map((f) => `${f.kind} in ${f.where}`) }),
        handOff(next, { ...request, body })
      )
    }
  }
}
