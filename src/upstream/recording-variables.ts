/**
 * The recording and replay environment variable names,
 * alone in a module so the config module can list every variable without loading the feature.
 */
export const RECORD_DIR_VARIABLE = "RECORD_DIR"
export const REPLAY_DIR_VARIABLE = "REPLAY_DIR"

export const RECORDING_VARIABLES = [RECORD_DIR_VARIABLE, REPLAY_DIR_VARIABLE] as const

export type RecordingVariable = (typeof RECORDING_VARIABLES)[number]
