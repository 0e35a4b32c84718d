/**
 * Checks the rules Anthropic enforces beyond the body's shape (the schema already checked types at ingress),
 * so clients get the same 400s they would get from Anthropic instead of an upstream's differently worded one.
 */
import * as Effect from "effect/Effect"
import { InvalidRequest } from "../errors.ts"
import type { MessagesRequest } from "../protocol/anthropic.ts"
import type { Stage } from "./stage.ts"

/** The first rule the request breaks, as Anthropic would word it; undefined when it is fine. */
export const findViolation = (body: MessagesRequest): string | undefined => {
  if (body.model.trim() === "") return "model: must not be empty"
  if (body.messages.length === 0) return "messages: at least one message is required"
  if (body.temperature != null && (body.temperature < 0 || body.temperature > 1)) {
    return "temperature: range: 0..1"
  }
  if (body.top_p != null && (body.top_p < 0 || body.top_p > 1)) return "top_p: range: 0..1"
  if (body.thinking?.type === "enabled") {
    const budget = body.thinking.budget_tokens
    if (!Number.isInteger(budget) || budget < 1024) return "thinking.budget_tokens: must be at least 1024"
    if (body.max_tokens > 0 && budget >= body.max_tokens) {
      return "max_tokens must be greater than thinking.budget_tokens"
    }
  }
  const toolChoice = body.tool_choice
  if (toolChoice?.type === "tool" && !body.tools?.some((tool) => tool.name === toolChoice.name)) {
    return `tool_choice.name: no tool named "${toolChoice.name}" in tools`
  }
  const names = new Set<string>()
  for (const [i, tool] of (body.tools ?? []).entries()) {
    if (tool.name === "") return `tools.${i}.name: must not be empty`
    if (names.has(tool.name)) return `tools: tool names must be unique ("${tool.name}")`
    names.add(tool.name)
  }
  return undefined
}

export const validation: Stage = {
  name: "validation",
  wrap: (next) => (request) => {
    const violation = findViolation(request.body)
    return violation === undefined ? next(request) : Effect.fail(new InvalidRequest({ message: violation }))
  }
}
