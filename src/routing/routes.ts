/**
 * The route table: which provider and model answer a request, and what to try next when they cannot. Pure data and
 * one pure choice (`chooseRoute`); the routing stage (`pipeline/routing.ts`) runs the chain it returns.
 *
 * The order a request is matched in, first match wins:
 * 1. `"provider,model"` as the client's model (Claude Code's `/model` convention): that target alone;
 * 2. `rules`, in order, by glob on the client's model;
 * 3. a model that is not a Claude model: the provider that lists it in `models`, else the default chain's first
 *    provider, with the name unchanged (a client that asks for `gpt-4o` means it);
 * 4. `long_context`, when the cheap size estimate is above its threshold;
 * 5. `background`, for haiku models (Claude Code's titles, summaries and quick checks);
 * 6. `web_search`, when the request offers a web search tool;
 * 7. `think`, when thinking is on;
 * 8. `default`.
 */
import { ConfigInvalid } from "../config/env.ts"
import type { RoutesEntry } from "../config/file.ts"
import type { ProviderSettings } from "../config/providers.ts"
import type { MessagesRequest } from "../protocol/anthropic.ts"

export interface Target {
  readonly provider: string
  readonly model: string
}

/** Tried in order; the next is tried only when the one before failed before anything reached the client. */
export type Chain = readonly [Target, ...Array<Target>]

export type RouteName = "explicit" | "rule" | "model" | "long_context" | "background" | "web_search" | "think" | "default"

export interface Rule {
  readonly match: string
  readonly test: (model: string) => boolean
  readonly chain: Chain
}

export interface Routes {
  readonly default: Chain
  readonly background?: Chain | undefined
  readonly think?: Chain | undefined
  readonly longContext?: { readonly chain: Chain; readonly thresholdTokens: number } | undefined
  readonly webSearch?: Chain | undefined
  readonly rules: ReadonlyArray<Rule>
}

export interface Routed {
  readonly route: RouteName
  readonly chain: Chain
}

export const formatTarget = (target: Target): string => `${target.provider},${target.model}`

/**
 * A glob over a whole model name, case-insensitive: `*` any run of characters, `?` one. Not `effect/Glob`: that
 * matches `/`-separated paths, where `*` stops at a `/`, and model ids such as `anthropic/claude-opus-4` have one.
 */
export const modelGlob = (pattern: string): ((model: string) => boolean) => {
  const source = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replaceAll("*", ".*").replaceAll("?", ".")
  const regex = new RegExp(`^${source}$`, "i")
  return (model) => regex.test(model)
}

/** Splits `"provider,model"` at its first comma; undefined when there is none. */
export const splitTarget = (text: string): Target | undefined => {
  const comma = text.indexOf(",")
  if (comma < 0) return undefined
  const provider = text.slice(0, comma).trim()
  const model = text.slice(comma + 1).trim()
  return provider === "" || model === "" ? undefined : { provider, model }
}

const knownNames = (providers: ReadonlyArray<ProviderSettings>) => providers.map((p) => p.name).join(", ")

/** A provider that lists its `models` serves only those: any other model for it is a mistake, said here. */
const unlistedModel = (providers: ReadonlyArray<ProviderSettings>, target: Target): string | undefined => {
  const provider = providers.find((p) => p.name === target.provider)
  return provider === undefined || provider.models.length === 0 || provider.models.includes(target.model)
    ? undefined
    : `names model "${target.model}", which provider "${provider.name}" does not list (its models: ${provider.models.join(", ")})`
}

/** The file's routes, every target checked against the providers. */
export const routesFromFile = (entry: RoutesEntry, providers: ReadonlyArray<ProviderSettings>, file: string): Routes => {
  const names = new Set(providers.map((p) => p.name))
  const chain = (value: string | ReadonlyArray<string>, field: string): Chain => {
    const texts = typeof value === "string" ? [value] : value
    const targets = texts.map((text, i) => {
      const at = typeof value === "string" ? field : `${field}[${i}]`
      const target = splitTarget(text)
      if (target === undefined) throw new ConfigInvalid({ file, variable: at, problem: `must be "provider,model" (got "${text}")` })
      if (!names.has(target.provider)) {
        throw new ConfigInvalid({ file, variable: at, problem: `names an unknown provider "${target.provider}" (known: ${knownNames(providers)})` })
      }
      const unlisted = unlistedModel(providers, target)
      if (unlisted !== undefined) throw new ConfigInvalid({ file, variable: at, problem: unlisted })
      return target
    })
    return targets as unknown as Chain
  }
  return {
    default: chain(entry.default, "routes.default"),
    background: entry.background === undefined ? undefined : chain(entry.background, "routes.background"),
    think: entry.think === undefined ? undefined : chain(entry.think, "routes.think"),
    longContext: entry.long_context === undefined ? undefined : {
      chain: chain(entry.long_context.target, "routes.long_context.target"),
      thresholdTokens: entry.long_context.threshold_tokens
    },
    webSearch: entry.web_search === undefined ? undefined : chain(entry.web_search, "routes.web_search"),
    rules: (entry.rules ?? []).map((rule, i) => ({
      match: rule.match,
      test: modelGlob(rule.match),
      chain: chain(rule.target, `routes.rules[${i}].target`)
    }))
  }
}

/** The routes the environment alone describes: opus/sonnet → BIG_MODEL_NAME, haiku → SMALL_MODEL_NAME. */
export const implicitRoutes = (provider: string, bigModel: string, smallModel: string): Routes => ({
  default: [{ provider, model: bigModel }],
  background: [{ provider, model: smallModel }],
  rules: []
})

const isClaudeModel = (model: string): boolean => /claude|opus|sonnet|haiku/i.test(model)

const thinkingOn = (body: MessagesRequest): boolean => body.thinking != null && body.thinking.type !== "disabled"

const offersWebSearch = (body: MessagesRequest): boolean =>
  body.tools?.some((tool) => typeof tool.type === "string" && tool.type.startsWith("web_search")) === true

/** The route for a request, or the problem with its model (an unknown provider in `"provider,model"`). */
export const chooseRoute = (
  routes: Routes,
  providers: ReadonlyArray<ProviderSettings>,
  body: MessagesRequest,
  estimatedTokens: number
): Routed | { readonly problem: string } => {
  const model = body.model
  const explicit = splitTarget(model)
  if (explicit !== undefined) {
    if (!providers.some((p) => p.name === explicit.provider)) {
      return { problem: `model "${model}" names an unknown provider "${explicit.provider}"; known providers: ${knownNames(providers)}` }
    }
    const unlisted = unlistedModel(providers, explicit)
    return unlisted === undefined ? { route: "explicit", chain: [explicit] } : { problem: `model "${model}" ${unlisted}` }
  }
  for (const rule of routes.rules) {
    if (rule.test(model)) return { route: "rule", chain: rule.chain }
  }
  if (!isClaudeModel(model)) {
    const listing = providers.find((p) => p.models.includes(model))
    const target = { provider: listing?.name ?? routes.default[0].provider, model }
    const unlisted = unlistedModel(providers, target)
    return unlisted === undefined
      ? { route: "model", chain: [target] }
      : { problem: `model "${model}" is served by no provider: the default one, "${target.provider}", lists only ${providers.find((p) => p.name === target.provider)!.models.join(", ")}` }
  }
  if (routes.longContext !== undefined && estimatedTokens > routes.longContext.thresholdTokens) {
    return { route: "long_context", chain: routes.longContext.chain }
  }
  if (routes.background !== undefined && /haiku/i.test(model)) return { route: "background", chain: routes.background }
  if (routes.webSearch !== undefined && offersWebSearch(body)) return { route: "web_search", chain: routes.webSearch }
  if (routes.think !== undefined && thinkingOn(body)) return { route: "think", chain: routes.think }
  return { route: "default", chain: routes.default }
}

/** Every target a route can reach, once each, in table order: for `/v1/models` and `ccproxy check`. */
export const allTargets = (routes: Routes): ReadonlyArray<Target> => {
  const chains = [
    routes.default,
    routes.background,
    routes.think,
    routes.longContext?.chain,
    routes.webSearch,
    ...routes.rules.map((rule) => rule.chain)
  ]
  const seen = new Map<string, Target>()
  for (const chain of chains) for (const target of chain ?? []) seen.set(formatTarget(target), target)
  return [...seen.values()]
}

/** The table in one line per route, for the start-up log: `default: openai,gpt-5 → deepseek,deepseek-chat`. */
export const describeRoutes = (routes: Routes): Record<string, string> => {
  const chain = (targets: Chain) => targets.map(formatTarget).join(" → ")
  const lines: Record<string, string> = { default: chain(routes.default) }
  if (routes.background !== undefined) lines.background = chain(routes.background)
  if (routes.think !== undefined) lines.think = chain(routes.think)
  if (routes.longContext !== undefined) lines.long_context = `${chain(routes.longContext.chain)} (over ${routes.longContext.thresholdTokens} tokens)`
  if (routes.webSearch !== undefined) lines.web_search = chain(routes.webSearch)
  routes.rules.forEach((rule, i) => {
    lines[`rules[${i}] ${rule.match}`] = chain(rule.chain)
  })
  return lines
}
