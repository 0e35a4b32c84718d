/**
 * The log file: the same JSON lines as stdout, appended to LOG_FILE and rotated by size (`file` → `file.1` → … →
 * `file.N`, the oldest dropped), as Python's RotatingFileHandler does.
 *
 * A logger must not wait for a disk. `write` only queues the line; a drain loop, started on the next turn of the
 * event loop, writes everything queued so far in one `write` call (per rotation boundary), so a busy proxy writes
 * a batch per tick, not a syscall per line. Rotation happens inside that loop, between two lines: a line is never
 * split across files, and lines logged meanwhile wait in the queue. `close` (the log layer's scope) drains what is
 * queued, then closes the file.
 *
 * If the disk cannot keep up, the queue is capped (lines beyond it are counted, and the count is written once the
 * disk catches up); if writing fails, the problem goes to stderr once and the lines of that batch are lost: the
 * proxy keeps serving either way.
 *
 * One writer per path per process, shared by every log layer that names it (reference-counted), so two layers
 * never rotate the same file under each other. Other processes (cluster workers, logrotate's move) are not
 * coordinated with: give each process its own file.
 */
import * as Fs from "node:fs"
import * as FsP from "node:fs/promises"
import * as Path from "node:path"
import { byteSize, ConfigInvalid, integer, type Raw, text } from "./config/env.ts"
import type { LogFileVariable } from "./log-variables.ts"
export { LOG_FILE_VARIABLES, type LogFileVariable } from "./log-variables.ts"

export interface LogFileSettings {
  readonly path: string
  /** Rotate before a line would take the file past this many bytes. */
  readonly maxBytes: number
  /** Rotated files kept: `path.1` (newest) … `path.<backups>`; 0 keeps none (the file starts over). */
  readonly backups: number
}

export const DEFAULT_MAX_BYTES = 10 * 1024 * 1024
export const DEFAULT_BACKUPS = 5
/** Queued and not yet written, in characters; beyond it lines are dropped (and counted). */
const MAX_QUEUED_CHARS = 64 * 1024 * 1024

/** The file must be creatable (its directory exists and is writable) or, if it exists, a writable file. */
const checkWritable = (name: LogFileVariable, file: string): void => {
  const fail = (problem: string) => {
    throw new ConfigInvalid({ variable: name, problem: `${problem}: ${file}` })
  }
  let stat: Fs.Stats | undefined
  try {
    stat = Fs.statSync(file)
  } catch {
    stat = undefined
  }
  if (stat !== undefined && !stat.isFile()) fail("names something that is not a file")
  try {
    Fs.accessSync(stat === undefined ? Path.dirname(file) : file, Fs.constants.W_OK)
  } catch (error) {
    fail((error as NodeJS.ErrnoException).code === "ENOENT" ? "is in a directory that does not exist" : "is not writable")
  }
}

/** Checks the log file variables; `undefined` when no file is asked for. Throws `ConfigInvalid` naming the variable. */
export const parseLogFile = (raw: Raw): LogFileSettings | undefined => {
  const name: LogFileVariable = text(raw, "LOG_FILE") !== undefined ? "LOG_FILE" : "LOG_FILE_PATH"
  const file = text(raw, name)
  if (file === undefined) return undefined
  const path = Path.resolve(file)
  checkWritable(name, path)
  return {
    path,
    maxBytes: byteSize(raw, "LOG_FILE_MAX_BYTES", { fallback: DEFAULT_MAX_BYTES, min: 1024 }),
    backups: integer(raw, "LOG_FILE_BACKUPS", { fallback: DEFAULT_BACKUPS, min: 0, max: 100 })
  }
}

const ignoreMissing = (error: unknown) => {
  if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error
}

/** A size-rotated append-only file of lines. */
export class RotatingFile {
  readonly settings: LogFileSettings
  private handle: FsP.FileHandle | undefined
  private size: number
  private queue: Array<string> = []
  private queuedChars = 0
  private dropped = 0
  private draining: Promise<void> | undefined
  private closed = false
  private reported = false

  private constructor(settings: LogFileSettings, handle: FsP.FileHandle, size: number) {
    this.settings = settings
    this.handle = handle
    this.size = size
  }

  /** Opens (or creates) the file for appending; its current size counts toward the first rotation. */
  static async open(settings: LogFileSettings): Promise<RotatingFile> {
    const handle = await FsP.open(settings.path, "a")
    const { size } = await handle.stat()
    return new RotatingFile(settings, handle, size)
  }

  /** Queues one line (with its newline); never blocks. */
  write(line: string): void {
    if (this.closed) {
      // A straggler after shutdown: written at once, so it is not lost.
      this.writeNow(line)
      return
    }
    if (this.queuedChars > MAX_QUEUED_CHARS) {
      this.dropped++
      return
    }
    this.queue.push(line)
    this.queuedChars += line.length
    this.draining ??= this.drain()
  }

  /** Resolves once everything queued before (and while) it ran is written. */
  async flush(): Promise<void> {
    while (this.draining !== undefined) await this.draining
  }

  /** Writes what is queued, then closes the file; later lines are appended synchronously. */
  async close(): Promise<void> {
    await this.flush()
    this.closed = true
    const handle = this.handle
    this.handle = undefined
    await handle?.close().catch(() => undefined)
  }

  private async drain(): Promise<void> {
    // Let the rest of this turn's lines join the batch.
    await new Promise<void>((resolve) => setImmediate(resolve))
    try {
      while (this.queue.length > 0) {
        const lines = this.queue
        this.queue = []
        this.queuedChars = 0
        if (this.dropped > 0) {
          lines.push(droppedNotice(this.dropped))
          this.dropped = 0
        }
        await this.writeLines(lines)
      }
    } catch (error) {
      this.queue = []
      this.queuedChars = 0
      this.report("cannot write", error)
    } finally {
      this.draining = undefined
    }
  }

  /** Appends the lines, rotating between two of them whenever the next would pass `maxBytes`. */
  private async writeLines(lines: ReadonlyArray<string>): Promise<void> {
    let batch = ""
    let batchBytes = 0
    for (const line of lines) {
      const bytes = Buffer.byteLength(line)
      // A line longer than the limit on its own still goes in, alone, in a fresh file.
      if (this.size + batchBytes + bytes > this.settings.maxBytes && this.size + batchBytes > 0) {
        if (batchBytes > 0) await this.append(batch, batchBytes)
        batch = ""
        batchBytes = 0
        await this.rotate()
      }
      batch += line
      batchBytes += bytes
    }
    if (batchBytes > 0) await this.append(batch, batchBytes)
  }

  private async append(text: string, bytes: number): Promise<void> {
    try {
      this.handle ??= await FsP.open(this.settings.path, "a")
      const buffer = Buffer.from(text)
      let offset = 0
      while (offset < buffer.length) offset += (await this.handle.write(buffer, offset)).bytesWritten
      this.reported = false
    } catch (error) {
      this.report("cannot write", error)
      // Reopened for the next batch: the file may have been removed or its disk remounted.
      await this.handle?.close().catch(() => undefined)
      this.handle = undefined
    }
    this.size += bytes
  }

  private async rotate(): Promise<void> {
    const { path, backups } = this.settings
    try {
      await this.handle?.close()
      this.handle = undefined
      if (backups === 0) {
        await FsP.rm(path, { force: true })
      } else {
        for (let i = backups - 1; i >= 1; i--) await FsP.rename(`${path}.${i}`, `${path}.${i + 1}`).catch(ignoreMissing)
        await FsP.rename(path, `${path}.1`).catch(ignoreMissing)
      }
    } catch (error) {
      this.report("cannot rotate", error)
    }
    this.size = 0
  }

  private writeNow(line: string): void {
    try {
      Fs.appendFileSync(this.settings.path, line)
    } catch (error) {
      this.report("cannot write", error)
    }
  }

  private report(what: string, error: unknown): void {
    if (this.reported) return
    this.reported = true
    const code = (error as NodeJS.ErrnoException).code ?? String(error)
    process.stderr.write(`ccproxy: ${what} the log file ${this.settings.path} (${code}); its lines are lost until it works again\n`)
  }
}

const droppedNotice = (count: number): string =>
  `${JSON.stringify({ time: new Date().toISOString(), level: "warn", msg: `log file: ${count} lines dropped, the disk could not keep up` })}\n`

/** One writer per path in this process: every layer naming the same file shares it; the last to let go closes it. */
const open = new Map<string, { readonly file: Promise<RotatingFile>; refs: number }>()

export const acquireLogFile = (settings: LogFileSettings): Promise<RotatingFile> => {
  const key = Path.resolve(settings.path)
  const entry = open.get(key)
  if (entry !== undefined) {
    entry.refs++
    return entry.file
  }
  const file = RotatingFile.open({ ...settings, path: key })
  open.set(key, { file, refs: 1 })
  file.catch(() => open.delete(key))
  return file
}

export const releaseLogFile = async (file: RotatingFile): Promise<void> => {
  const entry = open.get(file.settings.path)
  if (entry !== undefined && --entry.refs > 0) {
    await file.flush()
    return
  }
  open.delete(file.settings.path)
  await file.close()
}
