/**
 * Worker thread for the HTTP fuzz: runs one `BatchRequest` per message and answers with its `BatchResult`
 * (or `{ error }`). Its client connections close when the parent sends "close".
 */
import { parentPort } from "node:worker_threads"
import { type BatchRequest, makeClient, runBatch } from "./sender.ts"

const port = parentPort!
let client: ReturnType<typeof makeClient> | undefined

port.on("message", (message: BatchRequest | "close") => {
  if (message === "close") {
    void (client?.close() ?? Promise.resolve()).then(() => port.close())
    return
  }
  client ??= makeClient(message.concurrency)
  runBatch(client, message).then(
    (result) => port.postMessage(result),
    (error: unknown) => port.postMessage({ error: String((error as Error)?.stack ?? error) })
  )
})
