/**
 * Cost of the guardrails on the bench bodies: `node test/guardrails/measure.ts`.
 * Prints µs per body for the structural check and for the secret guard in block and redact modes.
 */
import * as Schema from "effect/Schema"
import { loadBodies } from "../../bench/bodies.ts"
import { MessagesRequest } from "../../src/protocol/anthropic.ts"
import { findSecretsInRequest, redactSecretsInRequest } from "../../src/guardrails/scan.ts"
import { makeSecretScanner } from "../../src/guardrails/secrets.ts"
import { checkStructure, DEFAULT_STRUCTURE_LIMITS } from "../../src/guardrails/structure.ts"

const timeUs = (run: () => unknown): number => {
  for (let i = 0; i < 200; i++) run()
  let rounds = 0
  const started = process.hrtime.bigint()
  let elapsed = 0n
  while (elapsed < 1_000_000_000n) {
    for (let i = 0; i < 50; i++) run()
    rounds += 50
    elapsed = process.hrtime.bigint() - started
  }
  return Number(elapsed) / rounds / 1000
}

const bodies = loadBodies(process.cwd())
const scanner = makeSecretScanner({ literals: ["sk-upstream-0123456789abcdefghij"] })
const decode = Schema.decodeUnknownSync(MessagesRequest)
for (const [name, text] of Object.entries(bodies)) {
  const json: unknown = JSON.parse(text)
  const body = decode(json)
  const row = {
    body: name,
    kb: Math.round(text.length / 1024),
    "JSON.parse µs": timeUs(() => JSON.parse(text)).toFixed(1),
    "checkStructure µs": timeUs(() => checkStructure(json, DEFAULT_STRUCTURE_LIMITS)).toFixed(1),
    "secrets block µs": timeUs(() => findSecretsInRequest(body, scanner)).toFixed(1),
    "secrets redact µs": timeUs(() => redactSecretsInRequest(body, scanner)).toFixed(1),
    findings: findSecretsInRequest(body, scanner).length
  }
  console.log(row)
}
