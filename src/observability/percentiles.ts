/**
 * Percentiles of latencies (ms) over an unbounded number of requests in fixed memory: log-scale buckets, each 2 %
 * wider than the one before, from 1 ms to one hour (about 770 counters, 3 KB).
 *
 * A percentile is the geometric middle of the bucket holding its rank (nearest-rank), clamped to the smallest and
 * largest value seen, then rounded to whole milliseconds. So the error is at most 1 % of the value (half a bucket)
 * plus the 0.5 ms rounding; whole milliseconds up to 48 come back exact.
 * Values of an hour or more share the last bucket and read as the largest value seen.
 *
 * Why not a reservoir: a sample of a few thousand gets p99 from a few dozen values and costs a random draw per
 * request; the buckets cost one `Math.log` and are exact in count.
 */

const GROWTH = 1.02
const LOG_GROWTH = Math.log(GROWTH)
const HIGHEST_MS = 3_600_000
/** Bucket 0 holds [0, 1 ms); bucket i ≥ 1 holds [GROWTH^(i-1), GROWTH^i). */
const BUCKETS = Math.ceil(Math.log(HIGHEST_MS) / LOG_GROWTH) + 2

export interface Percentiles {
  readonly p50: number | null
  readonly p95: number | null
  readonly p99: number | null
}

export class LatencySketch {
  private readonly counts = new Uint32Array(BUCKETS)
  private count = 0
  private min = Infinity
  private max = -Infinity

  add(ms: number): void {
    const value = ms > 0 ? ms : 0 // NaN and negatives (a clock step back) count as 0
    const bucket = value < 1 ? 0 : Math.min(BUCKETS - 1, 1 + Math.floor(Math.log(value) / LOG_GROWTH))
    this.counts[bucket]!++
    this.count++
    if (value < this.min) this.min = value
    if (value > this.max) this.max = value
  }

  get size(): number {
    return this.count
  }

  /** p50, p95 and p99 in one pass over the buckets; nulls when nothing was added. */
  percentiles(): Percentiles {
    if (this.count === 0) return { p50: null, p95: null, p99: null }
    const ranks = [0.5, 0.95, 0.99].map((q) => Math.max(1, Math.ceil(q * this.count)))
    const found: Array<number> = []
    let seen = 0
    for (let bucket = 0; bucket < BUCKETS && found.length < ranks.length; bucket++) {
      seen += this.counts[bucket]!
      while (found.length < ranks.length && seen >= ranks[found.length]!) found.push(this.estimate(bucket))
    }
    return { p50: found[0]!, p95: found[1]!, p99: found[2]! }
  }

  private estimate(bucket: number): number {
    if (bucket === BUCKETS - 1) return Math.round(this.max) // open-ended: no middle to take
    const middle = bucket === 0 ? this.min : Math.pow(GROWTH, bucket - 0.5)
    return Math.round(Math.min(this.max, Math.max(this.min, middle)))
  }
}
