/**
 * `GET /v1/models` in Anthropic's list shape: first the Claude model ids clients ask for, each with the target its
 * route sends it to in `display_name`; then every `provider,model` pair a client may ask for directly (the targets
 * of the route table and each provider's `models`).
 */
import type { ProxyConfigShape } from "../config.ts"
import { allTargets, chooseRoute, formatTarget, type Target } from "../routing/routes.ts"

const CLAUDE_MODELS: ReadonlyArray<{ id: string; name: string; created: string }> = [
  { id: "claude-opus-4-7", name: "Claude Opus 4.7", created: "2026-04-16T00:00:00Z" },
  { id: "claude-sonnet-4-6", name: "Claude Sonnet 4.6", created: "2026-02-17T00:00:00Z" },
  { id: "claude-opus-4-6", name: "Claude Opus 4.6", created: "2026-02-05T00:00:00Z" },
  { id: "claude-haiku-4-5", name: "Claude Haiku 4.5", created: "2025-10-01T00:00:00Z" },
  { id: "claude-sonnet-4-5", name: "Claude Sonnet 4.5", created: "2025-09-29T00:00:00Z" },
  { id: "claude-opus-4-5", name: "Claude Opus 4.5", created: "2025-11-01T00:00:00Z" },
  { id: "claude-opus-4-1", name: "Claude Opus 4.1", created: "2025-08-05T00:00:00Z" }
]

export interface ModelInfo {
  readonly type: "model"
  readonly id: string
  readonly display_name: string
  readonly created_at: string
}

/** Pairs have no release date of their own; the epoch says "unknown" in a field the format requires. */
const UNKNOWN_DATE = "1970-01-01T00:00:00Z"

export const modelInfos = (config: Pick<ProxyConfigShape, "providers" | "routes">): ReadonlyArray<ModelInfo> => {
  const claude = CLAUDE_MODELS.map((model): ModelInfo => {
    const routed = chooseRoute(config.routes, config.providers, { model: model.id, max_tokens: 1, messages: [] }, 0)
    const via = "chain" in routed ? routed.chain.map(formatTarget).join(", then ") : "?"
    return { type: "model", id: model.id, display_name: `${model.name} (via ${via})`, created_at: model.created }
  })
  const pairs = new Map<string, Target>()
  for (const target of allTargets(config.routes)) pairs.set(formatTarget(target), target)
  for (const provider of config.providers) {
    for (const model of provider.models) pairs.set(formatTarget({ provider: provider.name, model }), { provider: provider.name, model })
  }
  const direct = [...pairs].map(([id, target]): ModelInfo => ({
    type: "model",
    id,
    display_name: `${target.model} on ${target.provider}`,
    created_at: UNKNOWN_DATE
  }))
  return [...claude, ...direct]
}

/** Anthropic's cursor pagination: `limit` (1–1000, default 20), `after_id`, `before_id`. */
export const listModels = (
  models: ReadonlyArray<ModelInfo>,
  query: { readonly limit?: string | undefined; readonly after_id?: string | undefined; readonly before_id?: string | undefined }
): { data: ReadonlyArray<ModelInfo>; has_more: boolean; first_id: string | null; last_id: string | null } | string => {
  const limit = query.limit === undefined ? 20 : Number(query.limit)
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) return "limit: must be an integer from 1 to 1000"
  let start = 0
  let end = models.length
  if (query.after_id !== undefined) start = models.findIndex((m) => m.id === query.after_id) + 1
  if (query.before_id !== undefined) end = Math.max(0, models.findIndex((m) => m.id === query.before_id))
  const window = query.before_id !== undefined && query.after_id === undefined
    ? models.slice(Math.max(start, end - limit), end)
    : models.slice(start, Math.min(end, start + limit))
  const hasMore = query.before_id !== undefined && query.after_id === undefined
    ? end - limit > start
    : start + limit < end
  return { data: window, has_more: hasMore, first_id: window[0]?.id ?? null, last_id: window.at(-1)?.id ?? null }
}
