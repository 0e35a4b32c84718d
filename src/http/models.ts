/**
 * `GET /v1/models` in Anthropic's list shape. We list the Claude model ids clients ask for; each resolves to the
 * configured upstream model (opus/sonnet → BIG, haiku → SMALL), which `display_name` shows.
 */
import type { ProxyConfigShape } from "../config.ts"
import { mapModel } from "../convert/models.ts"

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

export const modelInfos = (config: Pick<ProxyConfigShape, "bigModel" | "smallModel">): ReadonlyArray<ModelInfo> =>
  CLAUDE_MODELS.map((model) => ({
    type: "model",
    id: model.id,
    display_name: `${model.name} (via ${mapModel(model.id, config)})`,
    created_at: model.created
  }))

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
