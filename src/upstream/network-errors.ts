/** Network failures (undici's and Node's) in one short line, never with the request in it, so never the key. */

interface ErrorLike {
  readonly code?: string
  readonly name?: string
  readonly message?: string
  readonly cause?: ErrorLike
}

/** `ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:9` → the message, with the code in front when it lacks it. */
export const describeNetworkError = (error: unknown): string => {
  const e = (typeof error === "object" && error !== null ? error : { message: String(error) }) as ErrorLike
  const code = e.code ?? e.cause?.code
  const message = e.cause?.message ?? e.message ?? e.name ?? "network error"
  return code && !message.includes(code) ? `${code}: ${message}` : message
}

export const isConnectTimeout = (error: unknown): boolean => {
  const e = error as ErrorLike | undefined
  return e?.code === "UND_ERR_CONNECT_TIMEOUT" || e?.name === "ConnectTimeoutError" ||
    e?.cause?.code === "UND_ERR_CONNECT_TIMEOUT"
}
