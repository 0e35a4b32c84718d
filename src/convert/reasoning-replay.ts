/**
 * Reasoning across turns (PROTOCOL.md §G.1, §G.2, §I.2, §I.3). Pure.
 *
 * Anthropic clients keep a turn's reasoning as `thinking` blocks (text + opaque `signature`) and `redacted_thinking`
 * blocks (opaque `data`), and send them back unchanged with the next request. Those opaque fields carry what the
 * vendor needs back:
 *
 * - DeepSeek needs only the text (`reasoning_content`), which the thinking block holds as is; its signature is
 *   `PLACEHOLDER_SIGNATURE`.
 * - OpenRouter needs its `reasoning_details` items "exactly as generated" (ids, formats, Claude's signatures,
 *   encrypted items). A thinking block's signature is then an *envelope*: `ccproxy.r1.` + base64url of the JSON of
 *   the items behind that block (`reasoning.text` / `reasoning.summary`, fragments merged per item); each
 *   `reasoning.encrypted` item becomes a redacted_thinking block whose `data` is the envelope of that one item.
 *   The next request opens the envelopes, in block order, into the assistant message's `reasoning_details`.
 *
 * A signature that is neither an envelope nor the placeholder came from elsewhere (a real Anthropic answer, or this
 * proxy before envelopes existed, which copied Claude's raw signature): for a Claude model behind OpenRouter it is
 * sent as a signed `reasoning.text` item, the form OpenRouter documents for Anthropic reasoning.
 */
import type { ReasoningDetail } from "../protocol/openai.ts"

/**
 * Signature for thinking that carries nothing to send back (the text is all there is). Clients must return thinking
 * blocks unchanged, so the request converter recognises it.
 */
export const PLACEHOLDER_SIGNATURE = "ccproxy-unsigned-thinking"

const ENVELOPE_PREFIX = "ccproxy.r1."

/** OpenRouter's `format` for Anthropic reasoning items. */
export const CLAUDE_FORMAT = "anthropic-claude-v1"

export const isEncrypted = (detail: ReasoningDetail): boolean => detail.type === "reasoning.encrypted"

/** The items as an opaque string for a signature or redacted_thinking data. */
export const sealDetails = (details: ReadonlyArray<ReasoningDetail>): string =>
  ENVELOPE_PREFIX + Buffer.from(JSON.stringify(details), "utf8").toString("base64url")

const isDetail = (value: unknown): value is ReasoningDetail =>
  typeof value === "object" && value !== null && !Array.isArray(value) &&
  typeof (value as { type?: unknown }).type === "string"

/** The items inside an envelope; undefined for anything else (placeholder, foreign signature, damaged envelope). */
export const openEnvelope = (sealed: string | undefined): ReadonlyArray<ReasoningDetail> | undefined => {
  if (sealed === undefined || !sealed.startsWith(ENVELOPE_PREFIX)) return undefined
  try {
    const parsed: unknown = JSON.parse(Buffer.from(sealed.slice(ENVELOPE_PREFIX.length), "base64url").toString("utf8"))
    return Array.isArray(parsed) && parsed.every(isDetail) ? parsed : undefined
  } catch {
    return undefined
  }
}

/** Every opaque value this proxy writes starts so (envelopes here, Gemini's carriers in gemini-signatures.ts). */
const OWN_PREFIX = "ccproxy."

/** Whether a signature is one the upstream made (not ours), i.e. worth sending to a model that verifies it. */
export const isForeignSignature = (signature: string | undefined): signature is string =>
  signature !== undefined && signature !== "" && signature !== PLACEHOLDER_SIGNATURE &&
  !signature.startsWith(OWN_PREFIX)

const joined = (a: string | null | undefined, b: string | null | undefined): string | null | undefined =>
  b ? (a ?? "") + b : a

/**
 * Adds a streamed fragment to the items read so far. OpenRouter streams an item as fragments that share its `type`
 * and `index` (the text in pieces, the signature in a fragment of its own); they merge into one item: texts and
 * summaries concatenated, the latest signature kept, the first fragment's other fields (id, format) kept. Encrypted
 * items arrive whole and are never merged.
 */
export const mergeDetail = (items: Array<ReasoningDetail>, fragment: ReasoningDetail): void => {
  const last = items[items.length - 1]
  const continues = last !== undefined && !isEncrypted(fragment) && last.type === fragment.type &&
    (last.index ?? undefined) === (fragment.index ?? undefined)
  if (!continues) {
    items.push({ ...fragment })
    return
  }
  const text = joined(last.text, fragment.text)
  const summary = joined(last.summary, fragment.summary)
  if (text !== undefined) last.text = text
  if (summary !== undefined) last.summary = summary
  if (fragment.signature) last.signature = fragment.signature
  if (last.id == null && fragment.id != null) last.id = fragment.id
  if (last.format == null && fragment.format != null) last.format = fragment.format
}

/** A whole message's items, merged as the stream would merge them. */
export const mergeDetails = (details: ReadonlyArray<ReasoningDetail>): Array<ReasoningDetail> => {
  const items: Array<ReasoningDetail> = []
  for (const detail of details) mergeDetail(items, detail)
  return items
}

// ---------------------------------------------------------------------------------------------------------------
// Request side: Anthropic history blocks → OpenRouter reasoning_details
// ---------------------------------------------------------------------------------------------------------------

export type HistoryReasoning =
  | { readonly type: "thinking"; readonly thinking: string; readonly signature?: string | undefined }
  | { readonly type: "redacted_thinking"; readonly data: string }

/**
 * The reasoning_details one history block stands for, or a reason it stands for none. `claude`: the target is an
 * Anthropic model, which verifies signatures, so unsigned text is not sent to it.
 */
export const detailsOfBlock = (
  block: HistoryReasoning,
  claude: boolean
): { readonly details: ReadonlyArray<ReasoningDetail> } | { readonly dropped: string } => {
  const sealed = block.type === "thinking" ? block.signature : block.data
  const opened = openEnvelope(sealed)
  if (opened !== undefined) return { details: opened }
  if (block.type === "redacted_thinking") {
    return claude
      ? { details: [{ type: "reasoning.encrypted", data: block.data, format: CLAUDE_FORMAT }] }
      : { dropped: "redacted_thinking that did not come from this upstream" }
  }
  if (claude && isForeignSignature(block.signature)) {
    return { details: [{ type: "reasoning.text", text: block.thinking, signature: block.signature, format: CLAUDE_FORMAT }] }
  }
  if (claude) return { dropped: "unsigned thinking (Claude models reject it)" }
  if (block.thinking === "") return { dropped: "empty thinking" }
  return { details: [{ type: "reasoning.text", text: block.thinking }] }
}
