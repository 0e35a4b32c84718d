/**
 * Micro-benchmark (not a test): what the cache key costs per request, next to what the request path already pays.
 *
 *   export PATH=/work/main/node_modules/.bin:$PATH && node --expose-gc test/cache/key.bench.ts
 *
 * Bodies: bench/bodies.ts (Claude Code's first turn, ~50 KB; a long session, ~500 KB). Every timed request is a
 * fresh parse and conversion of the body, made before the clock starts, because that is what the proxy sees: each
 * request brings new string objects, only their contents repeat from turn to turn. (Reusing one object would
 * flatter every variant that looks strings up in a Map: V8 keeps a string's hash in the string once computed.)
 * Caches (the upstream's literal cache, the key's digest memo) are warmed by one earlier turn, as in a session.
 *
 * Variants, interleaved round by round, each on copies of its own:
 * - upstream body: `serializeChatRequest` with a warm literal cache, what every request already pays;
 * - key: `makeKeyer().keyOf` (digest memo warm);
 * - key + upstream body: both on the same request, as the pipeline runs them; minus the row above, it is what the
 *   key adds (the memo's Map lookups hash the long strings, and the literal cache then finds that hash cached);
 * - key, no memo: the same walk hashing every string (a streaming hash over the ChatRequest);
 * - sha256 of the body bytes: the hash alone, if the body were serialised once before the cache stage and handed
 *   to the upstream (the alternative proposed to the lead);
 * - second serialisation + sha256: serialising the request without stream/user again, then hashing.
 *
 * Numbers are CPU time per request (this machine is shared), min and median over ROUNDS rounds.
 */
import { createHash } from "node:crypto"
import * as Path from "node:path"
import * as Result from "effect/Result"
import { loadBodies } from "../../bench/bodies.ts"
import { makeKeyer } from "../../src/cache/key.ts"
import { toChatRequest } from "../../src/convert/request.ts"
import type { ChatRequest } from "../../src/protocol/openai.ts"
import { LiteralCache, serializeChatRequest } from "../../src/upstream/request-body.ts"

const ROOT = Path.resolve(import.meta.dirname, "../..")
const ROUNDS = Number(process.env.ROUNDS ?? 25)
const BATCH = 6
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})

const convert = (text: string): ChatRequest => {
  const converted = toChatRequest(JSON.parse(text), { model: "gpt-4.1", provider: "openai" })
  if (Result.isFailure(converted)) throw converted.failure
  return converted.success.request
}

const withoutVolatile = (request: ChatRequest): ChatRequest => {
  const { stream: _s, stream_options: _o, user: _u, ...rest } = request
  return rest as ChatRequest
}

const bodies = loadBodies(ROOT)
const rows: Array<Record<string, string>> = []
for (const [name, text] of [["50 KB", bodies.firstTurn], ["500 KB", bodies.longSession]] as const) {
  const literals = new LiteralCache(32 * 1024 * 1024)
  const keyer = makeKeyer()
  const cold = makeKeyer(0)
  const warm = convert(text)
  serializeChatRequest(warm, literals)
  keyer.keyOf("openai", warm)
  const bytesOf = new WeakMap<ChatRequest, Uint8Array>()

  const variants: Record<string, (request: ChatRequest) => unknown> = {
    "upstream body": (request) => serializeChatRequest(request, literals),
    key: (request) => keyer.keyOf("openai", request),
    "key + upstream body": (request) => {
      keyer.keyOf("openai", request)
      return serializeChatRequest(request, literals)
    },
    "key, no memo": (request) => cold.keyOf("openai", request),
    "sha256 of the body bytes": (request) => createHash("sha256").update(bytesOf.get(request)!).digest("base64url"),
    "second serialisation + sha256": (request) =>
      createHash("sha256").update(serializeChatRequest(withoutVolatile(request), literals)).digest("base64url")
  }
  const samples = new Map<string, Array<number>>(Object.keys(variants).map((k) => [k, []]))
  for (let round = -2; round < ROUNDS; round++) {
    for (const [label, run] of Object.entries(variants)) {
      const copies = Array.from({ length: BATCH }, () => convert(text))
      if (label === "sha256 of the body bytes") for (const c of copies) bytesOf.set(c, serializeChatRequest(c, new LiteralCache(0)))
      gc()
      const start = process.cpuUsage()
      for (const request of copies) run(request)
      const spent = process.cpuUsage(start)
      if (round >= 0) samples.get(label)!.push((spent.user + spent.system) / BATCH)
    }
  }
  const row: Record<string, string> = { body: name }
  for (const [label, xs] of samples) {
    xs.sort((a, b) => a - b)
    row[label] = `${xs[0]!.toFixed(0)} / ${xs[Math.floor(xs.length / 2)]!.toFixed(0)}`
  }
  rows.push(row)
}
console.log("CPU µs per request, min / median")
console.table(rows)
