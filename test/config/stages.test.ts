/**
 * Stages named in a config file (`src/config/stages.ts`), through a real proxy and a scripted upstream: every
 * accepted export shape, placement before and after default stages and after another file stage, each way a stage
 * entry can be wrong (one line naming the entry), a stage file edited between two loads, and `ccproxy start` ending
 * with exactly one line on stderr when a module is missing.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { jsonBody, post } from "../fault/client.ts"
import { baseEnv, runCli } from "../support/ccproxy-cli.ts"
import { readConfig, startProxy } from "../support/config-proxy.ts"
import { completionCassette, type ScriptedUpstream, startScriptedUpstream } from "../support/scripted-upstream.ts"

const REPO = Path.resolve(import.meta.dirname, "../..")

/**
 * A stage that leaves a trace: the request carries the names of the stages it passed (`x-trail`), and each probe
 * reports, in a response header of its own, that trail, the model it saw and whether the request was converted yet.
 * Before routing the model is the client's; after conversion the Chat Completions request exists.
 */
const PROBE_LIB = `
import { Effect } from "effect"

export const probe = (name: string) => ({
  name,
  wrap: (next: (request: any) => Effect.Effect<any, any, any>) => (request: any) => {
    const trail = (request.headers["x-trail"] ?? "") + name + ">"
    const seen = trail + " model=" + request.upstreamModel + " converted=" + (request.conversion !== undefined)
    return Effect.map(next({ ...request, headers: { ...request.headers, "x-trail": trail } }), (reply: any) =>
      ({ ...reply, headers: { ...reply.headers, ["x-" + name]: seen } }))
  }
})
`

/** One module per accepted export shape. */
const SHAPES: Record<string, string> = {
  "probe-lib.ts": PROBE_LIB,
  "stages/by-make.ts": `import { probe } from "../probe-lib.ts"\nexport const make = (options: { name: string }) => probe(options.name)\n`,
  "stages/by-make-effect.ts": `import { Effect } from "effect"\nimport { probe } from "../probe-lib.ts"\nexport const make = (options: { name: string }) => Effect.succeed(probe(options.name))\n`,
  "stages/by-default-function.mjs": `import { probe } from "../probe-lib.ts"\nexport default (options) => probe(options.name)\n`,
  "stages/by-default-effect.ts": `import { Effect } from "effect"\nimport { probe } from "../probe-lib.ts"\nexport default Effect.sync(() => probe("default-effect"))\n`,
  "stages/by-default-stage.ts": `import { probe } from "../probe-lib.ts"\nexport default probe("default-stage")\n`,
  "stages/by-stage.ts": `import { probe } from "../probe-lib.ts"\nexport const stage = probe("named")\n`,
  // A package installed beside the config, found by its bare name through its "exports".
  "node_modules/probe-package/package.json": JSON.stringify({ name: "probe-package", type: "module", exports: { "./stage": "./stage.js" } }),
  "node_modules/probe-package/stage.js": `import { Effect } from "effect"\nexport const make = (options) => ({ name: options.name, wrap: (next) => (request) => Effect.map(next(request), (reply) => ({ ...reply, headers: { ...reply.headers, "x-package": options.name } })) })\n`
}

const scratchDirs: Array<string> = []

/** A folder holding `files`, a ccproxy.json with these stages (one provider: the upstream), and `effect` installed. */
const scratch = (upstream: string, stages: ReadonlyArray<unknown>, files: Record<string, string> = {}): string => {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "ccproxy-stages-"))
  scratchDirs.push(dir)
  Fs.mkdirSync(Path.join(dir, "node_modules"))
  Fs.symlinkSync(Path.join(REPO, "node_modules", "effect"), Path.join(dir, "node_modules", "effect"))
  for (const [name, text] of Object.entries({ ...SHAPES, ...files })) {
    Fs.mkdirSync(Path.dirname(Path.join(dir, name)), { recursive: true })
    Fs.writeFileSync(Path.join(dir, name), text)
  }
  const file = { providers: [{ name: "up", base_url: upstream, api_key: "sk-stages-0123456789" }], routes: { default: "up,gpt-test" }, stages }
  Fs.writeFileSync(Path.join(dir, "ccproxy.json"), JSON.stringify(file, null, 2))
  return dir
}

const completion = (content: string) => completionCassette(content)

let upstream: ScriptedUpstream
beforeAll(async () => {
  upstream = await startScriptedUpstream()
})
afterAll(async () => {
  await upstream?.close()
  for (const dir of scratchDirs) Fs.rmSync(dir, { recursive: true, force: true })
})

/** One request through a proxy started from `dir`'s config; its reply's headers. */
const headersOf = (url: string) =>
  Effect.promise(async () => {
    upstream.reset()
    upstream.enqueue(completion("ok"))
    const reply = await post(url, jsonBody())
    expect(reply.status, reply.text).toBe(200)
    // One value per header name: what the stage set, or undefined.
    return { get: (name: string) => reply.headers[name] as string | undefined }
  })

/** The start's failure, as the one line `ccproxy start` prints after "invalid configuration: ". */
const startFailure = (dir: string) =>
  Effect.gen(function*() {
    const config = yield* readConfig(dir)
    const error = yield* Effect.flip(startProxy(config))
    expect(error._tag).toBe("ConfigInvalid")
    expect(error.message).not.toContain("\n")
    return error.message
  }).pipe(Effect.scoped)

describe("stages from the config file", () => {
  it.live("every export shape loads, and each stage goes where its entry says", () =>
    Effect.gen(function*() {
      const dir = scratch(upstream.url, [
        { module: "./stages/by-make.ts", after: "routing", options: { name: "first" } },
        { module: "./stages/by-default-function.mjs", after: "first", options: { name: "second" } },
        { module: "./stages/by-make.ts", before: "routing", options: { name: "early" } },
        { module: "./stages/by-make-effect.ts", before: "first", options: { name: "just-before-first" } },
        // The cache is off: an anchor on it still places the stage where the cache would be, after conversion.
        { module: "./stages/by-default-effect.ts", after: "cache" },
        { module: "./stages/by-default-stage.ts" },
        { module: "./stages/by-stage.ts" },
        { module: "probe-package/stage", options: { name: "from-a-package" } }
      ])
      const { url } = yield* startProxy(yield* readConfig(dir))
      const headers = yield* headersOf(url)
      expect(headers.get("x-early")).toBe("early> model=claude-sonnet-4-6 converted=false")
      expect(headers.get("x-just-before-first")).toBe("early>just-before-first> model=gpt-test converted=false")
      expect(headers.get("x-first")).toBe("early>just-before-first>first> model=gpt-test converted=false")
      expect(headers.get("x-second")).toBe("early>just-before-first>first>second> model=gpt-test converted=false")
      expect(headers.get("x-default-effect")).toBe("early>just-before-first>first>second>default-effect> model=gpt-test converted=true")
      // No anchor: just before the core, in the file's order.
      expect(headers.get("x-default-stage")).toBe("early>just-before-first>first>second>default-effect>default-stage> model=gpt-test converted=true")
      expect(headers.get("x-named")).toBe("early>just-before-first>first>second>default-effect>default-stage>named> model=gpt-test converted=true")
      expect(headers.get("x-package")).toBe("from-a-package")
    }).pipe(Effect.scoped))

  describe("a wrong entry stops the start with one line naming it", () => {
    const failsWith = (stages: ReadonlyArray<unknown>, expected: string | RegExp, files: Record<string, string> = {}) =>
      Effect.gen(function*() {
        const dir = scratch(upstream.url, stages, files)
        const message = yield* startFailure(dir)
        const file = Path.join(dir, "ccproxy.json")
        if (typeof expected === "string") expect(message).toBe(`${file}: ${expected}`)
        else expect(message.slice(file.length + 2)).toMatch(expected)
      })

    it.live("a missing module", () =>
      failsWith([{ module: "./stages/nope.ts" }], "stages[0].module cannot be loaded: ./stages/nope.ts (no such file)"))

    it.live("a missing package", () =>
      Effect.gen(function*() {
        const dir = scratch(upstream.url, [{ module: "no-such-ccproxy-stage/stage" }])
        expect(yield* startFailure(dir)).toBe(
          `${Path.join(dir, "ccproxy.json")}: stages[0].module cannot be loaded: no-such-ccproxy-stage/stage (no such package from ${dir})`
        )
      }))

    it.live("a module that does not parse", () =>
      failsWith([{ module: "./broken.ts" }], /^stages\[0\]\.module cannot be loaded: \.\/broken\.ts \(.+\)$/, {
        "broken.ts": "export const = ;\n"
      }))

    it.live("a module that exports no stage", () =>
      failsWith(
        [{ module: "./probe-lib.ts" }],
        `stages[0].module ./probe-lib.ts exports no stage (expected make(options), a default export or "stage")`
      ))

    it.live("an export that is not a stage", () =>
      failsWith(
        [{ module: "./half.ts" }],
        "stages[0].module ./half.ts: make(options) gave an object with keys name, not a stage (expected { name, wrap })",
        { "half.ts": `export const make = () => ({ name: "half" })\n` }
      ))

    it.live("a make that throws (the house-style example without its text)", () => {
      const example = Path.join(REPO, "examples", "stages", "house-style.ts")
      return failsWith([{ module: example }], `stages[0].module ${example}: make(options) threw: options.text must be a non-empty string`)
    })

    it.live("an Effect that fails", () =>
      failsWith(
        [{ module: "./no-seats.ts" }],
        "stages[0].module ./no-seats.ts: the Effect from the default export failed: no seats left",
        { "no-seats.ts": `import { Effect } from "effect"\nexport default Effect.fail(new Error("no seats left"))\n` }
      ))

    it.live("an unknown anchor, with the names there are", () =>
      failsWith(
        [{ module: "./stages/by-stage.ts", after: "routing" }, { module: "./stages/by-make.ts", after: "routng", options: { name: "x" } }],
        `stages[1].after names no stage "routng" (have logging, guardrails, validation, routing, named, conversion, breaker, rate-limits, limiter)`
      ))

    it.live("an anchor on a later file stage", () =>
      failsWith(
        [{ module: "./stages/by-make.ts", before: "named", options: { name: "x" } }, { module: "./stages/by-stage.ts" }],
        /^stages\[0\]\.before names no stage "named" \(have logging, /
      ))

    it.live("both before and after", () =>
      failsWith(
        [{ module: "./stages/by-stage.ts", before: "routing", after: "logging" }],
        `stages[0] has both before and after (give one: "routing" or "logging")`
      ))
  })

  it.live("a reload re-reads an edited stage file, keeps an unchanged one, and rejects a broken list", () =>
    Effect.gen(function*() {
      const versioned = (version: number) => `
import { Effect } from "effect"
const globals = globalThis as { __ccproxyStageLoads?: number }
globals.__ccproxyStageLoads = (globals.__ccproxyStageLoads ?? 0) + 1
export const stage = {
  name: "versioned",
  wrap: (next: any) => (request: any) => Effect.map(next(request), (reply: any) => ({ ...reply, headers: { ...reply.headers, "x-version": "${version}" } }))
}
`
      const loads = () => (globalThis as { __ccproxyStageLoads?: number }).__ccproxyStageLoads ?? 0
      const dir = scratch(upstream.url, [{ module: "./versioned.ts" }], { "versioned.ts": versioned(1) })
      const stageFile = Path.join(dir, "versioned.ts")
      const proxy = yield* startProxy(yield* readConfig(dir))
      expect((yield* headersOf(proxy.url)).get("x-version")).toBe("1")
      const before = loads()

      // Unchanged: the module Node already has.
      yield* proxy.reload(yield* readConfig(dir))
      expect((yield* headersOf(proxy.url)).get("x-version")).toBe("1")
      expect(loads()).toBe(before)

      // Edited (and dated later, whatever the file system's clock granularity): read afresh.
      Fs.writeFileSync(stageFile, versioned(2))
      const later = new Date(Fs.statSync(stageFile).mtimeMs + 5_000)
      Fs.utimesSync(stageFile, later, later)
      yield* proxy.reload(yield* readConfig(dir))
      expect((yield* headersOf(proxy.url)).get("x-version")).toBe("2")
      expect(loads()).toBe(before + 1)

      // A list naming a missing module: the reload fails with its line, and the current stages go on serving.
      const file = Path.join(dir, "ccproxy.json")
      const contents = JSON.parse(Fs.readFileSync(file, "utf8"))
      Fs.writeFileSync(file, JSON.stringify({ ...contents, stages: [{ module: "./gone.ts" }] }))
      const rejected = yield* Effect.flip(Effect.flatMap(readConfig(dir), proxy.reload))
      expect(rejected.message).toBe(`${file}: stages[0].module cannot be loaded: ./gone.ts (no such file)`)
      expect((yield* headersOf(proxy.url)).get("x-version")).toBe("2")

      // The stage taken out of the list: gone after the next reload.
      Fs.writeFileSync(file, JSON.stringify({ ...contents, stages: [] }))
      yield* proxy.reload(yield* readConfig(dir))
      expect((yield* headersOf(proxy.url)).get("x-version")).toBeUndefined()
    }).pipe(Effect.scoped))

  it("ccproxy start with a missing stage module exits 1 with exactly one line", async () => {
    const dir = scratch(upstream.url, [{ module: "./stages/nope.ts" }])
    const file = Path.join(dir, "ccproxy.json")
    const result = await runCli(["start"], { env: { ...baseEnv(), CCPROXY_CONFIG: file, PORT: "0" }, cwd: dir, timeoutMs: 30_000 })
    expect(result.stderr).toBe(`ccproxy: invalid configuration: ${file}: stages[0].module cannot be loaded: ./stages/nope.ts (no such file)\n`)
    expect(result.code).toBe(1)
    expect(result.stdout).toBe("")
  }, 40_000)
})
