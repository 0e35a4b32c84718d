/**
 * Instructions per request, counted by valgrind's callgrind: a measure that this machine's drift cannot blur.
 *
 * `node bench/instructions.ts [checkout …]` (default: this one) runs each checkout's proxy under callgrind with
 * instrumentation off, warms it up with BENCH_INSTR_WARMUP requests (400) of the 49 KB Claude Code turn, 4 at a
 * time, against the bench upstream, then counts the instructions of the next BENCH_INSTR_REQUESTS (400) and prints
 * them per request, split into garbage collection, JIT compilation and the rest (our code, Effect, Node and V8's
 * runtime), with the functions that cost most when BENCH_INSTR_TOP is set (JavaScript functions are named
 * through V8's `--perf-basic-prof` map).
 *
 * CPU time on this machine moves by 30 % from one minute to the next, and two proxies measured side by side still
 * differ by ±5 % from one run to the next when they are the same code. Instruction counts of the same code agree
 * within 1 % for the rest, a few % for GC (a major collection may or may not fall in the window). They are not
 * time: cache misses and memory traffic are not in them, so a change that allocates less may gain more than its
 * instructions say. Use them to decide what to change, and the A/B (`bench/compare.ts`) to confirm.
 *
 * Needs valgrind (`apt-get install -y valgrind`); about two minutes per checkout.
 */
import { execFileSync, spawn } from "node:child_process"
import { existsSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import * as Path from "node:path"
import { CLAUDE_CODE_HEADERS, loadBodies } from "./bodies.ts"
import { type Child, spawnChild, stopAll, waitReady } from "./children.ts"

const ROOT = Path.resolve(import.meta.dirname, "..")
const positive = (name: string, fallback: number) => {
  const value = Number(process.env[name] ?? "")
  return Number.isFinite(value) && value > 0 ? value : fallback
}
const WARMUP = positive("BENCH_INSTR_WARMUP", 400)
const REQUESTS = positive("BENCH_INSTR_REQUESTS", 400)
const CONCURRENCY = 4
const TOP = positive("BENCH_INSTR_TOP", 0)

interface Count {
  readonly checkout: string
  readonly total: number
  readonly gc: number
  readonly compiler: number
  readonly rest: number
  readonly top: ReadonlyArray<readonly [string, number]>
}

const hasValgrind = () => {
  try {
    execFileSync("valgrind", ["--version"], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
}

/** Code addresses → JavaScript function names, from V8's perf map of that process. */
const perfMap = (pid: number) => {
  const file = `/tmp/perf-${pid}.map`
  if (!existsSync(file)) return () => undefined
  const entries = readFileSync(file, "utf8").split("\n").flatMap((line) => {
    const [start, size, ...name] = line.split(" ")
    return start && size ? [{ start: parseInt(start, 16), end: parseInt(start, 16) + parseInt(size, 16), name: name.join(" ") }] : []
  }).sort((a, b) => a.start - b.start)
  rmSync(file, { force: true })
  return (address: number): string | undefined => {
    let lo = 0
    let hi = entries.length - 1
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      const entry = entries[mid]!
      if (address < entry.start) hi = mid - 1
      else if (address >= entry.end) lo = mid + 1
      else return entry.name
    }
    return undefined
  }
}

const kindOf = (name: string): "gc" | "compiler" | "rest" =>
  /compiler::|Compil|[Mm]aglev|Turbofan/.test(name)
    ? "compiler"
    : /Marking|Scaveng|Sweep|heap::|Heap|Evacuat|GC/.test(name)
    ? "gc"
    : "rest"

const measure = async (checkout: string, upstreamPort: number, body: string): Promise<Count> => {
  const out = Path.join(tmpdir(), `ccproxy-callgrind-${process.pid}-${Path.basename(checkout)}`)
  const proxy = spawn(
    "valgrind",
    ["--tool=callgrind", "--instr-atstart=no", `--callgrind-out-file=${out}`, process.execPath, "--perf-basic-prof", "--logfile=/dev/null", "--no-logfile-per-isolate", "src/main.ts"],
    {
      cwd: checkout,
      env: {
        PATH: process.env.PATH ?? "",
        HOME: process.env.HOME ?? "",
        OPENAI_BASE_URL: `http://127.0.0.1:${upstreamPort}/v1`,
        OPENAI_API_KEY: "bench",
        PORT: "0",
        LOG_LEVEL: "info"
      },
      stdio: ["ignore", "pipe", "pipe"]
    }
  )
  let stderr = ""
  proxy.stderr.on("data", (chunk) => (stderr = (stderr + chunk).slice(-20_000)))
  let stdout = ""
  const url = await new Promise<string>((resolve, reject) => {
    proxy.stdout.on("data", (chunk) => {
      stdout = (stdout + chunk).slice(-4_000)
      const found = /"msg":"listening".*?"address":"([^"]+)"/.exec(stdout)
      if (found) resolve(found[1]!)
    })
    proxy.once("exit", () => reject(new Error(`${checkout}: the proxy exited\n${stderr}`)))
  })
  const send = async () => {
    const response = await fetch(`${url}/v1/messages`, { method: "POST", headers: CLAUDE_CODE_HEADERS, body })
    await response.text()
    if (response.status !== 200) throw new Error(`${checkout}: HTTP ${response.status}`)
  }
  const run = async (n: number) => {
    let left = n
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (left-- > 0) await send()
    }))
  }
  await run(WARMUP)
  execFileSync("callgrind_control", ["-i", "on", String(proxy.pid)], { stdio: "ignore" })
  await run(REQUESTS)
  execFileSync("callgrind_control", ["-i", "off", String(proxy.pid)], { stdio: "ignore" })
  proxy.kill("SIGTERM")
  await new Promise((resolve) => proxy.once("exit", resolve))

  const named = perfMap(proxy.pid!)
  const annotated = execFileSync("callgrind_annotate", ["--threshold=100", out], { encoding: "utf8", maxBuffer: 1 << 28 })
  rmSync(out, { force: true })
  const byName = new Map<string, number>()
  const kinds = { gc: 0, compiler: 0, rest: 0 }
  for (const line of annotated.split("\n")) {
    const found = /^\s*([\d,]+) \(.*?\)\s+(.*)$/.exec(line)
    if (!found || line.includes("PROGRAM TOTALS")) continue
    const count = Number(found[1]!.replace(/,/g, ""))
    let name = found[2]!.replace(/\s*\[.*$/, "").replace(/'\d+$/, "")
    const address = /^\?\?\?:0x([0-9a-f]+)/.exec(name)
    if (address) name = `JS ${named(parseInt(address[1]!, 16)) ?? name}`.replace(`file://${checkout}/`, "")
    kinds[kindOf(name)] += count
    byName.set(name, (byName.get(name) ?? 0) + count)
  }
  const total = kinds.gc + kinds.compiler + kinds.rest
  return {
    checkout,
    total: total / REQUESTS,
    gc: kinds.gc / REQUESTS,
    compiler: kinds.compiler / REQUESTS,
    rest: kinds.rest / REQUESTS,
    top: [...byName].sort((a, b) => b[1] - a[1]).slice(0, TOP).map(([name, n]) => [name, n / REQUESTS] as const)
  }
}

const main = async () => {
  if (!hasValgrind()) {
    process.stderr.write("bench/instructions.ts needs valgrind: apt-get install -y valgrind\n")
    process.exitCode = 2
    return
  }
  const checkouts = process.argv.length > 2 ? process.argv.slice(2).map((dir) => Path.resolve(dir)) : [ROOT]
  const body = loadBodies(ROOT).firstTurn
  const upstream: Child = spawnChild("upstream", { args: ["bench/upstream.ts"], env: { PATH: process.env.PATH ?? "" }, cwd: ROOT })
  const port = await waitReady(upstream)
  const m = (n: number) => `${(n / 1e6).toFixed(3)} M`
  for (const checkout of checkouts) {
    const count = await measure(checkout, port, body)
    console.log(
      `${checkout}: ${m(count.total)} instructions per request (rest ${m(count.rest)}, GC ${m(count.gc)}, JIT ${m(count.compiler)}); ` +
        `${WARMUP} warm-up, ${REQUESTS} counted`
    )
    for (const [name, n] of count.top) console.log(`  ${(n / 1000).toFixed(1).padStart(8)} K  ${name.slice(0, 150)}`)
  }
}

main()
  .catch((error) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`)
    process.exitCode = 1
  })
  .finally(() => stopAll())
