import { it } from "@effect/vitest"
import { Effect, Stream, Fiber, Clock } from "effect"
import { TestClock } from "effect/testing"
import { readFileSync } from "node:fs"
import { cassetteBytes, decodeCassette } from "../src/upstream/cassette.ts"
import { decodeChunks } from "../src/sse/decode.ts"
import { toEvents, withPings } from "../src/convert/stream.ts"

it.effect("pings", () => Effect.gen(function*() {
  const c = decodeCassette(JSON.parse(readFileSync(`test/fixtures/cassettes/deepseek-slow-pings.json`, "utf8")))
  const s = toEvents({ messageId: "msg_01TEST", clientModel: "claude-sonnet-4-5", toolNames: new Map(), inputTokens: 100 })(decodeChunks(cassetteBytes(c))).pipe(withPings("5 seconds"), Stream.mapEffect((e) => Effect.map(Clock.currentTimeMillis, (t) => `${t} ${e.type}`)))
  const fiber = yield* Effect.forkChild(Stream.runCollect(s))
  yield* TestClock.adjust("60 seconds")
  const events = yield* Fiber.join(fiber)
  console.log(events.join("\n"))
}))
