/**
 * The config file: `CCPROXY_CONFIG=path`, else `./ccproxy.json`, `./ccproxy.yaml` or `./ccproxy.yml`.
 *
 * Read in three steps, each reporting its own problem with the file's name and the field's path:
 * 1. parse the text (JSON, or YAML by extension);
 * 2. replace `${VAR}` (and `${VAR:-fallback}`) in every string with the environment's value, so keys need not be
 *    written in the file; an unset variable without a fallback is an error naming the field;
 * 3. decode with `ConfigFile`, rejecting unknown fields (a typo in a field name must not silently do nothing).
 *
 * Besides `providers`, `routes` and `stages`, the file may hold any of the environment's settings as top-level
 * fields in lower case (`port`, `log_level`, `upstream_rpm`, …); a variable set in the environment wins over them.
 * `ccproxy.schema.json`, for editors, is generated from `ConfigFile` (`npm run config-schema`).
 */
import * as Schema from "effect/Schema"
import * as SchemaIssue from "effect/SchemaIssue"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as Yaml from "yaml"
import { PROFILES } from "../convert/models.ts"
import { ConfigInvalid } from "./env.ts"

const PositiveInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))
/** A per-minute budget: a number, or 0 / "off" for none (a local server needs none of OpenAI's UPSTREAM_RPM). */
const Budget = Schema.Union([Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)), Schema.Literals(["off", "unlimited"])])

/** A duration as in the environment: seconds as a number, or text such as "30 seconds". */
const DurationText = Schema.Union([Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0)), Schema.String])

const Target = Schema.String.check(Schema.isPattern(/^[^,\s]+\s*,\s*\S.*$/, { message: `Expected "provider,model"` }))
const Chain = Schema.Union([Target, Schema.NonEmptyArray(Target)]).annotate({
  description: `"provider,model", or a list of them: a fallback chain, tried in order`
})
const about = <S extends Schema.Top>(schema: S, description: string) => schema.annotate({ description }) as S

const Provider = Schema.Struct({
  name: Schema.String.check(Schema.isPattern(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, {
    message: "Expected a name of letters, digits, '.', '_' or '-'"
  })),
  base_url: about(Schema.String, "Chat Completions base URL, without /chat/completions"),
  api_key: Schema.optionalKey(about(Schema.String, "Bearer key; write \"${VAR}\" to read it from the environment")),
  profile: Schema.optionalKey(about(Schema.Literals(PROFILES), "The vendor's dialect and quirks; detected from base_url when absent")),
  models: Schema.optionalKey(about(Schema.Array(Schema.String), "Models it serves: listed by /v1/models; a client asking for one by name is routed here")),
  headers: Schema.optionalKey(about(Schema.Record(Schema.String, Schema.String), "Extra request headers")),
  max_concurrent: Schema.optionalKey(about(PositiveInt, "Requests in flight to this provider (default MAX_CONCURRENT_UPSTREAM)")),
  rpm: Schema.optionalKey(about(Budget, "Requests per minute to this provider (default UPSTREAM_RPM; 0 or \"off\": none)")),
  tpm: Schema.optionalKey(about(Budget, "Tokens per minute to this provider (default UPSTREAM_TPM; 0 or \"off\": none)")),
  queue_timeout: Schema.optionalKey(about(DurationText, "Longest wait for a permit or budget: seconds, or text such as \"30 seconds\"")),
  breaker: Schema.optionalKey(Schema.Struct({
    failure_threshold: Schema.optionalKey(PositiveInt),
    recovery_timeout: Schema.optionalKey(DurationText),
    half_open_requests: Schema.optionalKey(PositiveInt)
  }))
})
export type ProviderEntry = typeof Provider.Type

const Routes = Schema.Struct({
  default: about(Chain, "Every request no other route takes"),
  background: Schema.optionalKey(about(Chain, "Requests for haiku models: Claude Code's background work")),
  think: Schema.optionalKey(about(Chain, "Requests with thinking enabled")),
  long_context: Schema.optionalKey(about(
    Schema.Struct({ target: Chain, threshold_tokens: PositiveInt }),
    "Requests whose estimated prompt is above threshold_tokens"
  )),
  web_search: Schema.optionalKey(about(Chain, "Requests that offer a web search tool")),
  rules: Schema.optionalKey(about(
    Schema.Array(Schema.Struct({ match: Schema.String, target: Chain })),
    "Tried first, in order: the client's model against a glob (* any run of characters, ? one character)"
  ))
})
export type RoutesEntry = typeof Routes.Type

const StageEntry = Schema.Struct({
  module: about(Schema.String, "A module path, relative to the config file's folder, or a package name"),
  before: Schema.optionalKey(about(Schema.String, "The stage it goes before (logging, guardrails, validation, routing, …)")),
  after: Schema.optionalKey(about(Schema.String, "The stage it goes after")),
  options: Schema.optionalKey(about(Schema.Unknown, "Handed to the module's make(options)"))
})
export type StageEntry = typeof StageEntry.Type

/** A setting as the environment would hold it; numbers and booleans are read as their text. */
const Setting = Schema.Union([Schema.String, Schema.Finite, Schema.Boolean])

/** The file's shape, for a given list of environment settings (their lower-case names become top-level fields). */
export const makeConfigFile = (variables: ReadonlyArray<string>) =>
  Schema.Struct({
    $schema: Schema.optionalKey(Schema.String),
    providers: Schema.optionalKey(Schema.NonEmptyArray(Provider)),
    routes: Schema.optionalKey(Routes),
    stages: Schema.optionalKey(Schema.Array(StageEntry)),
    ...Object.fromEntries(variables.map((name) => [name.toLowerCase(), Schema.optionalKey(Setting)])) as Record<
      string,
      Schema.optionalKey<typeof Setting>
    >
  })

export interface ConfigFileContents {
  /** The path as found (for messages and for reloading). */
  readonly path: string
  readonly providers?: ReadonlyArray<ProviderEntry> | undefined
  readonly routes?: RoutesEntry | undefined
  readonly stages?: ReadonlyArray<StageEntry> | undefined
  /** Top-level settings, by upper-case variable name, as text. */
  readonly settings: Readonly<Record<string, string>>
}

const CANDIDATES = ["ccproxy.json", "ccproxy.yaml", "ccproxy.yml"]

/** The file to read: the named one, else the one candidate present in `cwd`; undefined when there is none. */
export const findConfigFile = (named: string | undefined, cwd: string): string | undefined => {
  if (named !== undefined) {
    if (!Fs.existsSync(named)) throw new ConfigInvalid({ variable: "CCPROXY_CONFIG", problem: `names a file that does not exist: ${named}` })
    return named
  }
  const present = CANDIDATES.filter((name) => Fs.existsSync(Path.join(cwd, name)))
  if (present.length > 1) {
    throw new ConfigInvalid({ variable: "config file", problem: `is ambiguous: both ${present.join(" and ")} are present (keep one, or set CCPROXY_CONFIG)` })
  }
  return present[0] === undefined ? undefined : Path.join(cwd, present[0])
}

/** `a.b[0].c`, the way a user finds a field in their file. */
export const formatPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.map((key, i) => (typeof key === "number" ? `[${key}]` : i === 0 ? String(key) : `.${String(key)}`)).join("")

const invalidAt = (file: string, path: ReadonlyArray<PropertyKey>, problem: string) =>
  new ConfigInvalid({ file, variable: path.length === 0 ? "(the whole file)" : formatPath(path), problem })

const parseText = (file: string, text: string): unknown => {
  if (/\.ya?ml$/i.test(file)) {
    const document = Yaml.parseDocument(text, { prettyErrors: true, uniqueKeys: true })
    const error = document.errors[0]
    if (error !== undefined) {
      const [line, column] = error.linePos?.[0] === undefined ? [] : [error.linePos[0].line, error.linePos[0].col]
      throw new ConfigInvalid({ file, variable: line === undefined ? "YAML" : `line ${line}, column ${column}`, problem: `is not valid YAML: ${error.message.split("\n")[0]}` })
    }
    return document.toJS()
  }
  try {
    return JSON.parse(text)
  } catch (error) {
    throw new ConfigInvalid({ file, variable: "JSON", problem: `is not valid: ${(error as Error).message}` })
  }
}

const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g

/** The variables a config file's text refers to with `${VAR}`, each once. */
export const referencedVariables = (text: string): ReadonlyArray<string> =>
  [...new Set(Array.from(text.matchAll(REFERENCE), (match) => match[1]!))]

/** Every `${VAR}` in the strings of `value` replaced from `env`; throws naming the field of an unset one. */
export const substitute = (
  value: unknown,
  env: Readonly<Record<string, string | undefined>>,
  file: string,
  path: Array<PropertyKey> = []
): unknown => {
  if (typeof value === "string") {
    return value.replace(REFERENCE, (_whole, name: string, fallback: string | undefined) => {
      const found = env[name]
      if (found !== undefined && found !== "") return found
      if (fallback !== undefined) return fallback
      throw invalidAt(file, path, `refers to \${${name}}, which is not set in the environment`)
    })
  }
  if (Array.isArray(value)) return value.map((item, i) => substitute(item, env, file, [...path, i]))
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, substitute(item, env, file, [...path, key])]))
  }
  return value
}

const firstLower = (text: string) => text.charAt(0).toLowerCase() + text.slice(1)

/** Reads, substitutes and decodes the file; throws `ConfigInvalid` naming the file and the field. */
export const readConfigFile = (
  file: string,
  env: Readonly<Record<string, string | undefined>>,
  variables: ReadonlyArray<string>
): ConfigFileContents => {
  let text: string
  try {
    text = Fs.readFileSync(file, "utf8")
  } catch (error) {
    throw new ConfigInvalid({ file, variable: "file", problem: `cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})` })
  }
  const parsed = parseText(file, text)
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw invalidAt(file, [], "must be an object of settings")
  }
  const decoded = Schema.decodeUnknownExit(makeConfigFile(variables), { onExcessProperty: "error", errors: "all" })(
    substitute(parsed, env, file)
  )
  if (decoded._tag === "Failure") {
    const error = (decoded.cause.reasons[0] as { readonly error?: unknown } | undefined)?.error
    const issue = Schema.isSchemaError(error) ? SchemaIssue.makeFormatterStandardSchemaV1()(error.issue).issues[0] : undefined
    const path = (issue?.path ?? []).map((segment) => (typeof segment === "object" ? segment.key : segment))
    throw invalidAt(file, path, firstLower(issue?.message ?? "is not a valid config"))
  }
  const { $schema: _schema, providers, routes, stages, ...rest } = decoded.value
  const settings: Record<string, string> = {}
  for (const [key, value] of Object.entries(rest)) {
    if (value !== undefined) settings[key.toUpperCase()] = String(value)
  }
  return { path: file, providers, routes, stages, settings }
}
