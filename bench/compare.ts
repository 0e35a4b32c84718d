/**
 * A/B: this checkout's proxy against another checkout's (`node bench/compare.ts /path/to/other/checkout`), on the
 * 49 KB Claude Code request, one upstream for both.
 *
 * The two proxies run side by side and take turns: short load slices (BENCH_COMPARE_SLICE_SECONDS, 2 s) alternate
 * between them, BENCH_COMPARE_ROUNDS times (12), and each proxy's CPU time (from /proc) and completed requests are
 * summed over its slices. On a shared machine whose speed drifts from minute to minute, two runs minutes apart can
 * differ by 30 %; slices a second apart see the same machine, so their ratio holds where absolute figures do not.
 *
 * BENCH_COMPARE_NODE_OPTIONS is given to both proxies as NODE_OPTIONS, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`
 * for a CPU profile of each under the same load.
 *
 * Prints, per proxy: requests/s, CPU ms per request, and the ratio of this checkout's CPU per request to the
 * other's with the spread of the per-round ratios.
 */
import autocannon from "autocannon"
import { readFileSync } from "node:fs"
import * as Path from "node:path"
import { CLAUDE_CODE_HEADERS, loadBodies } from "./bodies.ts"
import { type Child, spawnChild, stopAll, waitReady } from "./children.ts"

const ROOT = Path.resolve(import.meta.dirname, "..")
const other = process.argv[2]
if (other === undefined) {
  process.stderr.write("usage: node bench/compare.ts <other checkout>\n")
  process.exit(2)
}
const positive = (name: string, fallback: number) => {
  const value = Number(process.env[name] ?? "")
  return Number.isFinite(value) && value > 0 ? value : fallback
}
const ROUNDS = positive("BENCH_COMPARE_ROUNDS", 12)
const SLICE_SECONDS = positive("BENCH_COMPARE_SLICE_SECONDS", 2)
const CONNECTIONS = positive("BENCH_COMPARE_CONNECTIONS", 16)
/** BENCH_COMPARE_TOGETHER=1: both proxies under load at the same time (each its own connections), not in turns. */
const TOGETHER = process.env.BENCH_COMPARE_TOGETHER === "1"
const env = { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "" }
const proxyEnv = process.env.BENCH_COMPARE_NODE_OPTIONS ? { ...env, NODE_OPTIONS: process.env.BENCH_COMPARE_NODE_OPTIONS } : env

/** utime + stime of a process, in clock ticks (1/100 s). */
const cpuTicks = (pid: number): number => {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
  return Number(fields[11]) + Number(fields[12])
}

const startProxy = (name: string, cwd: string, upstreamPort: number): Promise<{ child: Child; url: string }> =>
  new Promise((resolve, reject) => {
    let buffer = ""
    const child = spawnChild(name, {
      args: ["src/main.ts"],
      env: { ...proxyEnv, OPENAI_BASE_URL: `http://127.0.0.1:${upstreamPort}/v1`, OPENAI_API_KEY: "bench", PORT: "0", LOG_LEVEL: "info" },
      cwd,
      onStdout: (chunk) => {
        buffer = (buffer + chunk).slice(-4_000)
        const found = /"msg":"listening".*?"address":"([^"]+)"/.exec(buffer)
        if (found) resolve({ child, url: `${found[1]}/v1/messages` })
      }
    })
    child.process.once("exit", () => reject(new Error(`${name} exited:\n${child.stderrTail()}`)))
  })

const load = (url: string, body: string, seconds: number): Promise<number> =>
  new Promise((resolve, reject) =>
    autocannon(
      { url, method: "POST", headers: { ...CLAUDE_CODE_HEADERS }, body, connections: CONNECTIONS, duration: seconds },
      (error, result) => (error ? reject(error) : resolve(result["2xx"]))
    ))

const main = async () => {
  const body = loadBodies(ROOT).firstTurn
  const upstream = spawnChild("upstream", { args: ["bench/upstream.ts"], env, cwd: ROOT })
  const port = await waitReady(upstream)
  const sides = [
    { label: "this", ...(await startProxy("this", ROOT, port)), ticks: 0, requests: 0, seconds: 0 },
    { label: Path.basename(Path.resolve(other)), ...(await startProxy("other", Path.resolve(other), port)), ticks: 0, requests: 0, seconds: 0 }
  ]
  for (const side of sides) await load(side.url, body, 2) // warm-up
  const ratios: Array<number> = []
  for (let round = 0; round < ROUNDS; round++) {
    const perRound: Array<number> = []
    if (TOGETHER) {
      // Both at once, each with its own load: the same machine, at the same moment, for both.
      const before = sides.map((side) => cpuTicks(side.child.pid))
      const started = performance.now()
      const completed = await Promise.all(sides.map((side) => load(side.url, body, SLICE_SECONDS)))
      const seconds = (performance.now() - started) / 1000
      sides.forEach((side, i) => {
        const ticks = cpuTicks(side.child.pid) - before[i]!
        side.seconds += seconds
        side.ticks += ticks
        side.requests += completed[i]!
        perRound[i] = (ticks * 10) / Math.max(1, completed[i]!)
      })
      ratios.push(perRound[0]! / perRound[1]!)
      continue
    }
    // Alternate which side goes first, so neither always follows the other.
    for (const side of round % 2 === 0 ? sides : [...sides].reverse()) {
      const before = cpuTicks(side.child.pid)
      const started = performance.now()
      const completed = await load(side.url, body, SLICE_SECONDS)
      side.seconds += (performance.now() - started) / 1000
      const ticks = cpuTicks(side.child.pid) - before
      side.ticks += ticks
      side.requests += completed
      perRound[sides.indexOf(side)] = (ticks * 10) / Math.max(1, completed)
    }
    ratios.push(perRound[0]! / perRound[1]!)
  }
  ratios.sort((a, b) => a - b)
  for (const side of sides) {
    console.log(
      `${side.label.padEnd(12)} ${(side.requests / side.seconds).toFixed(0).padStart(5)} req/s  ${((side.ticks * 10) / side.requests).toFixed(3)} ms CPU/req  (${side.requests} requests)`
    )
  }
  const [a, b] = sides
  console.log(
    `this / ${b!.label}: CPU per request ×${(((a!.ticks) / a!.requests) / (b!.ticks / b!.requests)).toFixed(3)}, ` +
      `requests/s ×${((a!.requests / a!.seconds) / (b!.requests / b!.seconds)).toFixed(3)}; ` +
      `per-round CPU ratios ${ratios[0]!.toFixed(2)}…${ratios[ratios.length - 1]!.toFixed(2)}, median ${ratios[ratios.length >> 1]!.toFixed(3)}`
  )
}

main()
  .catch((error) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`)
    process.exitCode = 1
  })
  .finally(() => stopAll())
