/**
 * A request rewrite: one more line at the end of every request's system prompt (a house style, a policy reminder).
 *
 * In ccproxy.json:
 *
 *   "stages": [{ "module": "./stages/house-style.ts", "after": "routing", "options": { "text": "Answer in British English." } }]
 *
 * After routing, because routing reads the client's request as it came (its model, thinking, tools) and this line
 * should not sway it; before conversion (which comes next), so the Chat Completions request is made from the
 * rewritten body, once.
 *
 * The proxy imports this file and calls `make(options)` each time it loads the config (at start and on each
 * reload). Throwing there stops the start, or rejects the reload, with one line naming this entry.
 */
import type { Anthropic, ProxyRequest, Stage } from "ccproxy"

export const make = (options: unknown): Stage => {
  const text = (options as { readonly text?: unknown } | undefined)?.text
  if (typeof text !== "string" || text.trim() === "") throw new Error("options.text must be a non-empty string")
  return {
    name: "house-style",
    // A stage wraps the next handler: here it hands on a changed request and leaves the reply alone.
    wrap: (next) => (request) => next(withLine(request, text))
  }
}

/** The request with `line` appended to its system prompt, whichever of its three forms that prompt has. */
const withLine = (request: ProxyRequest, line: string): ProxyRequest => {
  const system = request.body.system
  const body: Anthropic.MessagesRequest = {
    ...request.body,
    system: system === undefined
      ? line
      : typeof system === "string"
      ? `${system}\n\n${line}`
      // Claude Code sends a list of text blocks (some marked for prompt caching): add a block, keep theirs as they are.
      : [...system, { type: "text", text: line }]
  }
  // Copies, never edits: the original body may still be read by the stages outside this one (logging, the cache key).
  return { ...request, body }
}
