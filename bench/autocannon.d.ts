// The part of autocannon@9's programmatic API the bench uses (the package ships no types).
declare module "autocannon" {
  import type { EventEmitter } from "node:events"

  interface Options {
    url: string
    method?: string
    headers?: Record<string, string>
    body?: string | Buffer
    connections?: number
    pipelining?: number
    duration?: number
    /** Seconds before a request counts as timed out. */
    timeout?: number
    /** Called with each complete response body; false counts a mismatch. */
    verifyBody?: (body: string) => boolean
  }

  interface Result {
    duration: number
    errors: number
    timeouts: number
    mismatches: number
    non2xx: number
    resets: number
    statusCodeStats: Record<string, { count: number }>
    "2xx": number
    requests: { average: number; total: number; sent: number }
    latency: { p50: number; p99: number; average: number; max: number }
  }

  interface Instance extends EventEmitter {
    stop(): void
  }

  function autocannon(options: Options, callback: (error: Error | null, result: Result) => void): Instance

  export type { Instance, Options, Result }
  export default autocannon
}
