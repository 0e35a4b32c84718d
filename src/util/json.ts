/** JSON.parse that reports failure as a value: upstreams and clients send broken JSON, and that is not a defect. */
export type Parsed = { readonly ok: true; readonly value: unknown } | { readonly ok: false }

export const tryParseJson = (text: string): Parsed => {
  try {
    return { ok: true, value: JSON.parse(text) }
  } catch {
    return { ok: false }
  }
}

/** The parsed value, or `fallback` when the text is not JSON. */
export const parseJsonOr = <A>(text: string, fallback: A): unknown | A => {
  const parsed = tryParseJson(text)
  return parsed.ok ? parsed.value : fallback
}
