/**
 * The config file's own stages: `stages: [{ "module": "./stages/house-style.ts", "after": "routing", "options": … }]`.
 * Loaded each time a generation is built (at start and on every reload, see `reload.ts`), so an edited list takes
 * effect on `ccproxy reload` / SIGHUP; a problem fails that build with one line naming the entry.
 *
 * `module` is a path relative to the config file's folder (`./stages/x.ts`, `../x.mjs`, or absolute), or a bare
 * package name (`my-pkg/stage`) resolved from that folder. Node runs `.ts` files by stripping their types (outside
 * node_modules), `.js` and `.mjs` as they are. The module may export, tried in this order:
 *
 * 1. `make(options)`, returning a stage or an Effect that builds one;
 * 2. a `default` export: a stage, an Effect that builds one, or a function of options returning either;
 * 3. a `stage` export: a stage, or an Effect that builds one.
 *
 * A stage is `{ name, wrap }` (see `pipeline/stage.ts`). An Effect that builds one runs once per generation, with the
 * config being built as `ProxyConfig`, the process's services (the log, the tokenizer, the metrics) and a `Scope`
 * that closes when the generation does, so what it acquires lives as long as the stage that uses it.
 *
 * Edited stage files and reload: Node caches a module by its URL for the life of the process, so importing the same
 * URL again would give the first version forever. The URL carries the file's modification time (`?mtime=…`): a file
 * edited since it was last loaded is read afresh on reload, an unchanged one is the cached module. That holds for the
 * named file only: the modules it imports keep the version first loaded until the proxy restarts, and every edited
 * version stays in memory (Node never unloads a module), which is fine for the few reloads a process sees.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Scope from "effect/Scope"
import * as Fs from "node:fs"
import { createRequire } from "node:module"
import * as Path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { ProxyConfig, type ProxyConfigShape } from "../config.ts"
import type { StagePlacement, UnknownAnchor } from "../pipeline/pipeline.ts"
import type { Stage } from "../pipeline/stage.ts"
import { ConfigInvalid } from "./env.ts"
import type { StageEntry } from "./file.ts"

/** The entry's problem as one line: `<file>: stages[i].<field> <problem>`. */
const invalid = (config: ProxyConfigShape, field: string, problem: string) =>
  new ConfigInvalid({ file: config.configFile, variable: field, problem })

/**
 * An error's message on one line: its first line, and the next ones while a line ends with ":" (a bundler's
 * "Transform failed with 1 error:" says nothing on its own).
 */
const oneLine = (error: unknown): string => {
  const lines = (error instanceof Error ? error.message : String(error)).split("\n").map((line) => line.trim()).filter((line) => line !== "")
  let text = lines[0] ?? "unknown error"
  for (let i = 1; text.endsWith(":") && i < lines.length; i++) text = `${text} ${lines[i]}`
  return text
}

const isPathLike = (specifier: string) =>
  specifier.startsWith("./") || specifier.startsWith("../") || specifier.startsWith("file:") || Path.isAbsolute(specifier)

/** The file `module` names, or why there is none. */
const resolveModule = (specifier: string, folder: string): { readonly file: string } | { readonly problem: string } => {
  if (isPathLike(specifier)) {
    const file = specifier.startsWith("file:") ? fileURLToPath(specifier) : Path.resolve(folder, specifier)
    return Fs.existsSync(file) ? { file } : { problem: "no such file" }
  }
  // A package, as `require` would find it from the config's folder: Node offers no ESM resolution from another
  // folder without a flag (import.meta.resolve ignores its parent argument), and packages' "exports" nearly always
  // carry a "default" (or "node") condition that both agree on. A package exporting only under "import" is not
  // found this way: name its file by path instead.
  try {
    return { file: createRequire(Path.join(folder, "ccproxy.json")).resolve(specifier) }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    return { problem: code === "MODULE_NOT_FOUND" ? `no such package from ${folder}` : oneLine(error) }
  }
}

/** A fresh URL when the file changed since it was last imported (see the module comment). */
const importUrl = (file: string): string => {
  const url = pathToFileURL(file)
  // Nanoseconds, an integer: a fractional millisecond would put a "." in the URL's tail.
  url.searchParams.set("mtime", String(Fs.statSync(file, { bigint: true }).mtimeNs))
  return url.href
}

const isStage = (value: unknown): value is Stage =>
  typeof value === "object" && value !== null &&
  typeof (value as Stage).name === "string" && (value as Stage).name !== "" &&
  typeof (value as Stage).wrap === "function"

/** What a value is, for a message: "undefined", "a string", "an object with keys a, b". */
const describe = (value: unknown): string => {
  if (value === null || value === undefined) return String(value)
  if (Array.isArray(value)) return "an array"
  if (typeof value === "object") {
    const keys = Object.keys(value)
    return keys.length === 0 ? "an empty object" : `an object with keys ${keys.slice(0, 5).join(", ")}`
  }
  return typeof value === "function" ? "a function" : `a ${typeof value}`
}

/** Which export makes the stage and how, in the documented order; undefined when none does. */
const pickExport = (
  exports: Readonly<Record<string, unknown>>,
  options: unknown
): { readonly via: string; readonly make: () => unknown } | undefined => {
  const { make, default: fallback, stage } = exports
  if (typeof make === "function") return { via: "make(options)", make: () => make(options) }
  if (typeof fallback === "function") return { via: "default(options)", make: () => fallback(options) }
  if (fallback !== undefined) return { via: "the default export", make: () => fallback }
  if (stage !== undefined) return { via: `the "stage" export`, make: () => stage }
  return undefined
}

/** One entry: import its module, take the stage it exports, build it. */
const loadEntry = (config: ProxyConfigShape, entry: StageEntry, index: number): Effect.Effect<Stage, ConfigInvalid, Scope.Scope> =>
  Effect.gen(function*() {
    const at = `stages[${index}]`
    if (entry.before !== undefined && entry.after !== undefined) {
      return yield* invalid(config, at, `has both before and after (give one: "${entry.before}" or "${entry.after}")`)
    }
    const field = `${at}.module`
    const folder = Path.dirname(Path.resolve(config.configFile ?? "ccproxy.json"))
    const resolved = resolveModule(entry.module, folder)
    if ("problem" in resolved) return yield* invalid(config, field, `cannot be loaded: ${entry.module} (${resolved.problem})`)

    const exports = yield* Effect.tryPromise({
      try: () => import(importUrl(resolved.file)) as Promise<Record<string, unknown>>,
      catch: (error) => invalid(config, field, `cannot be loaded: ${entry.module} (${oneLine(error)})`)
    })
    const picked = pickExport(exports, entry.options)
    if (picked === undefined) {
      return yield* invalid(config, field, `${entry.module} exports no stage (expected make(options), a default export or "stage")`)
    }
    const made = yield* Effect.try({
      try: picked.make,
      catch: (error) => invalid(config, field, `${entry.module}: ${picked.via} threw: ${oneLine(error)}`)
    })
    const built = Effect.isEffect(made) ? yield* runBuild(config, field, entry.module, picked.via, made) : made
    if (!isStage(built)) {
      return yield* invalid(config, field, `${entry.module}: ${picked.via} gave ${describe(built)}, not a stage (expected { name, wrap })`)
    }
    return built
  })

/**
 * Runs a module's Effect that builds its stage. Its requirements are whatever the module's author wrote, unknown to
 * the type checker: what it may use is what the generation's build has (see the module comment); anything else is
 * reported as its failure, like a failure or a defect of its own.
 */
const runBuild = (config: ProxyConfigShape, field: string, module: string, via: string, build: Effect.Effect<unknown, unknown, unknown>) =>
  Effect.flatMap(
    Effect.exit(Effect.provideService(build as Effect.Effect<unknown, unknown, Scope.Scope>, ProxyConfig, config)),
    (exit) =>
      Exit.isSuccess(exit)
        ? Effect.succeed(exit.value)
        : Effect.fail(invalid(config, field, `${module}: the Effect from ${via} failed: ${oneLine(Cause.squash(exit.cause))}`))
  )

/** The config file's stages, in its order, ready to be placed after the library user's own (`ProxyOptions.stages`). */
export const loadStages = (config: ProxyConfigShape): Effect.Effect<ReadonlyArray<StagePlacement>, ConfigInvalid, Scope.Scope> =>
  Effect.forEach(config.stages, (entry, index) =>
    Effect.map(loadEntry(config, entry, index), (stage): StagePlacement => ({
      stage,
      ...(entry.before === undefined ? {} : { before: entry.before }),
      ...(entry.after === undefined ? {} : { after: entry.after })
    })))

/**
 * An unknown anchor, where the pipeline found it: a config file stage's becomes that entry's one-line problem; the
 * library user's own (the first `libraryStages` placements) stays the programming error it was, a defect at start.
 */
export const anchorProblem = (config: ProxyConfigShape, libraryStages: number) => (error: UnknownAnchor): Effect.Effect<never, ConfigInvalid> =>
  error.placement < libraryStages
    ? Effect.die(error)
    : Effect.fail(invalid(config, `stages[${error.placement - libraryStages}].${error.side}`, `names no stage "${error.anchor}" (have ${error.have.join(", ")})`))
