/** LOG_FILE: the JSON lines in a file as well, batched off the logging fiber, rotated by size, flushed at shutdown. */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer, Scope } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { ConfigInvalid } from "../src/config.ts"
import { acquireLogFile, parseLogFile, releaseLogFile, RotatingFile } from "../src/log-file.ts"
import { Log } from "../src/log.ts"

const dirs: Array<string> = []
const tempDir = () => {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "ccproxy-log-"))
  dirs.push(dir)
  return dir
}
afterAll(() => {
  for (const dir of dirs) Fs.rmSync(dir, { recursive: true, force: true })
})

const readLines = (file: string): Array<string> =>
  Fs.existsSync(file) ? Fs.readFileSync(file, "utf8").split("\n").filter((l) => l !== "") : []

/** Every retained line, oldest first: file.N … file.1, then file. */
const allLines = (file: string, backups: number): Array<string> => {
  const lines: Array<string> = []
  for (let i = backups; i >= 1; i--) lines.push(...readLines(`${file}.${i}`))
  lines.push(...readLines(file))
  return lines
}

/** Every line the same size, so the file boundaries are predictable. */
const line = (i: number) => `${JSON.stringify({ n: String(i).padStart(4, "0"), msg: "x".repeat(40) })}\n`
const LINE_BYTES = Buffer.byteLength(line(0)) // 62
const PER_FILE = Math.floor(1000 / LINE_BYTES) // lines that fit in 1000 bytes: 16
const numberOf = (text: string) => Number(JSON.parse(text).n)

describe("RotatingFile", () => {
  it.live("queued lines are written in order, off the caller, and all of them by flush", () =>
    Effect.promise(async () => {
      const file = Path.join(tempDir(), "proxy.log")
      const sink = await RotatingFile.open({ path: file, maxBytes: 1024 * 1024, backups: 2 })
      for (let i = 0; i < 1000; i++) sink.write(line(i))
      // Nothing written synchronously: the logger never waits for the disk.
      expect(Fs.readFileSync(file, "utf8")).toBe("")
      await sink.flush()
      expect(readLines(file).map((l) => numberOf(l))).toEqual(Array.from({ length: 1000 }, (_, i) => i))
      await sink.close()
    }))

  it.live("rotates at the size, between lines, without losing any; each file stays within the limit", () =>
    Effect.promise(async () => {
      const file = Path.join(tempDir(), "proxy.log")
      const sink = await RotatingFile.open({ path: file, maxBytes: 1000, backups: 20 })
      // Written over several turns, so rotation also happens while more lines queue up.
      for (let i = 0; i < 200; i++) {
        sink.write(line(i))
        if (i % 17 === 0) await new Promise((resolve) => setImmediate(resolve))
      }
      await sink.close()
      const numbers = allLines(file, 20).map((l) => numberOf(l))
      expect(numbers).toEqual(Array.from({ length: 200 }, (_, i) => i))
      const rotated = Math.floor(200 / PER_FILE) // 12 full files of 16 lines, 8 lines in the current one
      for (let i = 1; i <= rotated; i++) {
        // Full up to the last line that fits, never past the limit.
        expect(Fs.statSync(`${file}.${i}`).size).toBe(PER_FILE * LINE_BYTES)
      }
      expect(Fs.existsSync(`${file}.${rotated + 1}`)).toBe(false)
      expect(readLines(file)).toHaveLength(200 - rotated * PER_FILE)
    }))

  it.live("keeps at most LOG_FILE_BACKUPS rotated files, the newest as .1", () =>
    Effect.promise(async () => {
      const dir = tempDir()
      const file = Path.join(dir, "proxy.log")
      const sink = await RotatingFile.open({ path: file, maxBytes: 1000, backups: 3 })
      for (let i = 0; i < 200; i++) sink.write(line(i))
      await sink.close()
      expect(Fs.readdirSync(dir).sort()).toEqual(["proxy.log", "proxy.log.1", "proxy.log.2", "proxy.log.3"])
      const kept = allLines(file, 3).map((l) => numberOf(l))
      // The newest lines, contiguous and in order, ending with the last one.
      expect(kept.at(-1)).toBe(199)
      expect(kept).toEqual(Array.from({ length: kept.length }, (_, i) => 200 - kept.length + i))
      expect(kept.length).toBe(3 * PER_FILE + (200 % PER_FILE))
    }))

  it.live("with no backups the file starts over; an existing file's size counts; a line longer than the limit goes in alone", () =>
    Effect.promise(async () => {
      const dir = tempDir()
      const file = Path.join(dir, "proxy.log")
      Fs.writeFileSync(file, "x".repeat(990) + "\n")
      const sink = await RotatingFile.open({ path: file, maxBytes: 1000, backups: 0 })
      sink.write(line(1)) // 991 + 62 > 1000: rotates first
      await sink.flush()
      expect(readLines(file)).toEqual([line(1).trim()])
      const long = `${"y".repeat(2000)}\n`
      sink.write(long)
      sink.write(line(2))
      await sink.close()
      expect(Fs.readdirSync(dir)).toEqual(["proxy.log"])
      expect(readLines(file)).toEqual([line(2).trim()])
    }))

  it.live("a line logged after close is still written", () =>
    Effect.promise(async () => {
      const file = Path.join(tempDir(), "proxy.log")
      const sink = await RotatingFile.open({ path: file, maxBytes: 10_000, backups: 1 })
      sink.write(line(1))
      await sink.close()
      sink.write(line(2))
      expect(readLines(file).map((l) => numberOf(l))).toEqual([1, 2])
    }))

  it.live("layers naming the same file share one writer, closed by the last one", () =>
    Effect.promise(async () => {
      const file = Path.join(tempDir(), "proxy.log")
      const settings = { path: file, maxBytes: 1000, backups: 10 }
      const a = await acquireLogFile(settings)
      const b = await acquireLogFile(settings)
      expect(a).toBe(b)
      for (let i = 0; i < 100; i++) a.write(line(i))
      await releaseLogFile(a)
      b.write(line(100))
      await releaseLogFile(b)
      expect(allLines(file, 10).map((l) => numberOf(l))).toEqual(Array.from({ length: 101 }, (_, i) => i))
      const c = await acquireLogFile(settings)
      expect(c).not.toBe(a)
      await releaseLogFile(c)
    }))
})

describe("Log.layer with a file", () => {
  it.live("the proxy's JSON lines land in the file, all of them by the time the layer's scope has closed", () =>
    Effect.gen(function*() {
      const file = Path.join(tempDir(), "proxy.log")
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(Log.file("info", { path: file, maxBytes: 4096, backups: 2 }), scope)
      yield* Effect.forEach(Array.from({ length: 100 }, (_, i) => i), (i) =>
        Effect.logInfo("request", { request_id: `req_${i}`, status: 200 }), { discard: true }).pipe(Effect.provide(context))
      yield* Effect.logDebug("below the threshold").pipe(Effect.provide(context))
      yield* Scope.close(scope, Exit.void)
      const lines = allLines(file, 2).map((l) => JSON.parse(l))
      expect(lines.at(-1)).toMatchObject({ level: "info", msg: "request", request_id: "req_99", status: 200 })
      expect(lines.every((l) => typeof l.time === "string" && l.msg === "request")).toBe(true)
      expect(Fs.statSync(`${file}.1`).size).toBeLessThanOrEqual(4096)
      // Contiguous: nothing lost at the rotations.
      const ids = lines.map((l) => Number(String(l.request_id).slice(4)))
      expect(ids).toEqual(Array.from({ length: ids.length }, (_, i) => 100 - ids.length + i))
    }))
})

describe("parseLogFile", () => {
  const problem = (raw: Record<string, string>) => {
    try {
      parseLogFile(raw)
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigInvalid)
      return (error as ConfigInvalid).message
    }
    throw new Error("expected ConfigInvalid")
  }

  it("unset is no file; defaults 10MB and 5 backups; LOG_FILE_PATH is the old name", () => {
    const dir = tempDir()
    expect(parseLogFile({})).toBeUndefined()
    expect(parseLogFile({ LOG_FILE: Path.join(dir, "a.log") })).toEqual({
      path: Path.join(dir, "a.log"),
      maxBytes: 10 * 1024 * 1024,
      backups: 5
    })
    expect(parseLogFile({ LOG_FILE_PATH: Path.join(dir, "b.log") })?.path).toBe(Path.join(dir, "b.log"))
    expect(parseLogFile({ LOG_FILE: Path.join(dir, "a.log"), LOG_FILE_PATH: Path.join(dir, "b.log") })?.path).toBe(Path.join(dir, "a.log"))
  })

  it("sizes in bytes or with a unit; backups 0 to 100", () => {
    const path = Path.join(tempDir(), "a.log")
    const maxBytes = (value: string) => parseLogFile({ LOG_FILE: path, LOG_FILE_MAX_BYTES: value })?.maxBytes
    expect(maxBytes("2048")).toBe(2048)
    expect(maxBytes("512KB")).toBe(512_000)
    expect(maxBytes("10 MB")).toBe(10_000_000)
    expect(maxBytes("1.5MiB")).toBe(1.5 * 1024 * 1024)
    expect(maxBytes("1GiB")).toBe(1024 ** 3)
    expect(parseLogFile({ LOG_FILE: path, LOG_FILE_BACKUPS: "0" })?.backups).toBe(0)
  })

  it("a bad value names its variable", () => {
    const dir = tempDir()
    const path = Path.join(dir, "a.log")
    expect(problem({ LOG_FILE: path, LOG_FILE_MAX_BYTES: "ten" })).toMatch(/^LOG_FILE_MAX_BYTES /)
    expect(problem({ LOG_FILE: path, LOG_FILE_MAX_BYTES: "100" })).toMatch(/^LOG_FILE_MAX_BYTES .*at least 1024 bytes/)
    expect(problem({ LOG_FILE: path, LOG_FILE_MAX_BYTES: "5TB" })).toMatch(/^LOG_FILE_MAX_BYTES /)
    expect(problem({ LOG_FILE: path, LOG_FILE_MAX_BYTES: "10m" })).toMatch(/^LOG_FILE_MAX_BYTES /)
    expect(problem({ LOG_FILE: path, LOG_FILE_BACKUPS: "-1" })).toMatch(/^LOG_FILE_BACKUPS /)
    expect(problem({ LOG_FILE: path, LOG_FILE_BACKUPS: "101" })).toMatch(/^LOG_FILE_BACKUPS /)
    expect(problem({ LOG_FILE: Path.join(dir, "missing", "a.log") })).toMatch(/^LOG_FILE is in a directory that does not exist/)
    expect(problem({ LOG_FILE_PATH: dir })).toMatch(/^LOG_FILE_PATH names something that is not a file/)
  })
})
