/**
 * Recording and replay of upstream exchanges, read from the environment:
 *
 * - `RECORD_DIR=dir`: every upstream exchange is also written to `dir` as a cassette (created if missing).
 * - `REPLAY_DIR=dir`: the proxy answers from the cassettes in `dir` instead of the network.
 *
 * Both at once is a mistake (replayed answers would be recorded as if an upstream had given them), so it is refused.
 * The directories are checked here, once, so a wrong path stops the start with one line naming the variable; a
 * replay directory is read whole here too, so a broken cassette is reported the same way, not at the first request.
 */
import * as Fs from "node:fs"
import { ConfigInvalid, type Raw, text } from "../config/env.ts"
import { CassetteDirInvalid, type CassetteIndex, loadCassetteDir } from "./cassette-dir.ts"
import { RECORD_DIR_VARIABLE, REPLAY_DIR_VARIABLE } from "./recording-variables.ts"

export { RECORDING_VARIABLES, type RecordingVariable } from "./recording-variables.ts"

export type RecordingSettings =
  | { readonly mode: "off" }
  | { readonly mode: "record"; readonly dir: string }
  | { readonly mode: "replay"; readonly dir: string; readonly cassettes: CassetteIndex }

export const RECORDING_OFF: RecordingSettings = { mode: "off" }

const errnoCode = (error: unknown): string => (error as NodeJS.ErrnoException).code ?? String(error)

/** Creates the directory if needed and checks it can be written to. */
const recordDir = (dir: string): string => {
  try {
    Fs.mkdirSync(dir, { recursive: true })
  } catch (error) {
    const problem = errnoCode(error) === "EEXIST" || errnoCode(error) === "ENOTDIR"
      ? "names a file, not a directory"
      : `cannot be created (${errnoCode(error)})`
    throw new ConfigInvalid({ variable: RECORD_DIR_VARIABLE, problem: `${problem}: ${dir}` })
  }
  if (!Fs.statSync(dir).isDirectory()) {
    throw new ConfigInvalid({ variable: RECORD_DIR_VARIABLE, problem: `names a file, not a directory: ${dir}` })
  }
  try {
    Fs.accessSync(dir, Fs.constants.W_OK)
  } catch {
    throw new ConfigInvalid({ variable: RECORD_DIR_VARIABLE, problem: `names a directory that cannot be written to: ${dir}` })
  }
  return dir
}

const replayCassettes = (dir: string): CassetteIndex => {
  let stat: Fs.Stats
  try {
    stat = Fs.statSync(dir)
  } catch (error) {
    const problem = errnoCode(error) === "ENOENT" ? "names a directory that does not exist" : `cannot be read (${errnoCode(error)})`
    throw new ConfigInvalid({ variable: REPLAY_DIR_VARIABLE, problem: `${problem}: ${dir}` })
  }
  if (!stat.isDirectory()) {
    throw new ConfigInvalid({ variable: REPLAY_DIR_VARIABLE, problem: `names a file, not a directory: ${dir}` })
  }
  let cassettes: CassetteIndex
  try {
    cassettes = loadCassetteDir(dir)
  } catch (error) {
    if (error instanceof CassetteDirInvalid) throw new ConfigInvalid({ variable: REPLAY_DIR_VARIABLE, problem: `has a problem: ${error.message}` })
    throw error
  }
  if (cassettes.size === 0) {
    throw new ConfigInvalid({
      variable: REPLAY_DIR_VARIABLE,
      problem: `holds no recordings (files named <key>-<seq>.json, as RECORD_DIR writes them): ${dir}`
    })
  }
  return cassettes
}

/** Checks both variables; throws `ConfigInvalid` naming the first problem. */
export const parseRecording = (raw: Raw): RecordingSettings => {
  const record = text(raw, RECORD_DIR_VARIABLE)
  const replay = text(raw, REPLAY_DIR_VARIABLE)
  if (record !== undefined && replay !== undefined) {
    throw new ConfigInvalid({
      variable: RECORD_DIR_VARIABLE,
      problem: `and ${REPLAY_DIR_VARIABLE} cannot both be set: record against a live upstream, or replay a recording`
    })
  }
  if (record !== undefined) return { mode: "record", dir: recordDir(record) }
  if (replay !== undefined) return { mode: "replay", dir: replay, cassettes: replayCassettes(replay) }
  return RECORDING_OFF
}
