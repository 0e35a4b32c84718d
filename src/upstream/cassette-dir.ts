/**
 * A directory of recorded exchanges: one pretty-printed cassette per file, named `<key>-<seq>.json`.
 *
 * - `key` is the exchange's canonical key (`exchange-key.ts`), so `ls` groups every recording of one request.
 * - `seq` (1-based, at least 3 digits) orders the exchanges that share a key: a retry after a 500, or the same
 *   question asked twice. Replay plays them in that order.
 *
 * Files with other names are ignored, so a README or notes may sit beside the cassettes.
 */
import * as Data from "effect/Data"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { type Cassette, decodeCassette } from "./cassette.ts"

/** A recording directory that cannot be read, or a cassette in it that is not one. */
export class CassetteDirInvalid extends Data.TaggedError("CassetteDirInvalid")<{ readonly path: string; readonly problem: string }> {
  override get message() {
    return `${this.path} ${this.problem}`
  }
}

const FILE_NAME = /^([0-9a-f]{16})-(\d+)\.json$/

export const cassetteFileName = (key: string, seq: number): string => `${key}-${String(seq).padStart(3, "0")}.json`

export const parseCassetteFileName = (name: string): { readonly key: string; readonly seq: number } | undefined => {
  const match = FILE_NAME.exec(name)
  return match === null ? undefined : { key: match[1]!, seq: Number(match[2]) }
}

/** Recorded exchanges by key, each list in recording order. */
export type CassetteIndex = ReadonlyMap<string, ReadonlyArray<Cassette>>

const listNames = (dir: string): ReadonlyArray<string> => {
  try {
    return Fs.readdirSync(dir)
  } catch (error) {
    throw new CassetteDirInvalid({ path: dir, problem: `cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})` })
  }
}

/** The highest sequence number already used for each key (recording goes on after them, never over them). */
export const lastSequences = (dir: string): Map<string, number> => {
  const last = new Map<string, number>()
  for (const name of listNames(dir)) {
    const parsed = parseCassetteFileName(name)
    if (parsed !== undefined) last.set(parsed.key, Math.max(parsed.seq, last.get(parsed.key) ?? 0))
  }
  return last
}

const readCassette = (file: string): Cassette => {
  try {
    return decodeCassette(JSON.parse(Fs.readFileSync(file, "utf8")))
  } catch (error) {
    const reason = error instanceof SyntaxError ? "is not JSON" : "is not a cassette"
    throw new CassetteDirInvalid({ path: file, problem: `${reason} (${String((error as Error).message).split("\n")[0]})` })
  }
}

/** Reads every cassette in `dir`; throws `CassetteDirInvalid` naming the first file that cannot be used. */
export const loadCassetteDir = (dir: string): CassetteIndex => {
  const found: Array<{ key: string; seq: number; cassette: Cassette }> = []
  for (const name of listNames(dir)) {
    const parsed = parseCassetteFileName(name)
    if (parsed !== undefined) found.push({ ...parsed, cassette: readCassette(Path.join(dir, name)) })
  }
  found.sort((a, b) => a.seq - b.seq)
  const index = new Map<string, Array<Cassette>>()
  for (const { key, cassette } of found) {
    const list = index.get(key)
    if (list === undefined) index.set(key, [cassette])
    else list.push(cassette)
  }
  return index
}
