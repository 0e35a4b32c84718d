/**
 * A bench-only preload: `node --expose-gc --import ./bench/probe.ts src/main.ts`. It never touches the request
 * path; it only
 * - answers `probe:memory` over the IPC channel the bench opened, with `process.memoryUsage()` (after a full GC
 *   when asked and `--expose-gc` is on), and
 * - ends the process (SIGTERM to itself, so the proxy shuts down as usual) when the bench goes away, even if the
 *   bench was killed, so no child outlives a run.
 * Without an IPC channel (started by hand) it does nothing.
 */
import type { FromChild, ToChild } from "./ipc.ts"

if (process.send && process.channel) {
  const gc = (globalThis as { gc?: () => void }).gc
  process.on("message", (raw) => {
    const message = raw as ToChild
    if (message?.type !== "probe:memory") return
    const collect = message.gc && gc !== undefined
    if (collect) {
      gc()
      gc()
    }
    const usage = process.memoryUsage()
    const answer: FromChild = {
      type: "probe:memory",
      id: message.id,
      memory: {
        rss: usage.rss,
        heapTotal: usage.heapTotal,
        heapUsed: usage.heapUsed,
        external: usage.external,
        arrayBuffers: usage.arrayBuffers,
        gc: collect
      }
    }
    process.send?.(answer)
  })
  process.on("disconnect", () => {
    process.kill(process.pid, "SIGTERM")
    setTimeout(() => process.exit(0), 3_000).unref()
  })
  // The channel alone must not keep the process alive.
  process.channel.unref()
}
