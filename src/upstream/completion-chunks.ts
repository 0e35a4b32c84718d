/**
 * Some servers ignore `stream: true` and answer with one JSON completion. Rather than failing, we replay that
 * completion as the chunks a streaming server would have sent, so the stream converter handles both alike.
 */
import type { ChatResponse, Chunk, ChunkToolCall } from "../protocol/openai.ts"

export const completionAsChunks = (response: ChatResponse): Array<Chunk> => {
  const choice = response.choices?.[0]
  const message = choice?.message
  const envelope = { id: response.id ?? null, model: response.model ?? null }
  const chunks: Array<Chunk> = []
  if (message) {
    const toolCalls: Array<ChunkToolCall> | undefined = message.tool_calls?.map((call, index) => ({ ...call, index }))
    chunks.push({
      ...envelope,
      choices: [{ index: 0, delta: { ...message, ...(toolCalls ? { tool_calls: toolCalls } : {}) }, finish_reason: null }]
    })
  }
  chunks.push({
    ...envelope,
    choices: [{
      index: 0,
      delta: {},
      finish_reason: choice?.finish_reason ?? "stop",
      ...(choice?.stop_reason !== undefined ? { stop_reason: choice.stop_reason } : {})
    }]
  })
  if (response.usage) chunks.push({ ...envelope, choices: [], usage: response.usage })
  return chunks
}
