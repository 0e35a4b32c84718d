/**
 * `npm run build` (and `npm pack`, through `prepack`): the package's JavaScript and type declarations in `dist/`,
 * compiled from `src/` by tsc with tsconfig.build.json, plus the files the code reads at run time next to it
 * (the dashboard's HTML). `dist/` is emptied first, so a module deleted from `src/` never ships.
 */
import { spawnSync } from "node:child_process"
import * as Fs from "node:fs"
import { createRequire } from "node:module"
import * as Path from "node:path"

const root = Path.resolve(import.meta.dirname, "..")
const dist = Path.join(root, "dist")
/** Extensions of the non-TypeScript files under src/ that modules load at run time. */
const ASSETS = [".html"]

Fs.rmSync(dist, { recursive: true, force: true })

const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc")
const compiled = spawnSync(process.execPath, [tsc, "-p", Path.join(root, "tsconfig.build.json")], { stdio: "inherit" })
if (compiled.status !== 0) process.exit(compiled.status ?? 1)

for (const entry of Fs.readdirSync(Path.join(root, "src"), { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !ASSETS.includes(Path.extname(entry.name))) continue
  const from = Path.join(entry.parentPath, entry.name)
  const to = Path.join(dist, Path.relative(Path.join(root, "src"), from))
  Fs.mkdirSync(Path.dirname(to), { recursive: true })
  Fs.copyFileSync(from, to)
}
