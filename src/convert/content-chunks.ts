/**
 * An assistant message's `content` when it is a list of chunks instead of a string. Pure.
 *
 * Mistral's reasoning models (Magistral -2507/-2509, and models with `reasoning_effort`) answer with `content` as
 * a list: `{type: "thinking", thinking: [{type: "text", text}, …]}` chunks for the reasoning trace and
 * `{type: "text", text}` chunks for the answer (Mistral's ThinkChunk / TextChunk types, mistralai/client-ts
 * docs/models/components/thinkchunk.md; docs.mistral.ai/capabilities/reasoning/native: "-2509 & -2507 … providing
 * the thinking traces in different types of content chunks"). Streamed, a delta's content is such a list while the
 * model thinks and plain string fragments after it (mistralai/client-python#511, reasoning_with_streaming.py;
 * DeltaMessage.content is "string | ContentChunk[]" in mistralai/client-ts docs/models/components/deltamessage.md).
 *
 * Other chunk types (references, images) carry no text we could show and are skipped.
 */
import type { ContentChunk } from "../protocol/openai.ts"

export interface ContentPiece {
  readonly kind: "thinking" | "text"
  readonly text: string
}

type Content = string | ReadonlyArray<ContentChunk | null> | null | undefined

const textOf = (chunks: ReadonlyArray<ContentChunk | null> | null | undefined): string => {
  let text = ""
  for (const chunk of chunks ?? []) if (chunk?.type === "text" && typeof chunk.text === "string") text += chunk.text
  return text
}

/** The content as thinking and text pieces, in order; empty pieces are left out. */
export const contentPieces = (content: Content): Array<ContentPiece> => {
  if (typeof content === "string") return content === "" ? [] : [{ kind: "text", text: content }]
  const pieces: Array<ContentPiece> = []
  for (const chunk of content ?? []) {
    const piece: ContentPiece | undefined = chunk?.type === "thinking"
      ? { kind: "thinking", text: textOf(chunk.thinking) }
      : chunk?.type === "text" && typeof chunk.text === "string"
      ? { kind: "text", text: chunk.text }
      : undefined
    if (piece === undefined || piece.text === "") continue
    const last = pieces[pieces.length - 1]
    if (last?.kind === piece.kind) pieces[pieces.length - 1] = { kind: piece.kind, text: last.text + piece.text }
    else pieces.push(piece)
  }
  return pieces
}
