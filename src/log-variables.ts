/**
 * The log file's environment variable names,
 * alone in a module so the config module can list every variable without loading the feature.
 */
export const LOG_FILE_VARIABLES = [
  /** Also write the JSON log lines to this file (stdout keeps them too). */
  "LOG_FILE",
  /** The Python CCProxy's name for LOG_FILE; LOG_FILE wins when both are set. */
  "LOG_FILE_PATH",
  /** Size at which the file is rotated: bytes, or with a unit (`500KB`, `10MB`, `10MiB`, as CACHE_MAX_BYTES). Default 10 MiB. */
  "LOG_FILE_MAX_BYTES",
  /** Rotated files kept (`file.1` newest … `file.N` oldest); 0 keeps none. Default 5. */
  "LOG_FILE_BACKUPS"
] as const

export type LogFileVariable = (typeof LOG_FILE_VARIABLES)[number]
