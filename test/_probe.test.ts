import { it } from "@effect/vitest"
import { Effect, Stream, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { readdirSync, readFileSync } from "node:fs"
import { cassetteBytes, decodeCassette } from "../src/upstream/cassette.ts"
import { decodeChunks } from "../src/sse/decode.ts"
import { toEvents } from "../src/convert/stream.ts"

const dir = "test/fixtures/cassettes"
for (const file of readdirSync(dir)) {
  it.effect(file, () => Effect.gen(function*() {
    const c = decodeCassette(JSON.parse(readFileSync(`${dir}/${file}`, "utf8")))
    const fiber = yield* Effect.forkChild(Stream.runCollect(toEvents({ messageId: "msg_01TEST", clientModel: "claude-sonnet-4-5", toolNames: new Map(), inputTokens: 100 })(decodeChunks(cassetteBytes(c)))))
    yield* TestClock.adjust("60 seconds")
    const events = yield* Fiber.join(fiber)
    console.log(file + "\n" + events.map((e) => JSON.stringify(e)).join("\n"))
  }))
}
