/**
 * The package's version, read from its package.json at run time. This module sits at the same depth in `src/` and in
 * `dist/`, so `../../package.json` is the package root's in the repo and in an installed package alike; reading it
 * (rather than importing it) keeps the file out of the build's `rootDir`.
 */
import { readFileSync } from "node:fs"

export const packageVersion = (): string => {
  const manifest = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version?: unknown }
  return typeof manifest.version === "string" ? manifest.version : "unknown"
}
