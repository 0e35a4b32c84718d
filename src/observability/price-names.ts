/**
 * The spellings a model id is looked up under when its exact id has no price. Every rule here keeps the model the
 * same and only changes how it is written; none maps one model to a sibling (no `-mini` → base, no `-0613` → base).
 */

/** Ids are compared lower-case and trimmed: vendors treat them case-insensitively and so does the dataset. */
export const normalise = (model: string): string => model.trim().toLowerCase()

// A trailing date, dashed (`-2025-08-07`) or compact (`-20250807`): the back-reference keeps both separators alike.
const DATE_SUFFIX = /^(.+)-(20\d\d)(-?)(\d\d)\3(\d\d)$/

const isCalendarDate = (year: number, month: number, day: number): boolean => {
  const date = new Date(Date.UTC(year, month - 1, day))
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day
}

/**
 * A snapshot id's other spellings: `gpt-5-2025-08-07` → `gpt-5-20250807` (OpenRouter writes dates compact) and back,
 * then the undated alias `gpt-5`. Only a full trailing calendar date counts: short suffixes such as `-0613`, `-0125`
 * or `-preview-05-20` name snapshots that were priced differently from their alias, so they are never stripped.
 */
export const dateForms = (name: string): ReadonlyArray<string> => {
  const match = DATE_SUFFIX.exec(name)
  if (match === null) return []
  const [, stem = "", year = "", dash = "", month = "", day = ""] = match
  if (!isCalendarDate(Number(year), Number(month), Number(day))) return []
  const otherSpelling = dash === "-" ? `${stem}-${year}${month}${day}` : `${stem}-${year}-${month}-${day}`
  return [otherSpelling, stem]
}

/** The id itself, then its date spellings. */
export const spellings = (name: string): ReadonlyArray<string> => [name, ...dateForms(name)]

/** `openai/gpt-4.1` → vendor `openai`, model `gpt-4.1` (OpenRouter's, Groq's and Together's way of naming). */
export const splitVendor = (name: string): { readonly vendor: string; readonly model: string } | undefined => {
  const slash = name.indexOf("/")
  if (slash <= 0 || slash === name.length - 1) return undefined
  return { vendor: name.slice(0, slash), model: name.slice(slash + 1) }
}

/** `models/gemini-2.5-flash` → `gemini-2.5-flash`: the id without any path in front of it. */
export const lastSegment = (name: string): string => name.slice(name.lastIndexOf("/") + 1)

/** `qwen3-coder:30b` → `qwen3-coder`: Ollama's size/quantisation tag, for self-hosted upstreams only. */
export const withoutTag = (name: string): string | undefined => {
  const colon = name.lastIndexOf(":")
  return colon > 0 ? name.slice(0, colon) : undefined
}

/** OpenRouter's `:free` variants cost nothing by definition. */
export const isFreeVariant = (name: string): boolean => name.endsWith(":free")
