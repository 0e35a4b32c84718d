/**
 * Gemini's thought signatures across turns (PROTOCOL.md §G.4). Pure.
 *
 * Facts (Gemini API "Thought Signatures" page, ai.google.dev/gemini-api/docs/thought-signatures, as of 2025-11-18;
 * copy in robert-at-pretension-io/simple-agent docs/gemini_openai_api.md):
 * - Through the OpenAI-compatible endpoint the signature rides on the tool call, as
 *   `tool_calls[i].extra_content.google.thought_signature` ("Signatures for OpenAI compatibility").
 * - Parallel calls: only the first call of a response carries one; sequential steps each carry their own, and
 *   "you must pass all signatures back", on the part where each was received.
 * - Gemini 3 validates "the first functionCall part in each step of the current turn" (the turn starts at the
 *   latest user message with ordinary content, i.e. not a tool result) and answers 400 "Function call … is missing
 *   a thought_signature" without it. Gemini 2.5 signatures are optional to return.
 * - For calls that have no signature (history from another model), the FAQ says to "set the following dummy
 *   signatures of either "context_engineering_is_the_way_to_go" or "skip_thought_signature_validator" in the
 *   thought signature field to skip validation". Vertex AI documents only the second one
 *   (cloud.google.com/vertex-ai/generative-ai/docs/thought-signatures, as quoted in pydantic/pydantic-ai's Gemini
 *   model), so that is the one used.
 * - Responses without a function call may carry a signature on their last (text) part; it is not validated, and the
 *   OpenAI-compatible request format for sending it back is not documented, so it is not carried.
 *
 * Carrier: an Anthropic tool_use block cannot grow fields (clients validate it), so the signatures of a reply travel
 * in one extra `thinking` block at its end, with empty text (the shape Anthropic itself sends for omitted thinking)
 * and the signature `ccproxy.g1.` + base64url of the JSON object {client tool id: thought signature}. Clients send
 * thinking blocks back unchanged; the next request reads every carrier in the history and puts each signature back
 * on the assistant tool call with that id. Keyed by id, a carrier works wherever the client puts it.
 */
import type * as A from "../protocol/anthropic.ts"
import type * as O from "../protocol/openai.ts"
import { modelFamily, type Provider } from "./models.ts"
import { profile } from "./profiles.ts"
import type { Context } from "./request-context.ts"

/** Gemini's documented stand-in for a signature the history does not have (see the module comment). */
export const THOUGHT_SIGNATURE_BYPASS = "skip_thought_signature_validator"

const CARRIER_PREFIX = "ccproxy.g1."

/** Whether the reply must carry the upstream's tool-call signatures to the next turn. */
export const carriesThoughtSignatures = (provider: Provider | undefined): boolean =>
  provider !== undefined && profile(provider).reasoningHistory === "thought_signatures"

/** The thought signature on one tool call (whole or a stream fragment of it), if it has one. */
export const thoughtSignatureOf = (call: O.ResponseToolCall): string | undefined => {
  const signature = call.extra_content?.google?.thought_signature
  return typeof signature === "string" && signature !== "" ? signature : undefined
}

/** The carrier block for a reply's signatures, keyed by the tool ids the client sees. */
export const signatureCarrier = (byToolId: ReadonlyMap<string, string>) => ({
  type: "thinking" as const,
  thinking: "",
  signature: CARRIER_PREFIX + Buffer.from(JSON.stringify(Object.fromEntries(byToolId)), "utf8").toString("base64url")
})

/** The signatures inside a carrier's signature; undefined for any other signature, or a damaged carrier. */
export const openCarrier = (signature: string | undefined): ReadonlyMap<string, string> | undefined => {
  if (signature === undefined || !signature.startsWith(CARRIER_PREFIX)) return undefined
  try {
    const parsed: unknown = JSON.parse(Buffer.from(signature.slice(CARRIER_PREFIX.length), "base64url").toString("utf8"))
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return undefined
    const entries = Object.entries(parsed)
    return entries.every(([, value]) => typeof value === "string") ? new Map(entries as Array<[string, string]>) : undefined
  } catch {
    return undefined
  }
}

export const isSignatureCarrier = (block: A.ContentBlock): boolean =>
  block.type === "thinking" && typeof block.signature === "string" && block.signature.startsWith(CARRIER_PREFIX)

// ---------------------------------------------------------------------------------------------------------------
// Request side
// ---------------------------------------------------------------------------------------------------------------

/** Every signature the history carries, keyed by the id the upstream will see for its call. */
const historySignatures = (history: ReadonlyArray<A.Message>, upstreamId: (id: string) => string): Map<string, string> => {
  const byUpstreamId = new Map<string, string>()
  for (const message of history) {
    if (message.role !== "assistant" || typeof message.content === "string") continue
    for (const block of message.content) {
      if (block.type !== "thinking") continue
      for (const [id, signature] of openCarrier(block.signature as string | undefined) ?? []) {
        byUpstreamId.set(upstreamId(id), signature)
      }
    }
  }
  return byUpstreamId
}

/** Gemini 1.x/2.x do not validate signatures; Gemini 3 and later (and version-less aliases) may. */
const validatesSignatures = (model: string): boolean => {
  const family = modelFamily(model)
  return family.startsWith("gemini-") && !/^gemini-[12](?:[.-]|$)/.test(family)
}

const signed = (call: O.ToolCall, signature: string): O.ToolCall => ({
  ...call,
  extra_content: { google: { thought_signature: signature } }
})

/**
 * The upstream messages with each stored signature back on its tool call. In the current turn (after the last user
 * message), an assistant message whose calls have no signature at all gets the documented stand-in on its first
 * call, for models that validate: that is the one part Gemini checks. `upstreamId` maps a client tool id to the id
 * the messages use for it (messages.ts `upstreamToolId`).
 */
export const withThoughtSignatures = (
  messages: ReadonlyArray<O.ChatMessage>,
  history: ReadonlyArray<A.Message>,
  context: Context,
  upstreamId: (id: string) => string
): Array<O.ChatMessage> => {
  const byId = historySignatures(history, upstreamId)
  const turnStart = messages.findLastIndex((message) => message.role === "user")
  const bypass = validatesSignatures(context.target.model)
  return messages.map((message, index) => {
    if (message.role !== "assistant" || message.tool_calls === undefined || message.tool_calls.length === 0) {
      return message
    }
    let found = false
    const calls = message.tool_calls.map((call) => {
      const signature = byId.get(call.id)
      if (signature === undefined) return call
      found = true
      return signed(call, signature)
    })
    if (!found && bypass && index > turnStart) {
      context.notes.add("sent Gemini's documented stand-in thought signature for tool calls without one")
      calls[0] = signed(calls[0]!, THOUGHT_SIGNATURE_BYPASS)
    }
    return { ...message, tool_calls: calls }
  })
}
